#include "client/scheduler_client.h"

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "client/queue_tag.h"
#include "common/thread_name.h"
#include "schedulerpb.grpc.pb.h"

namespace tinykv::client {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kMinBackoff = std::chrono::milliseconds(50);
constexpr auto kMaxBackoff = std::chrono::milliseconds(1000);

Status HeaderStatus(const schedulerpb::ResponseHeader& h) {
  if (!h.has_error() || h.error().type() == schedulerpb::OK) return Status::OK();
  std::string msg = fmt::format("{}: {}", schedulerpb::ErrorType_Name(h.error().type()),
                                h.error().message());
  switch (h.error().type()) {
    case schedulerpb::NOT_BOOTSTRAPPED:
      return Status::Unavailable(std::move(msg));
    case schedulerpb::ALREADY_BOOTSTRAPPED:
    case schedulerpb::STORE_TOMBSTONE:
      return Status::Aborted(std::move(msg));
    case schedulerpb::REGION_NOT_FOUND:
      return Status::NotFound(std::move(msg));
    default:
      // The scheduler's own storage failed: not the request's fault.
      if (h.error().message().rfind("scheduler storage", 0) == 0) return Status::IOError(std::move(msg));
      return Status::InvalidArgument(std::move(msg));
  }
}

bool IsClusterMismatch(const Status& s) {
  return s.message().find("cluster id mismatch") != std::string::npos;
}

bool Retryable(const grpc::Status& st) {
  return st.error_code() == grpc::StatusCode::UNAVAILABLE ||
         st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
         st.error_code() == grpc::StatusCode::CANCELLED;
}

Status FromGrpc(const grpc::Status& st, const std::string& address) {
  switch (st.error_code()) {
    case grpc::StatusCode::OK:
      return Status::OK();
    case grpc::StatusCode::FAILED_PRECONDITION:
      return Status::InvalidArgument(
          fmt::format("cluster id mismatch at scheduler {}: {}", address, st.error_message()));
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::CANCELLED:
      return Status::Unavailable(
          fmt::format("cannot reach the scheduler at {}: {}", address, st.error_message()));
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return Status::DeadlineExceeded(fmt::format("no answer from the scheduler at {} in time",
                                                  address));
    case grpc::StatusCode::UNIMPLEMENTED:
      return Status::NotSupported(
          fmt::format("the scheduler at {} does not serve this call", address));
    default:
      return Status::Internal(fmt::format("scheduler {}: gRPC {}: {}", address,
                                          static_cast<int>(st.error_code()), st.error_message()));
  }
}

}  // namespace

schedulerpb::ErrorType SchedulerErrorType(const Status& s) {
  if (s.ok()) return schedulerpb::OK;
  const std::string& m = s.message();
  size_t colon = m.find(':');
  schedulerpb::ErrorType t;
  if (colon != std::string::npos && schedulerpb::ErrorType_Parse(m.substr(0, colon), &t)) return t;
  return schedulerpb::UNKNOWN;
}

