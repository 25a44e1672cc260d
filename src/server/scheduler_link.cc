#include "server/scheduler_link.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/statvfs.h>

#include "common/thread_name.h"
#include "raftstore/store.h"

namespace tinykv::server {
namespace {

using SteadyClock = std::chrono::steady_clock;

client::SchedulerClientOptions ResolverOptions() {
  client::SchedulerClientOptions o;
  o.timeout = std::chrono::milliseconds(2000);
  o.rpc_timeout = std::chrono::milliseconds(1000);
  return o;
}

class SchedulerResolver final : public StoreResolver {
 public:
  explicit SchedulerResolver(client::SchedulerClient& client) : client_(client) {}
  Result<std::string> Address(uint64_t store_id) override {
    TKV_ASSIGN_OR_RETURN(auto resp, client_.GetStore(store_id));
    if (resp.store().state() == metapb::Tombstone)
      return Status::NotFound(fmt::format("store {} was removed from the cluster", store_id));
    if (resp.store().address().empty())
      return Status::NotFound(fmt::format("store {} has no address", store_id));
    return resp.store().address();
  }

 private:
  client::SchedulerClient& client_;
};

}  // namespace

SchedulerLink::SchedulerLink(const std::string& scheduler_address)
    : client_(scheduler_address), resolver_client_(scheduler_address, ResolverOptions()) {
  worker_ = NamedThread("pd-worker", [this] { RunWorker(); });
}

SchedulerLink::~SchedulerLink() { Stop(); }

Result<SchedulerLink::Joined> SchedulerLink::Join(storage::Engine& engine,
                                                  const std::string& address,
                                                  std::chrono::milliseconds timeout) {
  auto deadline = SteadyClock::now() + timeout;
  Status s;
  while (!(s = client_.Connect()).ok()) {
    if (s.code() != Code::kUnavailable && s.code() != Code::kDeadlineExceeded) return s;
    if (SteadyClock::now() >= deadline) {
      return Status::Unavailable(
          fmt::format("the scheduler at {} did not answer: {}", client_.address(), s.message()));
    }
    spdlog::info("waiting for the scheduler at {}", client_.address());
  }
  Joined j;
  j.cluster_id = client_.cluster_id();
  auto ident = raftstore::Store::ReadIdent(engine);
  if (ident.ok()) {
    if (ident->cluster_id() != j.cluster_id) {
      return Status::InvalidArgument(fmt::format(
          "this data directory holds store {} of cluster {}, but the scheduler at {} serves "
          "cluster {}",
          ident->store_id(), ident->cluster_id(), client_.address(), j.cluster_id));
    }
    j.store_id = ident->store_id();
  } else if (ident.status().IsNotFound()) {
    TKV_ASSIGN_OR_RETURN(j.store_id, client_.AllocId());
    TKV_RETURN_IF_ERROR(raftstore::Store::Bootstrap(engine, j.cluster_id, j.store_id, std::nullopt));
    spdlog::info("joined cluster {} as store {}", j.cluster_id, j.store_id);
  } else {
    return ident.status();
  }
  store_id_ = j.store_id;

  TKV_ASSIGN_OR_RETURN(auto prepared, raftstore::Store::PreparedBootstrap(engine));
  TKV_ASSIGN_OR_RETURN(bool bootstrapped, client_.IsBootstrapped());
  if (!bootstrapped) {
    metapb::Region region;
    if (prepared) {
      region = *prepared;
    } else {
      TKV_ASSIGN_OR_RETURN(uint64_t region_id, client_.AllocId());
      TKV_ASSIGN_OR_RETURN(uint64_t peer_id, client_.AllocId());
      region.set_id(region_id);
      region.mutable_region_epoch()->set_conf_ver(1);
      region.mutable_region_epoch()->set_version(1);
      auto* p = region.add_peers();
      p->set_id(peer_id);
      p->set_store_id(j.store_id);
      TKV_RETURN_IF_ERROR(raftstore::Store::PrepareBootstrap(engine, region));
    }
    metapb::Store me;
    me.set_id(j.store_id);
    me.set_address(address);
    Status b = client_.Bootstrap(me, region);
    if (b.ok()) {
      TKV_RETURN_IF_ERROR(raftstore::Store::FinishBootstrap(engine, region, /*keep=*/true));
      j.bootstrapped_cluster = true;
      spdlog::info("bootstrapped cluster {} with region {} on store {}", j.cluster_id, region.id(),
                   j.store_id);
    } else if (client::SchedulerErrorType(b) == schedulerpb::ALREADY_BOOTSTRAPPED) {
      // Another store won, or an earlier attempt of ours did and its answer
      // was lost (the call is retried): the region is ours only if the
      // scheduler has it.
      TKV_ASSIGN_OR_RETURN(auto known, client_.GetRegionById(region.id()));
      TKV_RETURN_IF_ERROR(
          raftstore::Store::FinishBootstrap(engine, region, /*keep=*/known.has_value()));
      j.bootstrapped_cluster = known.has_value();
    } else {
      return b;
    }
  } else if (prepared) {
    // A crash came after asking to bootstrap: the region is ours only if the
    // scheduler took it.
    TKV_ASSIGN_OR_RETURN(auto known, client_.GetRegionById(prepared->id()));
    TKV_RETURN_IF_ERROR(raftstore::Store::FinishBootstrap(engine, *prepared, known.has_value()));
  }
  return j;
}

Status SchedulerLink::Register(const std::string& advertise_address) {
  metapb::Store me;
  me.set_id(store_id_);
  me.set_address(advertise_address);
  me.set_state(metapb::Up);
  Status s = client_.PutStore(me);
  if (client::SchedulerErrorType(s) == schedulerpb::STORE_TOMBSTONE) {
    return Status::Aborted(fmt::format(
        "store {} was removed from the cluster (tombstone); start a new store with an empty "
        "data directory instead",
        store_id_));
  }
  return s;
}

void SchedulerLink::OpenStream(grpc::CompletionQueue* cq) {
  TKV_CHECK(stream_owner_ == nullptr);
  stream_owner_ = client_.OpenRegionHeartbeatStream(
      [this](const schedulerpb::RegionHeartbeatResponse& r) { OnResponse(r); },
      [this] {
        if (raftstore::Store* s = store_.load()) s->ReportAllRegions();
      },
      cq);
  stream_.store(stream_owner_.get());
}

void SchedulerLink::CloseStream() {
  stream_.store(nullptr);
  stream_owner_.reset();
}

void SchedulerLink::Start(raftstore::Store* store, Stats stats,
                          std::chrono::milliseconds heartbeat_interval) {
  store_.store(store);
  store->ReportAllRegions();
  heartbeats_ = NamedThread("pd-heartbeat", [this, stats = std::move(stats), heartbeat_interval] {
    RunStoreHeartbeats(stats, heartbeat_interval);
  });
}

void SchedulerLink::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (heartbeats_.joinable()) heartbeats_.join();
  if (worker_.joinable()) worker_.join();
  store_.store(nullptr);
}

