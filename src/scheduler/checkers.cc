#include "scheduler/checkers.h"

#include <fmt/format.h>

#include <algorithm>
#include <tuple>

namespace tinykv::scheduler {

const StoreInfo* ClusterView::Store(uint64_t id) const {
  auto it = stores.find(id);
  return it == stores.end() ? nullptr : &it->second;
}

bool ClusterView::IsDown(const StoreInfo& s) const {
  return now_ms > s.last_heartbeat_ms && now_ms - s.last_heartbeat_ms > config.max_store_down_time_ms;
}

bool ClusterView::IsDisconnected(const StoreInfo& s) const {
  return now_ms > s.last_heartbeat_ms &&
         now_ms - s.last_heartbeat_ms > config.store_disconnect_time_ms;
}

bool ClusterView::CanBeTarget(const StoreInfo& s) const {
  return s.meta.state() == metapb::Up && s.heartbeat_seen && !IsDisconnected(s) && !IsDown(s) &&
         !s.stats.is_busy();
}

bool ClusterView::IsLost(uint64_t store_id) const {
  const StoreInfo* s = Store(store_id);
  return s == nullptr || s->meta.state() == metapb::Tombstone || IsDown(*s);
}

bool Schedulable(const RegionInfo& region) {
  return region.leader.id() != 0 && region.last_heartbeat_ms != 0;
}

const StoreInfo* PickTargetStore(const ClusterView& view, const RegionInfo& region) {
  const StoreInfo* best = nullptr;
  std::tuple<uint64_t, uint32_t, uint64_t> best_key;
  for (const auto& [id, s] : view.stores) {
    if (!view.CanBeTarget(s) || region.PeerOnStore(id) != nullptr) continue;
    StoreRegionStats st = view.regions.StoreStats(id);
    auto key = std::make_tuple(st.region_score, st.region_count, id);
    if (best == nullptr || key < best_key) {
      best = &s;
      best_key = key;
    }
  }
  return best;
}

namespace {

Operator NewOperator(const RegionInfo& region, std::string desc, OpKind kind) {
  Operator op;
  op.region_id = region.id();
  op.desc = std::move(desc);
  op.kind = kind;
  op.epoch = region.meta.region_epoch();
  return op;
}

// A follower to hand the leadership to (caught up, on a store that can
// lead), other than on `except`; 0 if none.
uint64_t PickLeaderStore(const ClusterView& view, const RegionInfo& region, uint64_t except) {
  for (const auto& p : region.meta.peers()) {
    if (p.id() == region.leader.id() || p.store_id() == except || region.IsPending(p.id()))
      continue;
    const StoreInfo* s = view.Store(p.store_id());
    if (s != nullptr && view.CanBeTarget(*s)) return p.store_id();
  }
  return 0;
}

Result<metapb::Peer> NewPeer(uint64_t store_id, const IdSource& alloc_id) {
  TKV_ASSIGN_OR_RETURN(uint64_t id, alloc_id());
  metapb::Peer p;
  p.set_id(id);
  p.set_store_id(store_id);
  return p;
}

}  // namespace

Result<Operator> MoveReplica(const ClusterView& view, const RegionInfo& region, uint64_t from,
                             uint64_t to, const IdSource& alloc_id, std::string desc,
                             OpKind kind) {
  (void)view;
  TKV_ASSIGN_OR_RETURN(metapb::Peer peer, NewPeer(to, alloc_id));
  Operator op = NewOperator(region, std::move(desc), kind);
  op.steps.push_back(AddPeerStep{peer});
  if (region.leader.store_id() == from) op.steps.push_back(TransferLeaderStep{from, to});
  op.steps.push_back(RemovePeerStep{from});
  return op;
}

std::optional<Operator> CheckReplicas(const ClusterView& view, const RegionInfo& region,
                                      const IdSource& alloc_id) {
  if (!Schedulable(region)) return std::nullopt;
  const auto& peers = region.meta.peers();
  const size_t n = static_cast<size_t>(peers.size());

  // 1. Replicas on stores that are gone or down: remove them (the leader's
  //    store is alive: it just reported). The region is then short of
  //    replicas and step 2 adds one elsewhere.
  for (const auto& p : peers) {
    if (p.id() != region.leader.id() && view.IsLost(p.store_id())) {
      Operator op = NewOperator(region, "remove-down-replica", OpKind::kReplica);
      op.steps.push_back(RemovePeerStep{p.store_id()});
      return op;
    }
  }
  // 2. Too few replicas: add one on the best store.
  if (n < view.max_replicas) {
    const StoreInfo* target = PickTargetStore(view, region);
    if (target == nullptr) return std::nullopt;
    auto peer = NewPeer(target->meta.id(), alloc_id);
    if (!peer.ok()) return std::nullopt;
    Operator op = NewOperator(region, "make-up-replica", OpKind::kReplica);
    op.steps.push_back(AddPeerStep{*peer});
    return op;
  }
  // 3. Replicas on offline stores: move them to other stores.
  for (const auto& p : peers) {
    const StoreInfo* s = view.Store(p.store_id());
    if (s == nullptr || s->meta.state() != metapb::Offline) continue;
    if (n > view.max_replicas) break;  // step 4 removes it instead
    const StoreInfo* target = PickTargetStore(view, region);
    if (target == nullptr) return std::nullopt;
    auto op = MoveReplica(view, region, p.store_id(), target->meta.id(), alloc_id,
                          "replace-offline-replica", OpKind::kReplica);
    if (!op.ok()) return std::nullopt;
    return std::move(op).value();
  }
  // 4. Too many replicas: remove the worst one (on an offline store first,
  //    else on the store with the largest region score). Never the leader:
  //    move the leadership first.
  if (n > view.max_replicas) {
    const metapb::Peer* victim = nullptr;
    std::tuple<bool, uint64_t, uint64_t> worst;
    for (const auto& p : peers) {
      const StoreInfo* s = view.Store(p.store_id());
      bool offline = s != nullptr && s->meta.state() == metapb::Offline;
      auto key = std::make_tuple(offline, view.regions.StoreStats(p.store_id()).region_score,
                                 p.store_id());
      if (victim == nullptr || key > worst) {
        victim = &p;
        worst = key;
      }
    }
    Operator op = NewOperator(region, "remove-extra-replica", OpKind::kReplica);
    if (victim->id() == region.leader.id()) {
      uint64_t to = PickLeaderStore(view, region, victim->store_id());
      if (to == 0) return std::nullopt;
      op.steps.push_back(TransferLeaderStep{victim->store_id(), to});
    }
    op.steps.push_back(RemovePeerStep{victim->store_id()});
    return op;
  }
  return std::nullopt;
}

namespace {

constexpr int kRandomTries = 10;

// Stores that may give or take leaders and replicas: up and heard from.
std::vector<const StoreInfo*> ActiveStores(const ClusterView& view) {
  std::vector<const StoreInfo*> out;
  for (const auto& [id, s] : view.stores) {
    if (s.meta.state() == metapb::Up && s.heartbeat_seen && !view.IsDisconnected(s) &&
        !view.IsDown(s))
      out.push_back(&s);
  }
  return out;
}

// A region that may be balanced: schedulable, no operator, full replicas.
bool Balanceable(const ClusterView& view, const RegionInfo* r,
                 const std::function<bool(uint64_t)>& has_operator) {
  return r != nullptr && Schedulable(*r) && !has_operator(r->id()) &&
         static_cast<uint32_t>(r->meta.peers_size()) == view.max_replicas;
}

}  // namespace

std::optional<Operator> BalanceLeader(const ClusterView& view, Rng& rng,
                                      const std::function<bool(uint64_t)>& has_operator) {
  auto stores = ActiveStores(view);
  if (stores.size() < 2) return std::nullopt;
  auto leaders = [&](const StoreInfo* s) { return view.regions.StoreStats(s->meta.id()).leader_count; };
  // Sources from the most leaders down; for each, targets from the fewest up.
  std::vector<const StoreInfo*> by_leaders = stores;
  std::sort(by_leaders.begin(), by_leaders.end(), [&](const StoreInfo* a, const StoreInfo* b) {
    return std::make_tuple(leaders(a), b->meta.id()) > std::make_tuple(leaders(b), a->meta.id());
  });
  for (const StoreInfo* source : by_leaders) {
    uint32_t src_count = leaders(source);
    const auto& led = view.regions.LeadersOn(source->meta.id());
    for (int t = 0; t < kRandomTries; ++t) {
      const RegionInfo* r = view.regions.RandomOf(led, rng);
      if (!Balanceable(view, r, has_operator) || !r->pending_peers.empty()) continue;
      // The follower on the store leading the fewest regions.
      const StoreInfo* best = nullptr;
      for (const auto& p : r->meta.peers()) {
        if (p.id() == r->leader.id()) continue;
        const StoreInfo* s = view.Store(p.store_id());
        if (s == nullptr || !view.CanBeTarget(*s)) continue;
        if (best == nullptr || leaders(s) < leaders(best)) best = s;
      }
      if (best == nullptr || src_count < leaders(best) + view.config.leader_balance_threshold)
        continue;
      Operator op = NewOperator(*r, "balance-leader", OpKind::kLeader);
      op.steps.push_back(TransferLeaderStep{source->meta.id(), best->meta.id()});
      return op;
    }
  }
  return std::nullopt;
}

std::optional<Operator> BalanceRegion(const ClusterView& view, Rng& rng, const IdSource& alloc_id,
                                      const std::function<bool(uint64_t)>& has_operator) {
  auto stores = ActiveStores(view);
  if (stores.size() < 2) return std::nullopt;
  auto score = [&](uint64_t id) { return view.regions.StoreStats(id).region_score; };
  std::sort(stores.begin(), stores.end(), [&](const StoreInfo* a, const StoreInfo* b) {
    return std::make_tuple(score(a->meta.id()), b->meta.id()) >
           std::make_tuple(score(b->meta.id()), a->meta.id());
  });
  for (const StoreInfo* source : stores) {
    uint64_t sid = source->meta.id();
    for (int t = 0; t < kRandomTries; ++t) {
      // A pending region first, else a follower, else a leader (3C).
      const RegionInfo* r = view.regions.RandomOf(view.regions.PendingOn(sid), rng);
      if (r == nullptr) r = view.regions.RandomOf(view.regions.FollowersOn(sid), rng);
      if (r == nullptr) r = view.regions.RandomOf(view.regions.LeadersOn(sid), rng);
      if (!Balanceable(view, r, has_operator)) continue;
      const StoreInfo* target = PickTargetStore(view, *r);
      if (target == nullptr) continue;
      // Move only if the sizes stay in the same order afterwards.
      uint64_t src = score(sid), dst = score(target->meta.id());
      if (src <= dst || src - dst <= 2 * view.regions.Score(*r)) continue;
      auto op = MoveReplica(view, *r, sid, target->meta.id(), alloc_id, "balance-region",
                            OpKind::kRegion);
      if (!op.ok()) return std::nullopt;
      return std::move(op).value();
    }
  }
  return std::nullopt;
}

}  // namespace tinykv::scheduler