struct SchedulerClient::Impl {
  Impl(const std::string& address, SchedulerClientOptions o) : address(address), options(o) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    // Find a scheduler that stopped answering without closing the
    // connection (the streams would otherwise wait forever).
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10'000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 3'000);
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    args.SetMaxReceiveMessageSize(64 << 20);
    channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
    stub = schedulerpb::Scheduler::NewStub(channel);
    cluster_id = o.cluster_id;
  }
  ~Impl() { StopTso(); }

  // Runs one RPC with retries while the scheduler cannot be reached.
  // `call(ctx)` returns the gRPC status.
  template <typename Call>
  Status Retry(Call call, bool needs_cluster_id = true) {
    auto deadline = Clock::now() + options.timeout;
    auto backoff = kMinBackoff;
    while (true) {
      if (needs_cluster_id) {
        Status s = EnsureClusterId(deadline);
        if (!s.ok()) return s;
      }
      grpc::ClientContext ctx;
      auto attempt_end = std::min(deadline, Clock::now() + options.rpc_timeout);
      ctx.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::duration_cast<std::chrono::milliseconds>(attempt_end -
                                                                             Clock::now()));
      grpc::Status st = call(ctx);
      if (st.ok() || !Retryable(st)) return FromGrpc(st, address);
      if (Clock::now() + backoff >= deadline) return FromGrpc(st, address);
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::duration_cast<std::chrono::milliseconds>(kMaxBackoff));
    }
  }

  Status EnsureClusterId(Clock::time_point deadline) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (learned) return Status::OK();
    }
    auto backoff = kMinBackoff;
    while (true) {
      grpc::ClientContext ctx;
      auto attempt_end = std::min(deadline, Clock::now() + options.rpc_timeout);
      ctx.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::duration_cast<std::chrono::milliseconds>(attempt_end -
                                                                             Clock::now()));
      schedulerpb::GetMembersRequest req;
      schedulerpb::GetMembersResponse resp;
      grpc::Status st = stub->GetMembers(&ctx, req, &resp);
      if (st.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        uint64_t id = resp.header().cluster_id();
        if (cluster_id != 0 && id != cluster_id) {
          return Status::InvalidArgument(fmt::format(
              "cluster id mismatch: the scheduler at {} serves cluster {}, this is cluster {}",
              address, id, cluster_id));
        }
        cluster_id = id;
        learned = true;
        return Status::OK();
      }
      if (!Retryable(st) || Clock::now() + backoff >= deadline) return FromGrpc(st, address);
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::duration_cast<std::chrono::milliseconds>(kMaxBackoff));
    }
  }

  uint64_t ClusterId() {
    std::lock_guard<std::mutex> lock(mu);
    return cluster_id;
  }

  template <typename Req>
  void Header(Req& req) {
    req.mutable_header()->set_cluster_id(ClusterId());
  }

  // ---- TSO batching ----
  struct TsoWaiter {
    Clock::time_point deadline;
    bool done = false;
    Result<uint64_t> result = Status::Unavailable("pending");
  };

  Result<uint64_t> GetTimestamp() {
    auto deadline = Clock::now() + options.timeout;
    TKV_RETURN_IF_ERROR(EnsureClusterId(deadline));
    auto w = std::make_shared<TsoWaiter>();
    w->deadline = deadline;
    std::unique_lock<std::mutex> lock(tso_mu);
    if (!tso_thread.joinable()) tso_thread = std::thread([this] { RunTso(); });
    tso_queue.push_back(w);
    tso_cv.notify_all();
    while (!w->done) {
      auto wake = std::min(deadline, Clock::now() + options.rpc_timeout);
      tso_cv.wait_until(lock, wake, [&] { return w->done; });
      if (w->done) break;
      // A round trip that hangs (a silent scheduler) is cancelled, so that
      // the stream is opened again.
      if (tso_round_started != Clock::time_point() &&
          Clock::now() - tso_round_started > options.rpc_timeout && tso_ctx) {
        tso_ctx->TryCancel();
      }
      if (Clock::now() >= deadline) {
        auto it = std::find(tso_queue.begin(), tso_queue.end(), w);
        if (it != tso_queue.end()) tso_queue.erase(it);
        // Still in the batch in flight: its answer is simply not taken.
        return Status::DeadlineExceeded(
            fmt::format("no timestamp from the scheduler at {} in time", address));
      }
    }
    return w->result;
  }

  void StopTso() {
    {
      std::lock_guard<std::mutex> lock(tso_mu);
      tso_stop = true;
      if (tso_ctx) tso_ctx->TryCancel();
    }
    tso_cv.notify_all();
    if (tso_thread.joinable()) tso_thread.join();
  }

  void FailExpired(const Status& why) {
    // REQUIRES: tso_mu held.
    auto now = Clock::now();
    for (auto it = tso_queue.begin(); it != tso_queue.end();) {
      if ((*it)->deadline <= now || tso_stop) {
        (*it)->result = why;
        (*it)->done = true;
        it = tso_queue.erase(it);
      } else {
        ++it;
      }
    }
    tso_cv.notify_all();
  }

  void RunTso() {
    using Stream = grpc::ClientReaderWriter<schedulerpb::TsoRequest, schedulerpb::TsoResponse>;
    std::unique_ptr<Stream> stream;
    auto backoff = kMinBackoff;
    std::unique_lock<std::mutex> lock(tso_mu);
    while (true) {
      tso_cv.wait(lock, [&] { return tso_stop || !tso_queue.empty(); });
      if (tso_stop) {
        FailExpired(Status::Unavailable("the scheduler client is closing"));
        break;
      }
      std::vector<std::shared_ptr<TsoWaiter>> batch(tso_queue.begin(), tso_queue.end());
      tso_queue.clear();
      if (!stream) {
        tso_ctx = std::make_unique<grpc::ClientContext>();
        lock.unlock();
        stream = stub->Tso(tso_ctx.get());
        lock.lock();
      }
      schedulerpb::TsoRequest req;
      req.mutable_header()->set_cluster_id(ClusterId());
      req.set_count(static_cast<uint32_t>(batch.size()));
      schedulerpb::TsoResponse resp;
      tso_round_started = Clock::now();
      lock.unlock();
      bool ok = stream->Write(req) && stream->Read(&resp);
      lock.lock();
      tso_round_started = Clock::time_point();
      Status failure;
      if (ok) {
        failure = HeaderStatus(resp.header());
        if (failure.ok()) {
          uint64_t last = (static_cast<uint64_t>(resp.timestamp().physical()) << 18) |
                          static_cast<uint64_t>(resp.timestamp().logical());
          uint64_t first = last - batch.size() + 1;
          for (size_t i = 0; i < batch.size(); ++i) {
            batch[i]->result = first + i;
            batch[i]->done = true;
          }
          tso_cv.notify_all();
          backoff = kMinBackoff;
          continue;
        }
      } else {
        lock.unlock();
        stream->WritesDone();
        grpc::Status st = stream->Finish();
        lock.lock();
        stream.reset();
        failure = st.ok() ? Status::Unavailable("the TSO stream ended") : FromGrpc(st, address);
      }
      // Put the batch back and retry until each waiter's deadline.
      for (auto it = batch.rbegin(); it != batch.rend(); ++it) tso_queue.push_front(*it);
      FailExpired(failure);
      if (IsClusterMismatch(failure)) {
        for (auto& w : tso_queue) {
          w->result = failure;
          w->done = true;
        }
        tso_queue.clear();
        tso_cv.notify_all();
      }
      tso_cv.wait_for(lock, backoff, [&] { return tso_stop; });
      backoff = std::min(backoff * 2, std::chrono::duration_cast<std::chrono::milliseconds>(kMaxBackoff));
    }
    if (stream) {
      lock.unlock();
      stream->WritesDone();
      (void)stream->Finish();
    }
  }

  const std::string address;
  const SchedulerClientOptions options;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<schedulerpb::Scheduler::Stub> stub;
  std::mutex mu;
  uint64_t cluster_id = 0;
  bool learned = false;

  std::mutex tso_mu;
  std::condition_variable tso_cv;
  std::deque<std::shared_ptr<TsoWaiter>> tso_queue;
  std::thread tso_thread;
  std::unique_ptr<grpc::ClientContext> tso_ctx;
  Clock::time_point tso_round_started;  // zero when no round trip is in flight
  bool tso_stop = false;
};