std::shared_ptr<StoreResolver> SchedulerLink::Resolver() {
  return std::make_shared<SchedulerResolver>(resolver_client_);
}

void SchedulerLink::Post(std::function<void()> task) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stop_) return;
  tasks_.push_back(std::move(task));
  cv_.notify_all();
}

void SchedulerLink::RunWorker() {
  while (true) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !tasks_.empty(); });
      if (stop_) return;
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

void SchedulerLink::AskSplit(const metapb::Region& region,
                             std::function<void(Result<raftstore::SplitIds>)> done) {
  Post([this, region, done = std::move(done)] {
    auto resp = client_.AskSplit(region);
    if (!resp.ok()) return done(resp.status());
    raftstore::SplitIds ids;
    ids.new_region_id = resp->new_region_id();
    ids.new_peer_ids.assign(resp->new_peer_ids().begin(), resp->new_peer_ids().end());
    done(std::move(ids));
  });
}

void SchedulerLink::ReportRegion(const raftstore::RegionHeartbeat& hb) {
  client::RegionHeartbeatStream* stream = stream_.load();
  if (stream == nullptr) return;
  schedulerpb::RegionHeartbeatRequest req;
  *req.mutable_region() = hb.region;
  *req.mutable_leader() = hb.leader;
  for (const auto& p : hb.pending_peers) *req.add_pending_peers() = p;
  req.set_approximate_size(hb.approximate_size);
  stream->Send(std::move(req));
}

