// The replicated store on the deterministic harness: basic behaviour.
#include "cluster.h"

#include <gtest/gtest.h>

namespace tinykv::cluster {
namespace {

ClusterOptions Options(int stores, uint64_t seed = 1) {
  ClusterOptions o;
  o.stores = stores;
  o.seed = seed;
  o.raftstore = TestRaftstoreConfig();
  return o;
}

// The store that leads region 1 (0 if none).
TEST(ClusterTest, ElectsALeaderAndServesReadsAndWrites) {
  Cluster c(Options(3));
  c.Start();
  ASSERT_TRUE(c.RunUntil([&] { return LeaderStoreOf(c, 1) != 0; }, 10'000));
  SimClient client(c, 1);
  ASSERT_TRUE(client.MustPut("k1", "v1").ok());
  ASSERT_TRUE(client.MustPut("k2", "v2").ok());
  auto v = client.MustGet("k1");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(**v, "v1");
  ASSERT_TRUE(client.MustDelete("k1").ok());
  EXPECT_FALSE(client.MustGet("k1")->has_value());
  auto all = client.MustScan("", "");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 1u);
  EXPECT_FALSE(c.violation().has_value()) << *c.violation();
}

TEST(ClusterTest, WritesReachEveryReplica) {
  Cluster c(Options(3));
  c.Start();
  SimClient client(c, 1);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(client.MustPut("k" + std::to_string(i), "v").ok());
  c.RunFor(2'000);
  for (uint64_t s = 1; s <= 3; ++s) {
    for (int i = 0; i < 20; ++i) {
      EXPECT_EQ(*c.engine(s).Get(storage::Cf::kDefault, "k" + std::to_string(i)), "v")
          << "store " << s;
    }
  }
}

TEST(ClusterTest, SurvivesAFollowerCrash) {
  Cluster c(Options(3));
  c.Start();
  SimClient client(c, 1);
  ASSERT_TRUE(client.MustPut("a", "1").ok());
  uint64_t leader = LeaderStoreOf(c, 1);
  uint64_t follower = leader % 3 + 1;
  c.StopStore(follower);
  ASSERT_TRUE(client.MustPut("b", "2").ok());
  c.StartStore(follower);
  c.RunFor(3'000);
  EXPECT_EQ(*c.engine(follower).Get(storage::Cf::kDefault, "b"), "2");
}

TEST(ClusterTest, SurvivesALeaderCrash) {
  Cluster c(Options(5));
  c.Start();
  SimClient client(c, 1);
  ASSERT_TRUE(client.MustPut("a", "1").ok());
  uint64_t leader = LeaderStoreOf(c, 1);
  c.StopStore(leader);
  ASSERT_TRUE(client.MustPut("b", "2").ok());
  EXPECT_NE(LeaderStoreOf(c, 1), 0u);
  EXPECT_NE(LeaderStoreOf(c, 1), leader);
  auto v = client.MustGet("a");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(**v, "1");
  EXPECT_FALSE(c.violation().has_value()) << *c.violation();
}

// Every store crashes at once (losing unsynced writes) and restarts: every
// acknowledged write is still there.
TEST(ClusterTest, AcknowledgedWritesSurviveAFullRestart) {
  Cluster c(Options(3));
  c.Start();
  SimClient client(c, 1);
  for (int i = 0; i < 50; ++i)
    ASSERT_TRUE(client.MustPut("k" + std::to_string(i), std::to_string(i)).ok());
  for (uint64_t s = 1; s <= 3; ++s) c.StopStore(s);
  for (uint64_t s = 1; s <= 3; ++s) c.StartStore(s);
  for (int i = 0; i < 50; ++i) {
    auto v = client.MustGet("k" + std::to_string(i));
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_EQ(**v, std::to_string(i));
  }
}

}  // namespace
}  // namespace tinykv::cluster