SchedulerClient::SchedulerClient(std::string address, SchedulerClientOptions options)
    : address_(std::move(address)), impl_(std::make_unique<Impl>(address_, options)) {}

SchedulerClient::~SchedulerClient() = default;

Status SchedulerClient::Connect() {
  return impl_->EnsureClusterId(Clock::now() + impl_->options.timeout);
}

uint64_t SchedulerClient::cluster_id() const { return impl_->ClusterId(); }

namespace {

// One unary call: Header, Retry, then the header's error.
template <typename Req, typename Resp, typename Method>
Result<Resp> Unary(SchedulerClient::Impl& impl, Req req, Method method) {
  Resp resp;
  Status s = impl.Retry([&](grpc::ClientContext& ctx) {
    impl.Header(req);
    return ((*impl.stub).*method)(&ctx, req, &resp);
  });
  if (!s.ok()) return s;
  TKV_RETURN_IF_ERROR(HeaderStatus(resp.header()));
  return resp;
}

std::optional<RegionRoute> RouteOf(const schedulerpb::GetRegionResponse& resp) {
  if (!resp.has_region() || resp.region().id() == 0) return std::nullopt;
  return RegionRoute{resp.region(), resp.leader()};
}

}  // namespace

Result<bool> SchedulerClient::IsBootstrapped() {
  TKV_ASSIGN_OR_RETURN(auto resp, (Unary<schedulerpb::IsBootstrappedRequest,
                                         schedulerpb::IsBootstrappedResponse>(
                                      *impl_, {}, &schedulerpb::Scheduler::Stub::IsBootstrapped)));
  return resp.bootstrapped();
}