void SchedulerLink::OnResponse(const schedulerpb::RegionHeartbeatResponse& r) {
  raftstore::Store* store = store_.load();
  if (store == nullptr) return;
  if (r.has_split_region()) {
    std::string key = r.split_region().keys_size() > 0 ? r.split_region().keys(0) : "";
    store->RequestSplit(r.region_id(), r.region_epoch(), key);
    return;
  }
  raft_cmdpb::RaftCmdRequest req;
  auto* h = req.mutable_header();
  h->set_region_id(r.region_id());
  *h->mutable_peer() = r.target_peer();
  *h->mutable_region_epoch() = r.region_epoch();
  auto* admin = req.mutable_admin_request();
  std::string what;
  if (r.has_change_peer()) {
    admin->set_cmd_type(raft_cmdpb::ChangePeer);
    admin->mutable_change_peer()->set_change_type(r.change_peer().change_type());
    *admin->mutable_change_peer()->mutable_peer() = r.change_peer().peer();
    what = fmt::format("{} peer {} on store {}",
                       r.change_peer().change_type() == eraftpb::RemoveNode ? "remove" : "add",
                       r.change_peer().peer().id(), r.change_peer().peer().store_id());
  } else if (r.has_transfer_leader()) {
    admin->set_cmd_type(raft_cmdpb::TransferLeader);
    *admin->mutable_transfer_leader()->mutable_peer() = r.transfer_leader().peer();
    what = fmt::format("transfer leader to store {}", r.transfer_leader().peer().store_id());
  } else {
    return;
  }
  uint64_t region_id = r.region_id();
  store->Propose(std::move(req), [region_id, what](raftstore::WriteResponse resp) {
    // Refusals are normal (a step repeated, an epoch moved on): the scheduler
    // sends the step again after the next report.
    if (resp.region_error) {
      spdlog::debug("region {}: scheduler step '{}' refused: {}", region_id, what,
                    resp.region_error->ShortDebugString());
    } else if (!resp.status.ok()) {
      spdlog::debug("region {}: scheduler step '{}' failed: {}", region_id, what,
                    resp.status.ToString());
    }
  });
}

void SchedulerLink::RunStoreHeartbeats(Stats stats, std::chrono::milliseconds interval) {
  while (true) {
    schedulerpb::StoreStats st;
    st.set_store_id(store_id_);
    struct statvfs fs {};
    if (statvfs(stats.data_dir.c_str(), &fs) == 0) {
      st.set_capacity(static_cast<uint64_t>(fs.f_blocks) * fs.f_frsize);
      st.set_available(static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize);
    }
    raftstore::Store* store = store_.load();
    if (store == nullptr) return;
    auto regions = store->Regions();
    uint64_t used = 0;
    for (const auto& r : regions) used += r.approximate_size;
    st.set_region_count(static_cast<uint32_t>(regions.size()));
    st.set_used_size(used);
    st.set_start_time(static_cast<uint32_t>(stats.start_time_s));
    Status s = client_.StoreHeartbeat(st);
    if (!s.ok()) spdlog::warn("store heartbeat failed: {}", s.ToString());
    std::unique_lock<std::mutex> lock(mu_);
    if (cv_.wait_for(lock, interval, [&] { return stop_; })) return;
  }
}

}  // namespace tinykv::server
