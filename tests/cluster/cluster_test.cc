// The replicated store on the deterministic harness: basic behaviour.
#include "cluster.h"

#include <fmt/format.h>

#include <gtest/gtest.h>

#include <functional>
#include <set>

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
// A leader cut off with uncommitted proposals at several indexes: once the
// new leader's (shorter) log reaches it, every one of them is answered
// (they can no longer commit), not only the one at the index the new log
// reached. A proposal left waiting would hold its transaction latches.
TEST(ClusterTest, ProposalsOfADeposedLeaderAreAllAnswered) {
  Cluster c(Options(3));
  c.Start();
  SimClient client(c, 1);
  ASSERT_TRUE(client.MustPut("a", "1").ok());
  uint64_t old_leader = LeaderStoreOf(c, 1);
  ASSERT_NE(old_leader, 0u);
  raftstore::RegionStatus st;
  for (const auto& r : c.store(old_leader)->Regions()) {
    if (r.region.id() == 1) st = r;
  }
  std::set<uint64_t> others;
  for (uint64_t s = 1; s <= 3; ++s) {
    if (s != old_leader) others.insert(s);
  }
  c.network().Partition({{old_leader}, others});
  std::vector<raftstore::WriteResponse> answers;
  for (int i = 0; i < 3; ++i) {
    raft_cmdpb::RaftCmdRequest req;
    req.mutable_header()->set_region_id(1);
    *req.mutable_header()->mutable_peer() = MakePeer(st.peer_id, old_leader);
    *req.mutable_header()->mutable_region_epoch() = st.region.region_epoch();
    auto* put = req.add_requests();
    put->set_cmd_type(raft_cmdpb::Put);
    put->mutable_put()->set_key("p" + std::to_string(i));
    put->mutable_put()->set_value("v");
    c.Propose(old_leader, req, [&](raftstore::WriteResponse r) { answers.push_back(std::move(r)); });
  }
  c.RunFor(3'000);  // the others elect a leader; no client writes there
  EXPECT_TRUE(answers.empty());
  c.network().Heal();
  ASSERT_TRUE(c.RunUntil([&] { return answers.size() == 3; }, 10'000))
      << answers.size() << " of 3 answered\n"
      << DescribeCluster(c);
  for (const auto& r : answers) {
    // Not applied: a region error (stale) or an unknown outcome, never OK.
    EXPECT_TRUE(r.region_error.has_value() || !r.status.ok());
  }
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(client.MustGet("p" + std::to_string(i))->has_value());
  EXPECT_FALSE(c.violation().has_value()) << *c.violation();
}

// A read checked against the region's epoch when it arrived, and served
// after a split changed the region, is refused (EpochNotMatch) rather than
// served for the new, smaller range: the client would take the new end for
// the old one and skip the keys in between.
TEST(ClusterTest, AReadIsServedOnlyForTheEpochItAskedFor) {
  Cluster c(Options(3));
  c.Start();
  SimClient client(c, 1);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(client.MustPut(fmt::format("k{:02d}", i), "v").ok());
  uint64_t leader = LeaderStoreOf(c, 1);
  raftstore::RegionStatus st;
  for (const auto& r : c.store(leader)->Regions()) {
    if (r.region.id() == 1) st = r;
  }
  const uint64_t version = st.region.region_epoch().version();
  raft_cmdpb::RaftRequestHeader h;
  h.set_region_id(1);
  *h.mutable_peer() = MakePeer(st.peer_id, leader);
  *h.mutable_region_epoch() = st.region.region_epoch();
  int served = 0, refused = 0, wrong = 0;
  std::function<void()> issue = [&] {
    c.Read(leader, h, [&](raftstore::ReadResponse r) {
      if (r.region_error) {
        ++refused;
      } else if (r.status.ok()) {
        ++served;
        if (r.region.region_epoch().version() != version) ++wrong;
      }
    });
    if (refused == 0) c.After(1, issue);
  };
  issue();
  c.store(leader)->RequestSplit(1, st.region.region_epoch(), "k10");
  ASSERT_TRUE(c.RunUntil([&] { return refused > 0; }, 10'000)) << DescribeCluster(c);
  c.RunFor(100);
  EXPECT_GT(served, 0);
  EXPECT_EQ(wrong, 0) << "reads served for another epoch than they asked for";
}

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