Status SchedulerClient::Bootstrap(const metapb::Store& store, const metapb::Region& first_region) {
  schedulerpb::BootstrapRequest req;
  *req.mutable_store() = store;
  *req.mutable_region() = first_region;
  return Unary<schedulerpb::BootstrapRequest, schedulerpb::BootstrapResponse>(
             *impl_, req, &schedulerpb::Scheduler::Stub::Bootstrap)
      .status();
}

Result<uint64_t> SchedulerClient::AllocId() {
  TKV_ASSIGN_OR_RETURN(auto resp,
                       (Unary<schedulerpb::AllocIDRequest, schedulerpb::AllocIDResponse>(
                           *impl_, {}, &schedulerpb::Scheduler::Stub::AllocID)));
  return resp.id();
}

Result<uint64_t> SchedulerClient::GetTimestamp() { return impl_->GetTimestamp(); }

Status SchedulerClient::PutStore(const metapb::Store& store) {
  schedulerpb::PutStoreRequest req;
  *req.mutable_store() = store;
  return Unary<schedulerpb::PutStoreRequest, schedulerpb::PutStoreResponse>(
             *impl_, req, &schedulerpb::Scheduler::Stub::PutStore)
      .status();
}

Result<schedulerpb::GetStoreResponse> SchedulerClient::GetStore(uint64_t store_id) {
  schedulerpb::GetStoreRequest req;
  req.set_store_id(store_id);
  return Unary<schedulerpb::GetStoreRequest, schedulerpb::GetStoreResponse>(
      *impl_, req, &schedulerpb::Scheduler::Stub::GetStore);
}

Result<std::vector<metapb::Store>> SchedulerClient::GetAllStores(bool exclude_tombstone) {
  schedulerpb::GetAllStoresRequest req;
  req.set_exclude_tombstone_stores(exclude_tombstone);
  TKV_ASSIGN_OR_RETURN(auto resp,
                       (Unary<schedulerpb::GetAllStoresRequest, schedulerpb::GetAllStoresResponse>(
                           *impl_, req, &schedulerpb::Scheduler::Stub::GetAllStores)));
  return std::vector<metapb::Store>(resp.stores().begin(), resp.stores().end());
}

Status SchedulerClient::StoreHeartbeat(const schedulerpb::StoreStats& stats) {
  schedulerpb::StoreHeartbeatRequest req;
  *req.mutable_stats() = stats;
  return Unary<schedulerpb::StoreHeartbeatRequest, schedulerpb::StoreHeartbeatResponse>(
             *impl_, req, &schedulerpb::Scheduler::Stub::StoreHeartbeat)
      .status();
}

Result<metapb::Store> SchedulerClient::RemoveStore(uint64_t store_id) {
  schedulerpb::RemoveStoreRequest req;
  req.set_store_id(store_id);
  TKV_ASSIGN_OR_RETURN(auto resp,
                       (Unary<schedulerpb::RemoveStoreRequest, schedulerpb::RemoveStoreResponse>(
                           *impl_, req, &schedulerpb::Scheduler::Stub::RemoveStore)));
  return resp.store();
}

Result<std::optional<RegionRoute>> SchedulerClient::GetRegion(const std::string& key) {
  schedulerpb::GetRegionRequest req;
  req.set_region_key(key);
  TKV_ASSIGN_OR_RETURN(auto resp,
                       (Unary<schedulerpb::GetRegionRequest, schedulerpb::GetRegionResponse>(
                           *impl_, req, &schedulerpb::Scheduler::Stub::GetRegion)));
  return RouteOf(resp);
}

Result<std::optional<RegionRoute>> SchedulerClient::GetPrevRegion(const std::string& key) {
  schedulerpb::GetRegionRequest req;
  req.set_region_key(key);
  TKV_ASSIGN_OR_RETURN(auto resp,
                       (Unary<schedulerpb::GetRegionRequest, schedulerpb::GetRegionResponse>(
                           *impl_, req, &schedulerpb::Scheduler::Stub::GetPrevRegion)));
  return RouteOf(resp);
}

