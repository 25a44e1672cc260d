#include "scheduler/cluster.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/bytes.h"

namespace tinykv::scheduler {
namespace {

Error Err(schedulerpb::ErrorType type, std::string message) { return Error{type, std::move(message)}; }
Unexpected<Error> Fail(schedulerpb::ErrorType type, std::string message) {
  return Unexpected<Error>{Err(type, std::move(message))};
}
Unexpected<Error> Invalid(std::string message) {
  return Fail(schedulerpb::UNKNOWN, std::move(message));
}

bool SamePeers(const metapb::Region& a, const metapb::Region& b) {
  if (a.peers_size() != b.peers_size()) return false;
  for (int i = 0; i < a.peers_size(); ++i) {
    if (a.peers(i).id() != b.peers(i).id() || a.peers(i).store_id() != b.peers(i).store_id() ||
        a.peers(i).role() != b.peers(i).role())
      return false;
  }
  return true;
}

bool SameMeta(const metapb::Region& a, const metapb::Region& b) {
  return a.start_key() == b.start_key() && a.end_key() == b.end_key() &&
         EpochEqual(a.region_epoch(), b.region_epoch()) && SamePeers(a, b);
}

bool InsideRange(const metapb::Region& r, const std::string& key) {
  return key > r.start_key() && (r.end_key().empty() || key < r.end_key());
}

}  // namespace

Cluster::Cluster(ClusterDeps deps)
    : deps_(std::move(deps)),
      meta_(*deps_.engine),
      rng_(deps_.seed),
      regions_(deps_.config.min_balance_region_size) {}

Result<std::unique_ptr<Cluster>> Cluster::Open(ClusterDeps deps) {
  TKV_CHECK(deps.engine != nullptr && deps.clock != nullptr && deps.wall != nullptr,
            "Cluster needs an engine and clocks");
  std::unique_ptr<Cluster> c(new Cluster(std::move(deps)));
  TKV_RETURN_IF_ERROR(c->Load());
  return c;
}

Status Cluster::Load() {
  TKV_ASSIGN_OR_RETURN(LoadedMeta m, meta_.Load());
  started_ms_ = deps_.clock->NowMs();
  if (m.cluster_id == 0) {
    // As PD: the creation time in the high half, randomness in the low half.
    uint64_t secs = deps_.wall->NowMs() / 1000;
    m.cluster_id = (secs << 32) | (rng_.Next() & 0xffffffffu);
    if (m.cluster_id == 0) m.cluster_id = 1;
    TKV_RETURN_IF_ERROR(meta_.SaveClusterId(m.cluster_id));
  }
  cluster_id_ = m.cluster_id;
  cluster_meta_ = m.cluster;
  gc_safe_point_ = m.gc_safe_point;
  ids_ = std::make_unique<IdAllocator>(meta_, m.alloc_end, deps_.config.id_batch);
  tso_ = std::make_unique<scheduler::Tso>(meta_, *deps_.wall, m.tso_end, deps_.config.tso_save_interval_ms);
  TKV_RETURN_IF_ERROR(tso_->Init());
  for (auto& s : m.stores) {
    StoreInfo info;
    info.meta = std::move(s);
    info.last_heartbeat_ms = started_ms_;
    stores_[info.meta.id()] = std::move(info);
  }
  for (auto& r : m.regions) {
    if (regions_.CheckStale(r)) continue;  // cannot happen unless the file was edited
    RegionInfo info;
    info.meta = std::move(r);
    (void)regions_.Put(std::move(info));
  }
  return Status::OK();
}

SStatus Cluster::CheckBootstrapped() const {
  if (!bootstrapped()) return Err(schedulerpb::NOT_BOOTSTRAPPED, "cluster is not bootstrapped");
  return std::nullopt;
}

SStatus Cluster::FromStatus(const Status& s) const {
  if (s.ok()) return std::nullopt;
  spdlog::error("scheduler storage failed: {}", s.ToString());
  return Err(schedulerpb::UNKNOWN, "scheduler storage: " + s.ToString());
}

// ---- Bootstrap and ids ----

SStatus Cluster::Bootstrap(const metapb::Store& store, const metapb::Region* region) {
  if (bootstrapped()) {
    // A retry of the bootstrap that made the cluster (its answer was lost)
    // succeeds again, so that the store keeps the region it created.
    if (region != nullptr && stores_.size() == 1 && stores_.count(store.id()) != 0 &&
        regions_.Get(region->id()) != nullptr && regions_.size() == 1) {
      return std::nullopt;
    }
    return Err(schedulerpb::ALREADY_BOOTSTRAPPED, "cluster is already bootstrapped");
  }
  if (store.id() == 0) return Err(schedulerpb::UNKNOWN, "bootstrap: store id 0");
  if (store.address().empty()) return Err(schedulerpb::UNKNOWN, "bootstrap: store without address");
  if (region != nullptr) {
    if (region->id() == 0 || region->peers_size() == 0 || !region->start_key().empty() ||
        !region->end_key().empty()) {
      return Err(schedulerpb::UNKNOWN,
                 "bootstrap: the first region must have an id, peers, and cover every key");
    }
    for (const auto& p : region->peers()) {
      if (p.id() == 0 || p.store_id() != store.id())
        return Err(schedulerpb::UNKNOWN, "bootstrap: the first region's peers must be on the store");
    }
  }
  metapb::Cluster meta;
  meta.set_id(cluster_id_);
  meta.set_max_peer_count(deps_.config.max_replicas);
  metapb::Store s = store;
  s.set_state(metapb::Up);
  if (auto e = FromStatus(meta_.SaveBootstrap(meta, s, region))) return e;
  cluster_meta_ = meta;
  StoreInfo info;
  info.meta = s;
  info.last_heartbeat_ms = deps_.clock->NowMs();
  stores_[s.id()] = info;
  if (region != nullptr) {
    RegionInfo r;
    r.meta = *region;
    (void)regions_.Put(std::move(r));
  }
  spdlog::info("cluster {} bootstrapped by store {} ({})", cluster_id_, s.id(), s.address());
  return std::nullopt;
}

SResult<uint64_t> Cluster::AllocId() {
  auto id = ids_->Alloc();
  if (!id.ok()) return Unexpected<Error>{*FromStatus(id.status())};
  return *id;
}

SResult<Timestamp> Cluster::Tso(uint32_t count) {
  auto ts = tso_->Next(count);
  if (!ts.ok()) {
    if (ts.status().code() == Code::kInvalidArgument) return Invalid(ts.status().message());
    return Unexpected<Error>{*FromStatus(ts.status())};
  }
  return *ts;
}

IdSource Cluster::IdSourceFn() {
  return [this]() -> Result<uint64_t> { return ids_->Alloc(); };
}

// ---- Stores ----

SStatus Cluster::PutStore(const metapb::Store& store) {
  if (auto e = CheckBootstrapped()) return e;
  if (store.id() == 0) return Err(schedulerpb::UNKNOWN, "put store: store id 0");
  if (store.address().empty())
    return Err(schedulerpb::UNKNOWN, fmt::format("put store {}: no address", store.id()));
  auto it = stores_.find(store.id());
  if (it != stores_.end() && it->second.meta.state() == metapb::Tombstone) {
    return Err(schedulerpb::STORE_TOMBSTONE,
               fmt::format("store {} was removed from the cluster (tombstone)", store.id()));
  }
  for (const auto& [id, s] : stores_) {
    if (id != store.id() && s.meta.state() != metapb::Tombstone &&
        s.meta.address() == store.address()) {
      return Err(schedulerpb::UNKNOWN, fmt::format("put store {}: address {} is store {}'s",
                                                   store.id(), store.address(), id));
    }
  }
  metapb::Store meta = store;
  meta.set_state(it != stores_.end() ? it->second.meta.state() : metapb::Up);
  if (it == stores_.end() || it->second.meta.SerializeAsString() != meta.SerializeAsString()) {
    if (auto e = FromStatus(meta_.SaveStore(meta))) return e;
  }
  if (it == stores_.end()) {
    StoreInfo info;
    info.last_heartbeat_ms = deps_.clock->NowMs();
    it = stores_.emplace(store.id(), std::move(info)).first;
    spdlog::info("store {} joined at {}", store.id(), store.address());
  }
  it->second.meta = meta;
  return std::nullopt;
}

SResult<StoreInfo> Cluster::GetStore(uint64_t id) const {
  if (auto e = CheckBootstrapped()) return Unexpected<Error>{*e};
  auto it = stores_.find(id);
  if (it == stores_.end()) return Invalid(fmt::format("store {} not found", id));
  return it->second;
}

std::vector<metapb::Store> Cluster::AllStores(bool exclude_tombstone) const {
  std::vector<metapb::Store> out;
  for (const auto& [id, s] : stores_) {
    if (exclude_tombstone && s.meta.state() == metapb::Tombstone) continue;
    out.push_back(s.meta);
  }
  return out;
}

SStatus Cluster::StoreHeartbeat(const schedulerpb::StoreStats& stats) {
  if (auto e = CheckBootstrapped()) return e;
  auto it = stores_.find(stats.store_id());
  if (it == stores_.end())
    return Err(schedulerpb::UNKNOWN, fmt::format("store {} not found", stats.store_id()));
  if (it->second.meta.state() == metapb::Tombstone) {
    return Err(schedulerpb::STORE_TOMBSTONE,
               fmt::format("store {} was removed from the cluster (tombstone)", stats.store_id()));
  }
  it->second.stats = stats;
  it->second.last_heartbeat_ms = deps_.clock->NowMs();
  it->second.heartbeat_seen = true;
  return std::nullopt;
}

SResult<metapb::Store> Cluster::RemoveStore(uint64_t id) {
  if (auto e = CheckBootstrapped()) return Unexpected<Error>{*e};
  auto it = stores_.find(id);
  if (it == stores_.end()) return Invalid(fmt::format("store {} not found", id));
  metapb::Store& meta = it->second.meta;
  if (meta.state() == metapb::Tombstone)
    return Fail(schedulerpb::STORE_TOMBSTONE, fmt::format("store {} is already a tombstone", id));
  if (meta.state() == metapb::Offline) return meta;
  uint32_t others_up = 0;
  for (const auto& [sid, s] : stores_) {
    if (sid != id && s.meta.state() == metapb::Up) ++others_up;
  }
  uint32_t need = ClusterConfig().max_peer_count();
  if (others_up < need) {
    return Invalid(fmt::format(
        "cannot remove store {}: only {} other stores are up and regions need {} replicas", id,
        others_up, need));
  }
  metapb::Store updated = meta;
  updated.set_state(metapb::Offline);
  if (auto e = FromStatus(meta_.SaveStore(updated))) return Unexpected<Error>{*e};
  meta = updated;
  spdlog::info("store {} is offline: its replicas move to other stores", id);
  return meta;
}

// ---- Regions ----

SStatus Cluster::RegionHeartbeat(const RegionHeartbeatInfo& hb) {
  if (auto e = CheckBootstrapped()) return e;
  const metapb::Region& r = hb.region;
  if (r.id() == 0 || r.peers_size() == 0)
    return Err(schedulerpb::UNKNOWN, "region heartbeat: region without id or peers");
  bool leader_is_member = false;
  for (const auto& p : r.peers()) leader_is_member |= p.id() == hb.leader.id();
  if (hb.leader.id() == 0 || !leader_is_member) {
    return Err(schedulerpb::UNKNOWN,
               fmt::format("region heartbeat: leader {} is not a peer of region {}",
                           hb.leader.id(), r.id()));
  }
  if (auto stale = regions_.CheckStale(r)) return Err(schedulerpb::UNKNOWN, "stale heartbeat: " + *stale);

  const RegionInfo* origin = regions_.Get(r.id());
  bool meta_changed = origin == nullptr || !SameMeta(origin->meta, r);
  RegionInfo info;
  info.meta = r;
  info.leader = hb.leader;
  info.pending_peers = hb.pending_peers;
  info.approximate_size = hb.approximate_size;
  info.last_heartbeat_ms = std::max<uint64_t>(deps_.clock->NowMs(), 1);
  std::vector<uint64_t> removed = regions_.Put(std::move(info));
  for (uint64_t id : removed) {
    if (operators_.count(id)) FinishOperator(id, schedulerpb::CANCEL);
  }
  if (meta_changed || !removed.empty()) {
    if (auto e = FromStatus(meta_.SaveRegions({r}, removed))) return e;
  }
  DispatchOperator(*regions_.Get(r.id()));
  return std::nullopt;
}

const RegionInfo* Cluster::GetRegionByKey(const std::string& key) const {
  return regions_.GetByKey(key);
}
const RegionInfo* Cluster::GetPrevRegion(const std::string& key) const {
  return regions_.GetPrev(key);
}
const RegionInfo* Cluster::GetRegionById(uint64_t id) const { return regions_.Get(id); }
std::vector<const RegionInfo*> Cluster::ScanRegions(const std::string& start,
                                                    const std::string& end, size_t limit) const {
  return regions_.Scan(start, end, limit);
}

SResult<schedulerpb::AskSplitResponse> Cluster::AskSplit(const metapb::Region& region) {
  if (auto e = CheckBootstrapped()) return Unexpected<Error>{*e};
  if (regions_.Get(region.id()) == nullptr && regions_.GetByKey(region.start_key()) == nullptr) {
    return Fail(schedulerpb::REGION_NOT_FOUND, fmt::format("region {} not found", region.id()));
  }
  if (region.peers_size() == 0) return Invalid("ask split: region without peers");
  schedulerpb::AskSplitResponse resp;
  auto id = ids_->Alloc();
  if (!id.ok()) return Unexpected<Error>{*FromStatus(id.status())};
  resp.set_new_region_id(*id);
  for (int i = 0; i < region.peers_size(); ++i) {
    auto pid = ids_->Alloc();
    if (!pid.ok()) return Unexpected<Error>{*FromStatus(pid.status())};
    resp.add_new_peer_ids(*pid);
  }
  return resp;
}

SStatus Cluster::ReportSplit(const metapb::Region& left, const metapb::Region& right) {
  if (auto e = CheckBootstrapped()) return e;
  if (left.end_key().empty() || left.end_key() != right.start_key() || left.id() == right.id()) {
    return Err(schedulerpb::UNKNOWN,
               fmt::format("report split: regions {} and {} are not adjacent halves", left.id(),
                           right.id()));
  }
  spdlog::info("region {} split at {}: new region {}", left.id(), EscapeBytes(left.end_key()),
               right.id());
  return std::nullopt;
}

// ---- Configuration and GC ----

metapb::Cluster Cluster::ClusterConfig() const {
  if (cluster_meta_) return *cluster_meta_;
  metapb::Cluster c;
  c.set_id(cluster_id_);
  c.set_max_peer_count(deps_.config.max_replicas);
  return c;
}

SStatus Cluster::PutClusterConfig(const metapb::Cluster& cluster) {
  if (auto e = CheckBootstrapped()) return e;
  if (cluster.id() != 0 && cluster.id() != cluster_id_) {
    return Err(schedulerpb::UNKNOWN,
               fmt::format("cluster config for cluster {}, this is {}", cluster.id(), cluster_id_));
  }
  if (cluster.max_peer_count() == 0)
    return Err(schedulerpb::UNKNOWN, "max_peer_count must be at least 1");
  metapb::Cluster meta = *cluster_meta_;
  meta.set_max_peer_count(cluster.max_peer_count());
  if (auto e = FromStatus(meta_.SaveCluster(meta))) return e;
  cluster_meta_ = meta;
  return std::nullopt;
}

SResult<uint64_t> Cluster::UpdateGcSafePoint(uint64_t safe_point) {
  if (auto e = CheckBootstrapped()) return Unexpected<Error>{*e};
  if (safe_point > gc_safe_point_) {
    if (auto e = FromStatus(meta_.SaveGcSafePoint(safe_point))) return Unexpected<Error>{*e};
    gc_safe_point_ = safe_point;
  }
  return gc_safe_point_;
}

// ---- Operators ----

uint32_t Cluster::RunningOfKind(OpKind kind) const {
  uint32_t n = 0;
  for (const auto& [id, op] : operators_) n += op.kind == kind;
  return n;
}

void Cluster::StartOperator(Operator op) {
  op.created_ms = deps_.clock->NowMs();
  bool leader_only = std::all_of(op.steps.begin(), op.steps.end(), [](const OpStep& s) {
    return std::holds_alternative<TransferLeaderStep>(s);
  });
  op.timeout_ms = leader_only ? deps_.config.leader_operator_timeout_ms
                              : deps_.config.region_operator_timeout_ms;
  uint64_t id = op.region_id;
  spdlog::info("operator started: {}", op.Describe());
  finished_.erase(id);
  operators_[id] = std::move(op);
  if (const RegionInfo* r = regions_.Get(id)) DispatchOperator(*r);
}

void Cluster::FinishOperator(uint64_t region_id, schedulerpb::OperatorStatus status) {
  auto it = operators_.find(region_id);
  if (it == operators_.end()) return;
  spdlog::log(status == schedulerpb::SUCCESS ? spdlog::level::info : spdlog::level::warn,
              "operator {}: {}", schedulerpb::OperatorStatus_Name(status), it->second.Describe());
  finished_[region_id] = OperatorRecord{it->second.desc, it->second.kind, status};
  operators_.erase(it);
}

void Cluster::DispatchOperator(const RegionInfo& region) {
  auto it = operators_.find(region.id());
  if (it == operators_.end()) return;
  Operator& op = it->second;
  if (op.Advance(region)) return FinishOperator(region.id(), schedulerpb::SUCCESS);
  if (region.meta.region_epoch().version() != op.epoch.version()) {
    // The region split (or merged) under the operator, or not where the
    // split operator asked: its plan is void.
    return FinishOperator(region.id(), schedulerpb::CANCEL);
  }
  if (deps_.clock->NowMs() - op.created_ms > op.timeout_ms)
    return FinishOperator(region.id(), schedulerpb::TIMEOUT);
  if (region.leader.id() == 0) return;  // sent when the leader reports
  const OpStep& step = op.steps[op.current];
  if (const auto* add = std::get_if<AddPeerStep>(&step); add && region.PeerOnStore(add->peer.store_id())) {
    return;  // a member already: wait until it has caught up
  }
  schedulerpb::RegionHeartbeatResponse cmd = op.Command(region);
  if ((std::holds_alternative<TransferLeaderStep>(step) && !cmd.has_transfer_leader()) ||
      (std::holds_alternative<RemovePeerStep>(step) && !cmd.change_peer().has_peer())) {
    return FinishOperator(region.id(), schedulerpb::CANCEL);
  }
  commands_.push_back(RegionCommand{region.leader.store_id(), std::move(cmd)});
}

SResult<std::string> Cluster::AddOperator(uint64_t region_id, const AdminOp& admin) {
  if (auto e = CheckBootstrapped()) return Unexpected<Error>{*e};
  const RegionInfo* r = regions_.Get(region_id);
  if (r == nullptr) return Fail(schedulerpb::REGION_NOT_FOUND, fmt::format("region {} not found", region_id));
  if (r->leader.id() == 0)
    return Invalid(fmt::format("region {} has not reported a leader yet", region_id));
  if (auto it = operators_.find(region_id); it != operators_.end()) {
    if (it->second.kind == OpKind::kAdmin) {
      return Invalid(fmt::format("region {} already runs an operator: {}", region_id,
                                 it->second.Describe()));
    }
  }
  ClusterView view = View();
  Operator op;
  op.region_id = region_id;
  op.kind = OpKind::kAdmin;
  op.epoch = r->meta.region_epoch();
  switch (admin.kind) {
    case AdminOp::kAddPeer: {
      const StoreInfo* s = view.Store(admin.store_id);
      if (s == nullptr) return Invalid(fmt::format("store {} not found", admin.store_id));
      if (r->PeerOnStore(admin.store_id) != nullptr)
        return Invalid(fmt::format("region {} already has a replica on store {}", region_id,
                                   admin.store_id));
      if (!view.CanBeTarget(*s))
        return Invalid(fmt::format("store {} cannot take a replica now (state {}, {})",
                                   admin.store_id, metapb::StoreState_Name(s->meta.state()),
                                   view.IsDisconnected(*s) ? "disconnected" : "connected"));
      auto id = ids_->Alloc();
      if (!id.ok()) return Unexpected<Error>{*FromStatus(id.status())};
      metapb::Peer p;
      p.set_id(*id);
      p.set_store_id(admin.store_id);
      op.desc = "admin-add-peer";
      op.steps.push_back(AddPeerStep{p});
      break;
    }
    case AdminOp::kRemovePeer: {
      const metapb::Peer* p = r->PeerOnStore(admin.store_id);
      if (p == nullptr)
        return Invalid(fmt::format("region {} has no replica on store {}", region_id,
                                   admin.store_id));
      if (r->meta.peers_size() == 1)
        return Invalid(fmt::format("region {} has only that replica", region_id));
      op.desc = "admin-remove-peer";
      if (p->id() == r->leader.id()) {
        for (const auto& q : r->meta.peers()) {
          if (q.id() == p->id() || r->IsPending(q.id())) continue;
          op.steps.push_back(TransferLeaderStep{admin.store_id, q.store_id()});
          break;
        }
      }
      op.steps.push_back(RemovePeerStep{admin.store_id});
      break;
    }
    case AdminOp::kTransferLeader: {
      const metapb::Peer* p = r->PeerOnStore(admin.store_id);
      if (p == nullptr)
        return Invalid(fmt::format("region {} has no replica on store {}", region_id,
                                   admin.store_id));
      if (p->id() == r->leader.id())
        return Invalid(fmt::format("store {} already leads region {}", admin.store_id, region_id));
      op.desc = "admin-transfer-leader";
      op.steps.push_back(TransferLeaderStep{r->leader.store_id(), admin.store_id});
      break;
    }
    case AdminOp::kSplit: {
      if (admin.split_keys.size() > 1) return Invalid("a split takes at most one key");
      for (const auto& k : admin.split_keys) {
        if (!InsideRange(r->meta, k))
          return Invalid(fmt::format("split key {} is not inside region {}", EscapeBytes(k),
                                     region_id));
      }
      op.desc = "admin-split";
      op.steps.push_back(SplitStep{admin.split_keys, r->meta.region_epoch().version()});
      break;
    }
  }
  // An operator the scheduler made gives way to the one asked for.
  if (operators_.count(region_id) != 0) FinishOperator(region_id, schedulerpb::REPLACE);
  std::string desc = op.Describe();
  StartOperator(std::move(op));
  return desc;
}

std::optional<Cluster::OperatorState> Cluster::GetOperator(uint64_t region_id) const {
  if (auto it = operators_.find(region_id); it != operators_.end()) {
    return OperatorState{it->second.Describe(), std::string(OpKindName(it->second.kind)),
                         schedulerpb::RUNNING};
  }
  if (auto it = finished_.find(region_id); it != finished_.end()) {
    return OperatorState{it->second.desc, std::string(OpKindName(it->second.kind)),
                         it->second.status};
  }
  return std::nullopt;
}

// ---- The coordinator ----

ClusterView Cluster::View() const {
  return ClusterView{stores_, regions_, deps_.config, ClusterConfig().max_peer_count(),
                     deps_.clock->NowMs()};
}

bool Cluster::Prepared() const {
  if (deps_.clock->NowMs() - started_ms_ >= deps_.config.prepare_timeout_ms) return true;
  size_t heard = 0;
  for (const auto& [id, r] : regions_.all()) heard += r.last_heartbeat_ms != 0;
  return static_cast<double>(heard) >=
         deps_.config.prepare_region_fraction * static_cast<double>(regions_.size());
}

void Cluster::UpdateStoreStates() {
  for (auto& [id, s] : stores_) {
    if (s.meta.state() != metapb::Offline) continue;
    if (regions_.StoreStats(id).region_count != 0) continue;
    metapb::Store updated = s.meta;
    updated.set_state(metapb::Tombstone);
    if (FromStatus(meta_.SaveStore(updated))) continue;
    s.meta = updated;
    spdlog::info("store {} holds no replicas any more: it is a tombstone", id);
  }
}

void Cluster::Tick() {
  if (!bootstrapped()) return;
  UpdateStoreStates();
  uint64_t now = deps_.clock->NowMs();
  std::vector<uint64_t> expired, lost;
  ClusterView stores_view = View();
  for (const auto& [id, op] : operators_) {
    if (now - op.created_ms > op.timeout_ms) {
      expired.push_back(id);
      continue;
    }
    // A step that moves a replica or the leadership to a store that is down
    // (or gone) can never finish: cancel it now rather than hold the region
    // until the timeout, so that the replica checker can repair it.
    if (op.current < op.steps.size()) {
      const OpStep& step = op.steps[op.current];
      uint64_t target = 0;
      if (const auto* a = std::get_if<AddPeerStep>(&step)) target = a->peer.store_id();
      if (const auto* t = std::get_if<TransferLeaderStep>(&step)) target = t->to_store;
      if (target != 0 && stores_view.IsLost(target)) lost.push_back(id);
    }
  }
  for (uint64_t id : expired) FinishOperator(id, schedulerpb::TIMEOUT);
  for (uint64_t id : lost) FinishOperator(id, schedulerpb::CANCEL);

  IdSource alloc = IdSourceFn();
  auto has_operator = [this](uint64_t id) { return operators_.count(id) != 0; };
  // The replica checker walks the regions in id order, a part per round.
  size_t n = std::min<size_t>(deps_.config.patrol_regions_per_round, regions_.size());
  for (size_t i = 0; i < n; ++i) {
    if (RunningOfKind(OpKind::kReplica) >= deps_.config.replica_schedule_limit) break;
    const RegionInfo* r = regions_.NextAfter(patrol_cursor_);
    patrol_cursor_ = r->id();
    if (has_operator(r->id())) continue;
    if (auto op = CheckReplicas(View(), *r, alloc)) StartOperator(std::move(*op));
  }
  if (!Prepared()) return;
  if (RunningOfKind(OpKind::kLeader) < deps_.config.leader_schedule_limit) {
    if (auto op = BalanceLeader(View(), rng_, has_operator)) StartOperator(std::move(*op));
  }
  if (RunningOfKind(OpKind::kRegion) < deps_.config.region_schedule_limit) {
    if (auto op = BalanceRegion(View(), rng_, alloc, has_operator)) StartOperator(std::move(*op));
  }
}

std::vector<RegionCommand> Cluster::TakeCommands() {
  std::vector<RegionCommand> out;
  out.swap(commands_);
  return out;
}

}  // namespace tinykv::scheduler
