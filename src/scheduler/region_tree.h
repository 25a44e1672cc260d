// RegionTree: the scheduler's view of every region (by id and by key range)
// with per-store indexes, fed by the leaders' heartbeats.
//
// The ranges in the tree never overlap. A heartbeat is accepted only if it
// is not stale (CheckStale, the 3C rules); putting it removes every region
// it overlaps, so a split's halves may arrive in any order: the first half
// to report replaces the parent, leaving a gap until the other half does.
//
// Thread safety: none; called by one thread at a time.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/rng.h"
#include "metapb.pb.h"

namespace tinykv::scheduler {

struct RegionInfo {
  metapb::Region meta;
  metapb::Peer leader;  // id 0: unknown
  std::vector<metapb::Peer> pending_peers;
  uint64_t approximate_size = 0;
  // Clock time of its last heartbeat; 0: loaded from disk, not heard from
  // since this scheduler started (its leader and size may be stale).
  uint64_t last_heartbeat_ms = 0;

  uint64_t id() const { return meta.id(); }
  const metapb::Peer* PeerOnStore(uint64_t store_id) const;
  bool IsPending(uint64_t peer_id) const;
};

// Whether two epochs are the same.
bool EpochEqual(const metapb::RegionEpoch& a, const metapb::RegionEpoch& b);

// Per-store aggregates of the tree.
struct StoreRegionStats {
  uint32_t region_count = 0;
  uint32_t leader_count = 0;
  uint32_t pending_count = 0;
  uint64_t region_size = 0;  // sum of approximate sizes of its regions
  uint64_t leader_size = 0;
  // Like region_size, with every region counted at least the tree's size
  // floor (what balance-region compares).
  uint64_t region_score = 0;
};

class RegionTree {
 public:
  // `size_floor`: the least size a region counts for in region_score.
  explicit RegionTree(uint64_t size_floor = 0) : size_floor_(size_floor) {}
  // The size a region counts for when balancing.
  uint64_t Score(const RegionInfo& r) const {
    return r.approximate_size > size_floor_ ? r.approximate_size : size_floor_;
  }

  // Why `region` may not go into the tree (a stale report), or nullopt.
  // Stale: a region with the same id has a newer version or conf_ver, or a
  // region it overlaps has a newer version or conf_ver.
  std::optional<std::string> CheckStale(const metapb::Region& region) const;

  // Puts (or replaces) a region; removes every other region it overlaps and
  // returns their ids. REQUIRES: !CheckStale(info.meta).
  std::vector<uint64_t> Put(RegionInfo info);
  void Remove(uint64_t region_id);

  const RegionInfo* Get(uint64_t region_id) const;
  // The region whose range holds key.
  const RegionInfo* GetByKey(const std::string& key) const;
  // The region just before the one holding key (the one whose end is the
  // start of key's region, or of the gap key falls in).
  const RegionInfo* GetPrev(const std::string& key) const;
  // Regions in key order starting with the one holding `start` (or the
  // first after it), up to `end` ("" = to the end), at most `limit` (0 = all).
  std::vector<const RegionInfo*> Scan(const std::string& start, const std::string& end,
                                      size_t limit) const;
  // Regions overlapping [start, end) ("" end = +infinity).
  std::vector<const RegionInfo*> Overlaps(const std::string& start, const std::string& end) const;

  size_t size() const { return by_id_.size(); }
  const std::map<uint64_t, RegionInfo>& all() const { return by_id_; }
  // The first region with id > after (wrapping to the smallest); for patrols.
  const RegionInfo* NextAfter(uint64_t after) const;

  StoreRegionStats StoreStats(uint64_t store_id) const;
  // Regions with a replica on the store, by role.
  const std::set<uint64_t>& LeadersOn(uint64_t store_id) const;
  const std::set<uint64_t>& FollowersOn(uint64_t store_id) const;
  const std::set<uint64_t>& PendingOn(uint64_t store_id) const;
  // A random region from one of those sets (nullptr if it is empty).
  const RegionInfo* RandomOf(const std::set<uint64_t>& ids, Rng& rng) const;

 private:
  void Index(const RegionInfo& r, int sign);

  std::map<uint64_t, RegionInfo> by_id_;
  // Start key -> region id. Ranges never overlap.
  std::map<std::string, uint64_t> by_start_;
  struct StoreIndex {
    std::set<uint64_t> leaders, followers, pending;
    uint64_t region_size = 0, leader_size = 0, region_score = 0;
  };
  uint64_t size_floor_;
  std::map<uint64_t, StoreIndex> stores_;
  static const std::set<uint64_t> kEmpty;
};

}  // namespace tinykv::scheduler