Result<std::optional<RegionRoute>> SchedulerClient::GetRegionById(uint64_t region_id) {
  schedulerpb::GetRegionByIDRequest req;
  req.set_region_id(region_id);
  TKV_ASSIGN_OR_RETURN(auto resp,
                       (Unary<schedulerpb::GetRegionByIDRequest, schedulerpb::GetRegionResponse>(
                           *impl_, req, &schedulerpb::Scheduler::Stub::GetRegionByID)));
  return RouteOf(resp);
}

Result<std::vector<RegionRoute>> SchedulerClient::ScanRegions(const std::string& start,
                                                              const std::string& end, int limit) {
  schedulerpb::ScanRegionsRequest req;
  req.set_start_key(start);
  req.set_end_key(end);
  req.set_limit(limit);
  TKV_ASSIGN_OR_RETURN(auto resp,
                       (Unary<schedulerpb::ScanRegionsRequest, schedulerpb::ScanRegionsResponse>(
                           *impl_, req, &schedulerpb::Scheduler::Stub::ScanRegions)));
  std::vector<RegionRoute> out;
  for (int i = 0; i < resp.regions_size(); ++i) {
    out.push_back(RegionRoute{resp.regions(i),
                              i < resp.leaders_size() ? resp.leaders(i) : metapb::Peer()});
  }
  return out;
}

Result<schedulerpb::AskSplitResponse> SchedulerClient::AskSplit(const metapb::Region& region) {
  schedulerpb::AskSplitRequest req;
  *req.mutable_region() = region;
  return Unary<schedulerpb::AskSplitRequest, schedulerpb::AskSplitResponse>(
      *impl_, req, &schedulerpb::Scheduler::Stub::AskSplit);
}

Status SchedulerClient::ReportSplit(const metapb::Region& left, const metapb::Region& right) {
  schedulerpb::ReportSplitRequest req;
  *req.mutable_left() = left;
  *req.mutable_right() = right;
  return Unary<schedulerpb::ReportSplitRequest, schedulerpb::ReportSplitResponse>(
             *impl_, req, &schedulerpb::Scheduler::Stub::ReportSplit)
      .status();
}

Result<metapb::Cluster> SchedulerClient::GetClusterConfig() {
  TKV_ASSIGN_OR_RETURN(
      auto resp, (Unary<schedulerpb::GetClusterConfigRequest, schedulerpb::GetClusterConfigResponse>(
                     *impl_, {}, &schedulerpb::Scheduler::Stub::GetClusterConfig)));
  return resp.cluster();
}

Status SchedulerClient::PutClusterConfig(const metapb::Cluster& cluster) {
  schedulerpb::PutClusterConfigRequest req;
  *req.mutable_cluster() = cluster;
  return Unary<schedulerpb::PutClusterConfigRequest, schedulerpb::PutClusterConfigResponse>(
             *impl_, req, &schedulerpb::Scheduler::Stub::PutClusterConfig)
      .status();
}

Result<uint64_t> SchedulerClient::GetGcSafePoint() {
  TKV_ASSIGN_OR_RETURN(
      auto resp, (Unary<schedulerpb::GetGCSafePointRequest, schedulerpb::GetGCSafePointResponse>(
                     *impl_, {}, &schedulerpb::Scheduler::Stub::GetGCSafePoint)));
  return resp.safe_point();
}

Result<uint64_t> SchedulerClient::UpdateGcSafePoint(uint64_t safe_point) {
  schedulerpb::UpdateGCSafePointRequest req;
  req.set_safe_point(safe_point);
  TKV_ASSIGN_OR_RETURN(
      auto resp,
      (Unary<schedulerpb::UpdateGCSafePointRequest, schedulerpb::UpdateGCSafePointResponse>(
          *impl_, req, &schedulerpb::Scheduler::Stub::UpdateGCSafePoint)));
  return resp.new_safe_point();
}

Result<schedulerpb::GetOperatorResponse> SchedulerClient::GetOperator(uint64_t region_id) {
  schedulerpb::GetOperatorRequest req;
  req.set_region_id(region_id);
  return Unary<schedulerpb::GetOperatorRequest, schedulerpb::GetOperatorResponse>(
      *impl_, req, &schedulerpb::Scheduler::Stub::GetOperator);
}

