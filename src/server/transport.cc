#include "server/transport.h"

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <thread>

#include "common/clock.h"
#include "common/thread_name.h"
#include "raftstore/store.h"
#include "tinykvpb.grpc.pb.h"

namespace tinykv::server {

using raft_serverpb::RaftMessage;

Result<std::string> StaticResolver::Address(uint64_t store_id) {
  auto it = addrs_.find(store_id);
  if (it == addrs_.end()) return Status::NotFound(fmt::format("no address for store {}", store_id));
  return it->second;
}

namespace {

bool IsSnapshot(const RaftMessage& m) { return m.message().msg_type() == eraftpb::MsgSnapshot; }

uint64_t NowMs() { return SystemClock().NowMs(); }

}  // namespace

// One destination store: a thread for Raft messages and one for snapshots.
class GrpcTransport::Connection {
 public:
  Connection(uint64_t to_store, StoreResolver& resolver, const TransportConfig& config,
             raftstore::Store* store)
      : to_store_(to_store), resolver_(resolver), config_(config), store_(store) {
    msg_thread_ = NamedThread(fmt::format("raft-to-{}", to_store_), [this] { RunMessages(); });
    snap_thread_ = NamedThread(fmt::format("snap-to-{}", to_store_), [this] { RunSnapshots(); });
  }

  ~Connection() { Stop(); }

  void Enqueue(std::vector<RaftMessage>& msgs) {
    std::vector<RaftMessage> dropped;
    bool wake_msgs = false, wake_snaps = false;
    {
      std::lock_guard lock(mu_);
      for (RaftMessage& m : msgs) {
        if (stop_) {
          dropped.push_back(std::move(m));
        } else if (IsSnapshot(m)) {
          if (snaps_.size() >= config_.max_queued_snapshots) {
            dropped.push_back(std::move(m));
          } else {
            snaps_.push_back(std::move(m));
            wake_snaps = true;
          }
        } else if (msgs_.size() >= config_.max_queued_messages) {
          dropped.push_back(std::move(m));
        } else {
          msgs_.push_back(std::move(m));
          wake_msgs = true;
        }
      }
    }
    if (wake_msgs) msg_cv_.notify_one();
    if (wake_snaps) snap_cv_.notify_one();
    for (const RaftMessage& m : dropped) Failed(m);
  }

  void Stop() {
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
      stop_ = true;
      // Unblock a Write waiting on a peer that does not read.
      if (msg_ctx_) msg_ctx_->TryCancel();
      if (snap_ctx_) snap_ctx_->TryCancel();
    }
    msg_cv_.notify_all();
    snap_cv_.notify_all();
    msg_thread_.join();
    snap_thread_.join();
  }

