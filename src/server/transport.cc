#include "server/transport.h"

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <thread>

#include "common/clock.h"
#include "client/queue_tag.h"
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

// One destination store: the Raft message stream, on gRPC's async API with
// its operations completing on the transport's queue (a store's KvService
// queue), and a thread for snapshots. One write is in flight at a time: the
// thread that queues messages starts it when the stream is idle (the raft
// poller, so a message leaves without a thread hand-off), and the queue's
// thread starts the next one when a write completes.
class GrpcTransport::Connection {
 public:
  Connection(uint64_t to_store, StoreResolver& resolver, const TransportConfig& config,
             raftstore::Store* store, grpc::CompletionQueue* cq)
      : to_store_(to_store), resolver_(resolver), config_(config), store_(store), cq_(cq) {
    snap_thread_ = NamedThread(fmt::format("snap-to-{}", to_store_), [this] { RunSnapshots(); });
    resolve_thread_ =
        NamedThread(fmt::format("resolve-to-{}", to_store_), [this] { RunResolver(); });
  }

  ~Connection() { Stop(); }

  void Enqueue(std::vector<RaftMessage>& msgs) {
    std::vector<RaftMessage> dropped;
    bool wake_snaps = false;
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
        }
      }
      PumpLocked(dropped);
    }
    if (wake_snaps) snap_cv_.notify_one();
    for (const RaftMessage& m : dropped) Failed(m);
  }

  // Once the queue exists: what was queued before it goes out.
  void SetQueue(grpc::CompletionQueue* cq) {
    std::vector<RaftMessage> dropped;
    {
      std::lock_guard lock(mu_);
      cq_ = cq;
      PumpLocked(dropped);
    }
    for (const RaftMessage& m : dropped) Failed(m);
  }

  void Stop() {
    std::vector<RaftMessage> dropped;
    {
      std::unique_lock lock(mu_);
      if (stop_) return;
      stop_ = true;
      // Unblock a snapshot Write waiting on a peer that does not read.
      if (snap_ctx_) snap_ctx_->TryCancel();
      PumpLocked(dropped);  // ends the stream
      stream_cv_.wait(lock, [&] { return stream_ == nullptr; });
      DropQueuedLocked(dropped);
    }
    snap_cv_.notify_all();
    resolve_cv_.notify_all();
    snap_thread_.join();
    resolve_thread_.join();
    for (const RaftMessage& m : dropped) Failed(m);
  }

 private:
  enum class Op { kStart, kWrite, kFinish };

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

  std::shared_ptr<tinykvpb::TinyKv::Stub> CachedStub() {
    std::lock_guard lock(stub_mu_);
    return stub_;
  }

  // The resolver thread: looks up the address when a stream is to open.
  void RunResolver() {
    std::unique_lock lock(mu_);
    while (true) {
      resolve_cv_.wait(lock, [&] { return stop_ || resolving_; });
      if (stop_) return;
      lock.unlock();
      bool found = Stub() != nullptr;
      lock.lock();
      resolving_ = false;
      std::vector<RaftMessage> dropped;
      if (!found) {
        // Unknown for now: what waited is unreachable; try again later.
        DropQueuedLocked(dropped);
        BackOffLocked();
      } else {
        PumpLocked(dropped);
      }
      lock.unlock();
      for (const RaftMessage& m : dropped) Failed(m);
      lock.lock();
    }
  }

  // Everything queued goes to `dropped` (reported unreachable).
  void DropQueuedLocked(std::vector<RaftMessage>& dropped) {
    dropped.insert(dropped.end(), std::make_move_iterator(msgs_.begin()),
                   std::make_move_iterator(msgs_.end()));
    msgs_.clear();
  }

  // No new stream before the backoff is over; the next one waits longer.
  void BackOffLocked() {
    retry_at_ = NowMs() + backoff_;
    backoff_ = std::min(backoff_ * 2, config_.reconnect_max_backoff_ms);
  }

  void ForgetStub() {
    std::lock_guard lock(stub_mu_);
    stub_.reset();
  }

  void Failed(const RaftMessage& m) { Failed(store_, m); }
  // Static: OnEvent reports after unlocking, when Stop may already have
  // returned and the connection be gone.
  static void Failed(raftstore::Store* store, const RaftMessage& m) {
    if (store == nullptr) return;
    if (IsSnapshot(m)) store->ReportSnapshot(m.region_id(), m.to_peer().id(), false);
    store->ReportUnreachable(m.region_id(), m.to_peer().id());
  }

  // Starts what the stream's state calls for: a stream, the next write, or,
  // once broken or stopping, its end. Messages that cannot go (no stream
  // within the backoff, no address) move to `dropped`.
  void PumpLocked(std::vector<RaftMessage>& dropped) {
    if (stream_ == nullptr) {
      if (stop_ || cq_ == nullptr || msgs_.empty() || resolving_) return;
      if (NowMs() < retry_at_) {
        DropQueuedLocked(dropped);
        return;
      }
      std::shared_ptr<tinykvpb::TinyKv::Stub> stub = CachedStub();
      if (stub == nullptr) {
        // Finding the address may ask the scheduler: not on the poller.
        resolving_ = true;
        resolve_cv_.notify_one();
        return;
      }
      ctx_ = std::make_unique<grpc::ClientContext>();
      stream_ = stub->PrepareAsyncRaft(ctx_.get(), &done_, cq_);
      starting_ = true;
      writing_ = finishing_ = broken_ = cancelled_ = false;
      stream_->StartCall(&start_tag_);
      return;
    }
    if (broken_ || stop_) {
      if (!cancelled_) {
        cancelled_ = true;
        ctx_->TryCancel();  // the write in flight comes back at once
      }
      if (!starting_ && !writing_ && !finishing_) {
        finishing_ = true;
        stream_->Finish(&status_, &finish_tag_);
      }
      return;
    }
    if (starting_ || writing_ || msgs_.empty()) return;
    writing_ = true;
    sending_ = std::move(msgs_.front());
    msgs_.pop_front();
    grpc::WriteOptions opts;
    if (!msgs_.empty()) opts.set_buffer_hint();  // coalesce what is queued
    stream_->Write(sending_, opts, &write_tag_);
  }

  // On the queue's thread.
  void OnEvent(Op op, bool ok) {
    std::vector<RaftMessage> dropped;
    raftstore::Store* const store = store_;
    {
      std::lock_guard lock(mu_);
      switch (op) {
        case Op::kStart:
          starting_ = false;
          if (!ok) broken_ = true;
          break;
        case Op::kWrite:
          writing_ = false;
          if (!ok) {
            broken_ = true;
            dropped.push_back(std::move(sending_));
            break;
          }
          if (!connected_once_) spdlog::info("raft stream to store {} is up", to_store_);
          connected_once_ = true;
          backoff_ = config_.reconnect_min_backoff_ms;
          break;
        case Op::kFinish:
          if (!stop_) {
            if (connected_once_) {
              spdlog::warn("raft stream to store {} broke: {}; reconnecting in {} ms", to_store_,
                           status_.error_message(), backoff_);
            }
            BackOffLocked();
          }
          connected_once_ = false;
          stream_.reset();
          ctx_.reset();
          ForgetStub();
          stream_cv_.notify_all();
          // What was queued is reported unreachable (Raft sends again); the
          // next message reopens the stream once the backoff is over.
          if (!stop_) {
            DropQueuedLocked(dropped);
          }
          break;
      }
      if (op != Op::kFinish) PumpLocked(dropped);
    }
    for (const RaftMessage& m : dropped) Failed(store, m);
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
  std::condition_variable snap_cv_, stream_cv_, resolve_cv_;
  std::deque<RaftMessage> msgs_, snaps_;
  bool stop_ = false;
  grpc::ClientContext* snap_ctx_ = nullptr;
  std::thread snap_thread_, resolve_thread_;
  bool resolving_ = false;  // the resolver thread is looking up the address

  // The message stream (mu_).
  grpc::CompletionQueue* cq_;
  client::CallbackTag start_tag_{[this](bool ok) { OnEvent(Op::kStart, ok); }},
      write_tag_{[this](bool ok) { OnEvent(Op::kWrite, ok); }},
      finish_tag_{[this](bool ok) { OnEvent(Op::kFinish, ok); }};
  std::unique_ptr<grpc::ClientContext> ctx_;
  std::unique_ptr<grpc::ClientAsyncWriter<RaftMessage>> stream_;
  raft_serverpb::Done done_;
  grpc::Status status_;
  RaftMessage sending_;
  bool starting_ = false, writing_ = false, finishing_ = false, broken_ = false,
       cancelled_ = false, connected_once_ = false;
  uint64_t backoff_ = config_.reconnect_min_backoff_ms, retry_at_ = 0;
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
  if (!c) c = std::make_unique<Connection>(store_id, *resolver_, config_, store_, cq_);
  return *c;
}

void GrpcTransport::SetQueue(grpc::CompletionQueue* cq) {
  std::lock_guard lock(mu_);
  cq_ = cq;
  for (auto& [id, c] : connections_) c->SetQueue(cq);
}

void GrpcTransport::Flush() {
  if (stopped_) {
    pending_.clear();
    return;
  }
  std::lock_guard lock(mu_);
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
  std::lock_guard lock(mu_);
  for (auto& [id, c] : connections_) c->Stop();
  connections_.clear();
}

}  // namespace tinykv::server