Result<std::string> SchedulerClient::AddOperator(schedulerpb::AddOperatorRequest req) {
  TKV_ASSIGN_OR_RETURN(auto resp,
                       (Unary<schedulerpb::AddOperatorRequest, schedulerpb::AddOperatorResponse>(
                           *impl_, req, &schedulerpb::Scheduler::Stub::AddOperator)));
  return resp.desc();
}

Result<schedulerpb::GetClusterStatusResponse> SchedulerClient::GetClusterStatus(int region_limit) {
  schedulerpb::GetClusterStatusRequest req;
  req.set_region_limit(region_limit);
  return Unary<schedulerpb::GetClusterStatusRequest, schedulerpb::GetClusterStatusResponse>(
      *impl_, req, &schedulerpb::Scheduler::Stub::GetClusterStatus);
}

// ---- The region heartbeat stream ----

namespace {

// The stream runs on gRPC's async API: a read always in flight (responses),
// one write at a time (the queued heartbeats, oldest region first), started
// by whichever thread finds the writer idle. Completions come back on `cq_`:
// the caller's queue, drained by its thread, or one of our own with a thread
// that drains it. A connection thread opens streams and waits out the
// backoff between broken ones.
class HeartbeatStreamImpl final : public RegionHeartbeatStream {
 public:
  HeartbeatStreamImpl(SchedulerClient::Impl& impl,
                      std::function<void(const schedulerpb::RegionHeartbeatResponse&)> on_response,
                      std::function<void()> on_connected, grpc::CompletionQueue* cq)
      : impl_(impl), on_response_(std::move(on_response)), on_connected_(std::move(on_connected)) {
    if (cq != nullptr) {
      cq_ = cq;
    } else {
      own_cq_ = std::make_unique<grpc::CompletionQueue>();
      cq_ = own_cq_.get();
      drain_ = NamedThread("pd-stream-cq", [q = cq_] { DrainQueue(q); });
    }
    thread_ = NamedThread("pd-stream", [this] { Run(); });
  }