 private:
  // The stub, created when the address is known; Forget() makes the next
  // call resolve the address again (the store may have moved).
  std::shared_ptr<tinykvpb::TinyKv::Stub> Stub() {
    std::lock_guard lock(stub_mu_);
    if (stub_) return stub_;
    auto addr = resolver_.Address(to_store_);
    if (!addr.ok()) return nullptr;
    grpc::ChannelArguments args;
    args.SetMaxSendMessageSize(static_cast<int>(config_.max_message_size));
    // Find a peer that stopped answering without closing the connection.
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10'000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 3'000);
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
                static_cast<int>(config_.reconnect_min_backoff_ms));
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
                static_cast<int>(config_.reconnect_max_backoff_ms));
    auto channel = grpc::CreateCustomChannel(*addr, grpc::InsecureChannelCredentials(), args);
    stub_ = tinykvpb::TinyKv::NewStub(channel);
    return stub_;
  }

  void ForgetStub() {
    std::lock_guard lock(stub_mu_);
    stub_.reset();
  }

  void Failed(const RaftMessage& m) {
    if (store_ == nullptr) return;
    if (IsSnapshot(m)) store_->ReportSnapshot(m.region_id(), m.to_peer().id(), false);
    store_->ReportUnreachable(m.region_id(), m.to_peer().id());
  }

  void RunMessages() {
    std::unique_ptr<grpc::ClientContext> ctx;
    std::unique_ptr<grpc::ClientWriter<RaftMessage>> writer;
    raft_serverpb::Done done;
    uint64_t backoff = config_.reconnect_min_backoff_ms, retry_at = 0;
    bool connected_once = false;
    while (true) {
      std::vector<RaftMessage> batch;
      {
        std::unique_lock lock(mu_);
        msg_cv_.wait(lock, [&] { return stop_ || !msgs_.empty(); });
        if (stop_) break;
        batch.assign(std::make_move_iterator(msgs_.begin()), std::make_move_iterator(msgs_.end()));
        msgs_.clear();
      }
      if (!writer) {
        std::shared_ptr<tinykvpb::TinyKv::Stub> stub = NowMs() >= retry_at ? Stub() : nullptr;
        if (stub == nullptr) {
          for (const RaftMessage& m : batch) Failed(m);
          continue;
        }
        ctx = std::make_unique<grpc::ClientContext>();
        {
          std::lock_guard lock(mu_);
          if (stop_) break;
          msg_ctx_ = ctx.get();
        }
        writer = stub->Raft(ctx.get(), &done);
      }
      size_t sent = 0;
      for (; sent < batch.size(); ++sent) {
        grpc::WriteOptions opts;
        if (sent + 1 < batch.size()) opts.set_buffer_hint();  // coalesce the batch
        if (!writer->Write(batch[sent], opts)) break;
      }
      if (sent == batch.size()) {
        if (!connected_once) spdlog::info("raft stream to store {} is up", to_store_);
        connected_once = true;
        backoff = config_.reconnect_min_backoff_ms;
        continue;
      }
      grpc::Status st = writer->Finish();
      {
        std::lock_guard lock(mu_);
        msg_ctx_ = nullptr;
      }
      writer.reset();
      ctx.reset();
      ForgetStub();
      if (connected_once) {
        spdlog::warn("raft stream to store {} broke: {}; reconnecting in {} ms", to_store_,
                     st.error_message(), backoff);
      }
      connected_once = false;
      for (size_t i = sent; i < batch.size(); ++i) Failed(batch[i]);
      retry_at = NowMs() + backoff;
      backoff = std::min(backoff * 2, config_.reconnect_max_backoff_ms);
    }
    if (writer) {
      ctx->TryCancel();
      (void)writer->Finish();
    }
    std::lock_guard lock(mu_);
    msg_ctx_ = nullptr;
    for (const RaftMessage& m : msgs_) Failed(m);
    msgs_.clear();
  }

  void RunSnapshots() {
    while (true) {
      RaftMessage msg;
      {
        std::unique_lock lock(mu_);
        snap_cv_.wait(lock, [&] { return stop_ || !snaps_.empty(); });
        if (stop_) break;
        msg = std::move(snaps_.front());
        snaps_.pop_front();
      }
      bool ok = SendSnapshot(msg);
      if (store_ != nullptr) store_->ReportSnapshot(msg.region_id(), msg.to_peer().id(), ok);
      if (!ok && store_ != nullptr) store_->ReportUnreachable(msg.region_id(), msg.to_peer().id());
    }
    std::lock_guard lock(mu_);
    for (const RaftMessage& m : snaps_) Failed(m);
    snaps_.clear();
  }

  bool SendSnapshot(const RaftMessage& msg) {
    std::shared_ptr<tinykvpb::TinyKv::Stub> stub = Stub();
    if (stub == nullptr) return false;
    const std::string& data = msg.message().snapshot().data();
    grpc::ClientContext ctx;
    // Generous: the bandwidth limit, plus a minute.
    uint64_t budget_ms = 60'000;
    if (config_.snapshot_max_bytes_per_sec > 0)
      budget_ms += data.size() * 1000 / config_.snapshot_max_bytes_per_sec;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(budget_ms));
    {
      std::lock_guard lock(mu_);
      if (stop_) return false;
      snap_ctx_ = &ctx;
    }
    raft_serverpb::Done done;
    auto writer = stub->Snapshot(&ctx, &done);
    raft_serverpb::SnapshotChunk chunk;
    *chunk.mutable_message() = msg;
    chunk.mutable_message()->mutable_message()->mutable_snapshot()->clear_data();
    size_t chunk_size = std::max<size_t>(config_.snapshot_chunk_size, 1);
    bool ok = true;
    uint64_t start = NowMs();
    size_t off = 0;
    do {
      size_t n = std::min(chunk_size, data.size() - off);
      chunk.set_data(data.substr(off, n));
      off += n;
      if (!writer->Write(chunk)) {
        ok = false;
        break;
      }
      chunk.clear_message();
      if (config_.snapshot_max_bytes_per_sec > 0) {
        // Pace to the bandwidth limit.
        uint64_t due = start + off * 1000 / config_.snapshot_max_bytes_per_sec;
        uint64_t now = NowMs();
        if (due > now) std::this_thread::sleep_for(std::chrono::milliseconds(due - now));
      }
    } while (off < data.size());
    if (ok) ok = writer->WritesDone();
    grpc::Status st = writer->Finish();
    {
      std::lock_guard lock(mu_);
      snap_ctx_ = nullptr;
    }
    if (!ok || !st.ok()) {
      spdlog::warn("sending a snapshot of region {} to store {} failed: {}", msg.region_id(),
                   to_store_, st.ok() ? "stream closed" : st.error_message());
      return false;
    }
    spdlog::info("sent a snapshot of region {} to store {} ({} bytes in {} ms)", msg.region_id(),
                 to_store_, data.size(), NowMs() - start);
    return true;
  }

  const uint64_t to_store_;
  StoreResolver& resolver_;
  const TransportConfig& config_;
  raftstore::Store* const store_;

  std::mutex stub_mu_;
  std::shared_ptr<tinykvpb::TinyKv::Stub> stub_;

  std::mutex mu_;
  std::condition_variable msg_cv_, snap_cv_;  // one per thread
  std::deque<RaftMessage> msgs_, snaps_;
  bool stop_ = false;
  grpc::ClientContext* msg_ctx_ = nullptr;
  grpc::ClientContext* snap_ctx_ = nullptr;
  std::thread msg_thread_, snap_thread_;
};

GrpcTransport::GrpcTransport(uint64_t store_id, std::shared_ptr<StoreResolver> resolver,
                             TransportConfig config)
    : store_id_(store_id), resolver_(std::move(resolver)), config_(config) {}

GrpcTransport::~GrpcTransport() { Stop(); }

void GrpcTransport::Send(RaftMessage msg) {
  if (stopped_) return;
  uint64_t to = msg.to_peer().store_id();
  pending_[to].push_back(std::move(msg));
}

GrpcTransport::Connection& GrpcTransport::ConnectionTo(uint64_t store_id) {
  auto& c = connections_[store_id];
  if (!c) c = std::make_unique<Connection>(store_id, *resolver_, config_, store_);
  return *c;
}

void GrpcTransport::Flush() {
  if (stopped_) {
    pending_.clear();
    return;
  }
  for (auto& [to, msgs] : pending_) {
    if (msgs.empty()) continue;
    ConnectionTo(to).Enqueue(msgs);
    msgs.clear();
  }
}

void GrpcTransport::Stop() {
  if (stopped_) return;
  stopped_ = true;
  pending_.clear();
  for (auto& [id, c] : connections_) c->Stop();
  connections_.clear();
}

}  // namespace tinykv::server
