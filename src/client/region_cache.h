// RegionCache: where keys live, as a client last learned it from the
// scheduler and from the stores' region errors: regions by key range with
// their leaders, and stores' addresses.
//
// Entries are refreshed on the errors a store answers with (NotLeader with a
// new leader, EpochNotMatch with the current regions) and dropped on the
// others (RegionNotFound, KeyNotInRegion, StoreNotMatch, unreachable
// stores); a lookup that misses asks the scheduler.
//
// Thread safety: every method may be called concurrently.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "client/scheduler_client.h"
#include "common/result.h"
#include "errorpb.pb.h"

namespace tinykv::client {

class RegionCache {
 public:
  // `scheduler` must outlive the cache.
  explicit RegionCache(SchedulerClient& scheduler) : scheduler_(scheduler) {}

  // The region holding key (from the cache, else the scheduler).
  // Errors: kUnavailable when the scheduler knows no region for it yet (a
  // split is being reported), or cannot be reached.
  Result<RegionRoute> Locate(const std::string& key);
  Result<RegionRoute> LocateById(uint64_t region_id);
  // A store's address (cached). Errors: kNotFound for an unknown store.
  Result<std::string> StoreAddress(uint64_t store_id);

  // ---- Learning from answers ----
  void UpdateLeader(uint64_t region_id, const metapb::Peer& leader);
  // The leader is unknown (or unreachable): the next attempt tries another
  // peer, starting after `failed`'s store.
  void ForgetLeader(uint64_t region_id, const metapb::Peer& failed);
  void Invalidate(uint64_t region_id);
  void InvalidateStore(uint64_t store_id);
  // Learns from a region error. Returns whether a retry may succeed at once
  // (a new leader or new regions are known) rather than after a backoff.
  bool OnRegionError(const RegionRoute& route, const errorpb::Error& e);

  // The peer to send to: the leader if known, else the next peer in turn.
  static metapb::Peer Target(const RegionRoute& route);

 private:
  void Insert(const RegionRoute& r);  // REQUIRES: mu_ held
  SchedulerClient& scheduler_;
  std::mutex mu_;
  std::map<std::string, RegionRoute> by_start_;  // ranges never overlap
  std::map<uint64_t, std::string> start_of_;     // region id -> start key
  std::map<uint64_t, std::string> store_addr_;
};

}  // namespace tinykv::client
