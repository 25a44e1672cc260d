// The placement decisions: pure functions from the cluster as the scheduler
// sees it to an operator (or none). No I/O, no clock (time is a field of the
// view), randomness from the caller's seeded Rng.
//
//   CheckReplicas   repair one region: remove replicas on down or removed
//                   stores, add replicas up to max-replicas, move replicas
//                   off offline stores, remove extra replicas
//   BalanceLeader   move a leader from the store leading the most regions
//                   to the one leading the fewest
//   BalanceRegion   move a replica from the store with the largest region
//                   size to the smallest (the 3C rules)
#pragma once

#include <functional>
#include <map>
#include <optional>

#include "common/result.h"
#include "common/rng.h"
#include "scheduler/config.h"
#include "scheduler/operator.h"
#include "scheduler/region_tree.h"
#include "schedulerpb.pb.h"

namespace tinykv::scheduler {

struct StoreInfo {
  metapb::Store meta;
  schedulerpb::StoreStats stats;
  // Clock time of its last heartbeat; for stores loaded from disk, the time
  // the scheduler started (so that a restart does not declare them down).
  uint64_t last_heartbeat_ms = 0;
  bool heartbeat_seen = false;  // since this scheduler started
};

// What the checkers decide from. Borrowed references: valid for one call.
struct ClusterView {
  const std::map<uint64_t, StoreInfo>& stores;
  const RegionTree& regions;
  const SchedulerConfig& config;
  uint32_t max_replicas;
  uint64_t now_ms;

  const StoreInfo* Store(uint64_t id) const;
  // No heartbeat for max-store-down-time.
  bool IsDown(const StoreInfo& s) const;
  // No heartbeat for store-disconnect-time.
  bool IsDisconnected(const StoreInfo& s) const;
  // Up, heard from recently, not busy: may receive a replica or a leader.
  bool CanBeTarget(const StoreInfo& s) const;
  // Holds replicas that must be replaced: removed, tombstone or down.
  bool IsLost(uint64_t store_id) const;
};

// Hands out new peer ids.
using IdSource = std::function<Result<uint64_t>()>;

// Operators made here carry region_id, desc, kind, epoch and steps;
// the caller sets the times.
std::optional<Operator> CheckReplicas(const ClusterView& view, const RegionInfo& region,
                                      const IdSource& alloc_id);
std::optional<Operator> BalanceLeader(const ClusterView& view, Rng& rng,
                                      const std::function<bool(uint64_t)>& has_operator);
std::optional<Operator> BalanceRegion(const ClusterView& view, Rng& rng, const IdSource& alloc_id,
                                      const std::function<bool(uint64_t)>& has_operator);

// Whether the region's leader is known and it reported since the scheduler
// started (only such regions are scheduled).
bool Schedulable(const RegionInfo& region);

// The best store for a new replica of `region` (up, heard from, not holding
// it; the smallest region score, then the fewest regions, then the lowest
// id), or nullptr.
const StoreInfo* PickTargetStore(const ClusterView& view, const RegionInfo& region);

// A move of the replica on `from` to a new peer on `to`: add, transfer the
// leadership away first if `from` leads, remove.
Result<Operator> MoveReplica(const ClusterView& view, const RegionInfo& region, uint64_t from,
                             uint64_t to, const IdSource& alloc_id, std::string desc, OpKind kind);

}  // namespace tinykv::scheduler
