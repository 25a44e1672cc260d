// Configuration of the scheduler's placement logic. Every interval, limit
// and threshold the scheduler uses is here (docs/operations.md lists the
// TOML keys of tinykv-scheduler).
#pragma once

#include <cstdint>

namespace tinykv::scheduler {

struct SchedulerConfig {
  // Replicas every region should have (metapb.Cluster.max_peer_count at
  // bootstrap; PutClusterConfig changes it later).
  uint32_t max_replicas = 3;

  // A store without a heartbeat for this long is down: the replica checker
  // replaces its replicas on other stores.
  uint64_t max_store_down_time_ms = 30 * 60 * 1000;
  // A store without a heartbeat for this long is not chosen as a target
  // (it may be restarting); shown as disconnected.
  uint64_t store_disconnect_time_ms = 20'000;

  // The coordinator runs the checkers and balancers this often.
  uint64_t schedule_interval_ms = 100;
  // Regions the replica checker looks at per round (it walks all of them
  // in turn).
  uint32_t patrol_regions_per_round = 256;
  // Operators running at once, by what made them.
  uint32_t leader_schedule_limit = 4;   // balance-leader
  uint32_t region_schedule_limit = 4;   // balance-region
  uint32_t replica_schedule_limit = 8;  // replica checker (repair)
  // Balance-leader moves a leader only when the source leads at least this
  // many more regions than the target (so that a move always helps).
  uint32_t leader_balance_threshold = 2;
  // Balance-region counts a region at least this size, so that empty regions
  // still spread by number.
  uint64_t min_balance_region_size = 1u << 20;

  // Operators not finished after this long are dropped.
  uint64_t leader_operator_timeout_ms = 10'000;
  uint64_t region_operator_timeout_ms = 10 * 60 * 1000;

  // Balancing waits until this fraction of the known regions has reported
  // since the scheduler started (their leaders and sizes are current).
  // or this long has passed (some regions may have lost their quorum).
  double prepare_region_fraction = 0.9;
  uint64_t prepare_timeout_ms = 5 * 60 * 1000;

  // The TSO persists a bound this far ahead of the timestamps it hands out,
  // so that after a restart it starts above every timestamp given before.
  uint64_t tso_save_interval_ms = 3000;
  // The id allocator persists a bound this many ids ahead.
  uint64_t id_batch = 1000;
};

}  // namespace tinykv::scheduler