  ~HeartbeatStreamImpl() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      if (open_) PumpLocked();
    }
    cv_.notify_all();
    thread_.join();  // returns once the stream has finished
    if (own_cq_) {
      own_cq_->Shutdown();
      drain_.join();
    }
  }

  void Send(schedulerpb::RegionHeartbeatRequest req) override {
    std::lock_guard<std::mutex> lock(mu_);
    uint64_t id = req.region().id();
    if (pending_.count(id) == 0) order_.push_back(id);
    pending_[id] = std::move(req);
    if (open_) PumpLocked();
  }

 private:
  using Stream = grpc::ClientAsyncReaderWriter<schedulerpb::RegionHeartbeatRequest,
                                               schedulerpb::RegionHeartbeatResponse>;
  enum class Op { kStart, kRead, kWrite, kFinish };

  // Opens streams until stopped, with backoff between broken ones.
  void Run() {
    auto backoff = kMinBackoff;
    auto grow = [&] {
      backoff = std::min(backoff * 2, std::chrono::duration_cast<std::chrono::milliseconds>(kMaxBackoff));
    };
    while (true) {
      if (!impl_.EnsureClusterId(Clock::now() + impl_.options.rpc_timeout).ok()) {
        if (WaitStop(backoff)) return;
        grow();
        continue;
      }
      grpc::Status st;
      {
        std::unique_lock<std::mutex> lock(mu_);
        if (stop_) return;
        ctx_ = std::make_unique<grpc::ClientContext>();
        stream_ = impl_.stub->PrepareAsyncRegionHeartbeat(ctx_.get(), cq_);
        starting_ = true;
        reading_ = writing_ = finishing_ = broken_ = cancelled_ = finished_ = wrote_any_ = false;
        open_ = true;
        stream_->StartCall(&start_tag_);
        cv_.wait(lock, [&] { return finished_; });
        open_ = false;
        stream_.reset();
        ctx_.reset();
        if (stop_) return;
        if (wrote_any_) backoff = kMinBackoff;
        st = status_;
      }
      spdlog::warn("region heartbeat stream to {} broke ({}); reconnecting in {} ms",
                   impl_.address, st.error_message(), backoff.count());
      if (WaitStop(backoff)) return;
      grow();
    }
  }

  // On the queue's thread.
  void OnEvent(Op op, bool ok) {
    std::unique_lock<std::mutex> lock(mu_);
    switch (op) {
      case Op::kStart:
        starting_ = false;
        if (!ok) {
          broken_ = true;
        } else if (on_connected_) {
          // The scheduler learns this stream when a heartbeat arrives on it:
          // have every region this store leads report now (after a
          // reconnect, the scheduler may have missed changes).
          lock.unlock();
          on_connected_();
          lock.lock();
        }
        break;
      case Op::kRead:
        if (!ok) {
          reading_ = false;
          broken_ = true;
          break;
        }
        // No read is in flight until this one is handed over.
        lock.unlock();
        on_response_(resp_);
        lock.lock();
        reading_ = false;
        break;
      case Op::kWrite:
        writing_ = false;
        if (!ok) {
          // Not sent: keep it for the next stream, unless a newer one came.
          uint64_t id = req_.region().id();
          if (pending_.count(id) == 0) {
            pending_[id] = std::move(req_);
            order_.push_front(id);
          }
          broken_ = true;
          break;
        }
        wrote_any_ = true;
        break;
      case Op::kFinish:
        finished_ = true;
        cv_.notify_all();
        return;
    }
    PumpLocked();
  }

  // Starts what the stream's state calls for: the next read and write, or,
  // once broken or stopping, its end.
  void PumpLocked() {
    if (broken_ || stop_) {
      if (!cancelled_) {
        cancelled_ = true;
        ctx_->TryCancel();  // what is in flight comes back at once
      }
      if (!starting_ && !reading_ && !writing_ && !finishing_) {
        finishing_ = true;
        stream_->Finish(&status_, &finish_tag_);
      }
      return;
    }
    if (starting_) return;
    if (!reading_) {
      reading_ = true;
      stream_->Read(&resp_, &read_tag_);
    }
    if (!writing_ && !order_.empty()) {
      uint64_t id = order_.front();
      order_.pop_front();
      req_ = std::move(pending_[id]);
      pending_.erase(id);
      req_.mutable_header()->set_cluster_id(impl_.ClusterId());
      writing_ = true;
      stream_->Write(req_, &write_tag_);
    }
  }

  bool WaitStop(std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, d, [&] { return stop_; });
  }

  SchedulerClient::Impl& impl_;
  std::function<void(const schedulerpb::RegionHeartbeatResponse&)> on_response_;
  std::function<void()> on_connected_;
  grpc::CompletionQueue* cq_ = nullptr;
  std::unique_ptr<grpc::CompletionQueue> own_cq_;
  std::thread drain_;  // drains own_cq_
  CallbackTag start_tag_{[this](bool ok) { OnEvent(Op::kStart, ok); }},
      read_tag_{[this](bool ok) { OnEvent(Op::kRead, ok); }},
      write_tag_{[this](bool ok) { OnEvent(Op::kWrite, ok); }},
      finish_tag_{[this](bool ok) { OnEvent(Op::kFinish, ok); }};

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, schedulerpb::RegionHeartbeatRequest> pending_;
  std::deque<uint64_t> order_;
  bool stop_ = false;
  // The stream being driven (open_: between StartCall and its Finish).
  std::unique_ptr<grpc::ClientContext> ctx_;
  std::unique_ptr<Stream> stream_;
  schedulerpb::RegionHeartbeatResponse resp_;
  schedulerpb::RegionHeartbeatRequest req_;
  grpc::Status status_;
  bool open_ = false, starting_ = false, reading_ = false, writing_ = false, finishing_ = false,
       broken_ = false, cancelled_ = false, finished_ = false, wrote_any_ = false;
  std::thread thread_;
};

}  // namespace

std::unique_ptr<RegionHeartbeatStream> SchedulerClient::OpenRegionHeartbeatStream(
    std::function<void(const schedulerpb::RegionHeartbeatResponse&)> on_response,
    std::function<void()> on_connected, grpc::CompletionQueue* cq) {
  return std::make_unique<HeartbeatStreamImpl>(*impl_, std::move(on_response),
                                               std::move(on_connected), cq);
}

}  // namespace tinykv::client
