#include "scheduler/region_tree.h"

#include <gtest/gtest.h>

#include "scheduler/test_util.h"

namespace tinykv::scheduler {
namespace {

using testutil::Info;
using testutil::Region;

// Every lookup agrees with a brute-force walk over all regions.
void CheckConsistent(const RegionTree& t) {
  std::map<uint64_t, StoreRegionStats> want;
  for (const auto& [id, r] : t.all()) {
    ASSERT_EQ(t.Get(id), &r);
    ASSERT_EQ(t.GetByKey(r.meta.start_key()), &r) << "region " << id;
    for (const auto& p : r.meta.peers()) {
      auto& s = want[p.store_id()];
      ++s.region_count;
      s.region_size += r.approximate_size;
      if (p.id() == r.leader.id()) {
        ++s.leader_count;
        s.leader_size += r.approximate_size;
      }
      if (r.IsPending(p.id())) ++s.pending_count;
    }
    for (const auto& [oid, o] : t.all()) {
      if (oid == id) continue;
      bool disjoint = (!r.meta.end_key().empty() && r.meta.end_key() <= o.meta.start_key()) ||
                      (!o.meta.end_key().empty() && o.meta.end_key() <= r.meta.start_key());
      ASSERT_TRUE(disjoint) << "regions " << id << " and " << oid << " overlap";
    }
  }
  for (const auto& [store, w] : want) {
    StoreRegionStats got = t.StoreStats(store);
    EXPECT_EQ(got.region_count, w.region_count) << "store " << store;
    EXPECT_EQ(got.leader_count, w.leader_count) << "store " << store;
    EXPECT_EQ(got.pending_count, w.pending_count) << "store " << store;
    EXPECT_EQ(got.region_size, w.region_size) << "store " << store;
    EXPECT_EQ(got.leader_size, w.leader_size) << "store " << store;
  }
}

TEST(RegionTreeTest, LookupsByKeyIdAndRange) {
  RegionTree t;
  (void)t.Put(Info(Region(1, "", "b", 1, 1, {{11, 1}})));
  (void)t.Put(Info(Region(2, "b", "d", 1, 1, {{21, 1}})));
  (void)t.Put(Info(Region(3, "f", "", 1, 1, {{31, 1}})));  // gap [d, f)
  EXPECT_EQ(t.GetByKey("")->id(), 1u);
  EXPECT_EQ(t.GetByKey("a")->id(), 1u);
  EXPECT_EQ(t.GetByKey("b")->id(), 2u);
  EXPECT_EQ(t.GetByKey("e"), nullptr);
  EXPECT_EQ(t.GetByKey("zzz")->id(), 3u);
  EXPECT_EQ(t.GetPrev("c")->id(), 1u);
  EXPECT_EQ(t.GetPrev("e")->id(), 2u);  // in the gap: the region before it
  EXPECT_EQ(t.GetPrev("a"), nullptr);
  auto scan = t.Scan("a", "", 0);
  ASSERT_EQ(scan.size(), 3u);
  EXPECT_EQ(scan[0]->id(), 1u);
  EXPECT_EQ(scan[2]->id(), 3u);
  EXPECT_EQ(t.Scan("c", "f", 0).size(), 1u);  // region 2 only: 3 starts at f
  EXPECT_EQ(t.Scan("", "", 2).size(), 2u);
  CheckConsistent(t);
}

TEST(RegionTreeTest, PutRemovesOverlappedRegions) {
  RegionTree t;
  (void)t.Put(Info(Region(1, "", "c", 1, 1, {{11, 1}})));
  (void)t.Put(Info(Region(2, "c", "f", 1, 1, {{21, 1}})));
  (void)t.Put(Info(Region(3, "f", "", 1, 1, {{31, 1}})));
  auto removed = t.Put(Info(Region(4, "b", "g", 1, 2, {{41, 1}})));
  EXPECT_EQ(removed, (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.GetByKey("a"), nullptr);
  CheckConsistent(t);
}

TEST(RegionTreeTest, StaleRules) {
  RegionTree t;
  (void)t.Put(Info(Region(1, "", "m", 2, 3, {{11, 1}})));
  EXPECT_FALSE(t.CheckStale(Region(1, "", "m", 2, 3, {{11, 1}})));  // same epoch
  EXPECT_TRUE(t.CheckStale(Region(1, "", "m", 3, 2, {{11, 1}})));   // older version
  EXPECT_TRUE(t.CheckStale(Region(1, "", "m", 1, 4, {{11, 1}})));   // older conf_ver
  EXPECT_FALSE(t.CheckStale(Region(1, "", "m", 3, 4, {{11, 1}})));
  // Another region overlapping with an older version is stale.
  EXPECT_TRUE(t.CheckStale(Region(2, "a", "z", 2, 2, {{21, 1}})));
  EXPECT_FALSE(t.CheckStale(Region(2, "a", "z", 2, 4, {{21, 1}})));
  EXPECT_FALSE(t.CheckStale(Region(2, "m", "z", 1, 1, {{21, 1}})));  // no overlap
}

TEST(RegionTreeTest, RegionTreeSplitAndMerge) {
  // The 3C split-and-merge rounds: 7 rounds of splitting every region in
  // two, 7 of merging pairs back, then 14 alternating; lookups after each.
  // At depth d the key space [0, 2^16) is cut into 2^d equal regions.
  RegionTree t;
  uint64_t next_id = 1, version = 1;
  auto key = [](uint32_t v) {
    return std::string{static_cast<char>(v >> 8), static_cast<char>(v & 0xff)};
  };
  auto apply = [&](int depth) {
    ++version;
    uint32_t n = 1u << depth, width = (1u << 16) >> depth;
    for (uint32_t i = 0; i < n; ++i) {
      std::string start = i == 0 ? "" : key(i * width);
      std::string end = i + 1 == n ? "" : key((i + 1) * width);
      uint64_t id = next_id++;
      (void)t.Put(Info(Region(id, start, end, 1, version, {{id * 10, 1}})));
    }
    ASSERT_EQ(t.size(), n);
    for (uint32_t i = 0; i < n; ++i) {
      const RegionInfo* r = t.GetByKey(key(i * width));
      ASSERT_NE(r, nullptr);
      EXPECT_EQ(t.Get(r->id()), r);
      EXPECT_EQ(r->meta.start_key(), i == 0 ? "" : key(i * width));
    }
    CheckConsistent(t);
  };
  int depth = 0;
  apply(depth);
  for (int round = 0; round < 7; ++round) apply(++depth);
  for (int round = 0; round < 7; ++round) apply(--depth);
  for (int round = 0; round < 14; ++round) apply(round % 2 == 0 ? ++depth : --depth);
}

TEST(RegionTreeTest, RandomRegionPicksFromTheSet) {
  RegionTree t;
  (void)t.Put(Info(Region(1, "", "b", 1, 1, {{11, 1}, {12, 2}})));
  (void)t.Put(Info(Region(2, "b", "", 1, 1, {{21, 2}, {22, 1}})));
  Rng rng(7);
  std::set<uint64_t> seen;
  for (int i = 0; i < 50; ++i) seen.insert(t.RandomOf(t.LeadersOn(1), rng)->id());
  EXPECT_EQ(seen, (std::set<uint64_t>{1}));
  seen.clear();
  for (int i = 0; i < 50; ++i) seen.insert(t.RandomOf(t.FollowersOn(2), rng)->id());
  EXPECT_EQ(seen, (std::set<uint64_t>{1}));
  EXPECT_EQ(t.RandomOf(t.PendingOn(1), rng), nullptr);
}

}  // namespace
}  // namespace tinykv::scheduler
