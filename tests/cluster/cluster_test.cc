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

// ---- Lease reads ----

// The status of region 1 on a store.
raftstore::RegionStatus StatusOn(Cluster& c, uint64_t store) {
  for (const auto& r : c.store(store)->Regions()) {
    if (r.region.id() == 1) return r;
  }
  return {};
}

// Writes k = value through the given store's peer of region 1 (no client
// routing: the test names the leader).
void PutVia(Cluster& c, uint64_t store, const std::string& value, std::function<void(Status)> done) {
  raftstore::RegionStatus st = StatusOn(c, store);
  raft_cmdpb::RaftCmdRequest cmd;
  cmd.mutable_header()->set_region_id(1);
  *cmd.mutable_header()->mutable_peer() = MakePeer(st.peer_id, store);
  *cmd.mutable_header()->mutable_region_epoch() = st.region.region_epoch();
  auto* put = cmd.add_requests();
  put->set_cmd_type(raft_cmdpb::Put);
  put->mutable_put()->set_key("k");
  put->mutable_put()->set_value(value);
  c.Propose(store, std::move(cmd), [done = std::move(done)](raftstore::WriteResponse r) {
    done(r.region_error ? Status::Unavailable("region error") : r.status);
  });
}

// Reads key "k" of region 1 at one store every 5 ms, as that store's peer,
// and remembers when each read was issued and what it returned.
struct ReadProbe {
  struct Answer {
    uint64_t issued_ms;
    std::optional<std::string> value;  // set when served
  };
  Cluster& c;
  uint64_t store;
  raft_cmdpb::RaftRequestHeader header;
  std::vector<Answer> answers;
  bool stop = false;

  ReadProbe(Cluster& cluster, uint64_t s) : c(cluster), store(s) {
    raftstore::RegionStatus st = StatusOn(c, s);
    header.set_region_id(1);
    *header.mutable_peer() = MakePeer(st.peer_id, s);
    *header.mutable_region_epoch() = st.region.region_epoch();
  }
  void Issue() {
    if (stop) return;
    uint64_t issued = c.NowMs();
    c.Read(store, header, [this, issued](raftstore::ReadResponse r) {
      Answer a{issued, std::nullopt};
      if (!r.region_error && r.status.ok()) {
        auto v = r.snapshot->Get(storage::Cf::kDefault, "k");
        a.value = v.ok() && v->has_value() ? **v : "<none>";
      }
      answers.push_back(std::move(a));
    });
    c.After(5, [this] { Issue(); });
  }
  // Cuts the probed store off from `others` and starts reading; returns when.
  uint64_t CutOffAndRead(const std::set<uint64_t>& others) {
    c.network().Partition({{store}, others});
    uint64_t at = c.NowMs();
    Issue();
    return at;
  }
  // Runs the cluster for ms, then stops issuing reads and lets the last ones finish.
  void RunFor(uint64_t ms) {
    c.RunFor(ms);
    stop = true;
    c.RunFor(100);
  }
  // Reads issued at or after `from_ms` that were served `value`.
  int ServedAfter(uint64_t from_ms, const std::string& value) const {
    int n = 0;
    for (const auto& a : answers) n += a.issued_ms >= from_ms && a.value == value;
    return n;
  }
};

// Writes k = v1 and reads it back (so that the leader holds a lease);
// returns the leader's store.
uint64_t WriteV1AndFindLeader(Cluster& c, SimClient& client) {
  EXPECT_TRUE(client.MustPut("k", "v1").ok());
  EXPECT_TRUE(client.MustGet("k").ok());
  return LeaderStoreOf(c, 1);
}

std::set<uint64_t> OtherStores(Cluster& c, uint64_t store) {
  std::set<uint64_t> out;
  for (uint64_t s = 1; s <= static_cast<uint64_t>(c.NumStores()); ++s) {
    if (s != store) out.insert(s);
  }
  return out;
}

// A leader cut off from the others goes on serving reads from its lease for
// a while, but never once a new leader may have acknowledged a write.
TEST(ClusterTest, AnIsolatedLeaderStopsLeaseReadsBeforeANewLeaderWrites) {
  Cluster c(Options(3));
  c.Start();
  SimClient client(c, 1);
  const uint64_t old = WriteV1AndFindLeader(c, client);
  ReadProbe probe(c, old);
  const std::set<uint64_t> others = OtherStores(c, old);
  const uint64_t cut_at = probe.CutOffAndRead(others);
  // A client that finds the new leader as soon as there is one.
  uint64_t leader = 0;
  ASSERT_TRUE(c.RunUntil(
      [&] {
        for (uint64_t s : others) {
          if (StatusOn(c, s).leader) leader = s;
        }
        return leader != 0;
      },
      10'000));
  uint64_t acked_at = 0;
  PutVia(c, leader, "v2", [&](Status s) {
    if (s.ok()) acked_at = c.NowMs();
  });
  ASSERT_TRUE(c.RunUntil([&] { return acked_at != 0; }, 30'000)) << DescribeCluster(c);
  probe.RunFor(1'000);
  // Cut off, it could not have served these with a heartbeat round.
  EXPECT_GT(probe.ServedAfter(cut_at, "v1"), 0) << "no read was served from the lease";
  EXPECT_EQ(probe.ServedAfter(acked_at, "v1"), 0)
      << "a read issued after v2 was acknowledged returned v1";
  EXPECT_GT(acked_at, cut_at + c.options().raftstore.MaxLeaderLeaseMs());
}

// A leadership transfer lets its target win at once, so the old leader must
// stop serving from its lease as soon as the transfer starts.
TEST(ClusterTest, ATransferEndsTheLease) {
  Cluster c(Options(3));
  c.Start();
  SimClient client(c, 1);
  const uint64_t old = WriteV1AndFindLeader(c, client);
  const uint64_t target = old % 3 + 1;
  const uint64_t term = StatusOn(c, old).term;
  ReadProbe probe(c, old);
  raft_cmdpb::AdminRequest admin;
  admin.set_cmd_type(raft_cmdpb::TransferLeader);
  *admin.mutable_transfer_leader()->mutable_peer() = MakePeer(StatusOn(c, target).peer_id, target);
  client.Admin(1, admin, [](raftstore::WriteResponse) {});
  // Once the target campaigns, cut the old leader off before it hears of it.
  ASSERT_TRUE(c.RunUntil([&] { return StatusOn(c, target).term > term; }, 5'000));
  probe.CutOffAndRead(OtherStores(c, old));
  ASSERT_TRUE(StatusOn(c, old).leader) << "the old leader heard of the new term already";
  ASSERT_TRUE(c.RunUntil([&] { return StatusOn(c, target).leader; }, 5'000));
  uint64_t acked_at = 0;
  PutVia(c, target, "v2", [&](Status s) {
    if (s.ok()) acked_at = c.NowMs();
  });
  ASSERT_TRUE(c.RunUntil([&] { return acked_at != 0; }, 30'000)) << DescribeCluster(c);
  probe.RunFor(1'000);
  EXPECT_EQ(probe.ServedAfter(acked_at, "v1"), 0)
      << "a read issued after v2 was acknowledged returned v1";
}

// Within the lease a read is answered on the caller's thread, before Read
// returns, and a steady read load keeps the lease renewed.
TEST(ClusterTest, LeaseReadsAreAnsweredOnTheCallersThread) {
  Cluster c(Options(3));
  c.Start();
  SimClient client(c, 1);
  const uint64_t leader = WriteV1AndFindLeader(c, client);
  ReadProbe probe(c, leader);
  bool answered = false;
  c.Read(leader, probe.header, [&](raftstore::ReadResponse r) {
    EXPECT_TRUE(r.status.ok() && !r.region_error);
    answered = true;
  });
  EXPECT_TRUE(answered) << "a read within the lease waited for the poller";
  // Reads keep the lease renewed: still answered at once much later.
  probe.Issue();
  probe.RunFor(5'000);
  answered = false;
  c.Read(leader, probe.header, [&](raftstore::ReadResponse) { answered = true; });
  EXPECT_TRUE(answered) << "the lease was not renewed under a read load";
  EXPECT_GT(probe.ServedAfter(0, "v1"), 900);
}

TEST(ClusterTest, ReadsWithoutTheLeaseUseAHeartbeatRound) {
  ClusterOptions o = Options(3);
  o.raftstore.lease_read = false;
  Cluster c(o);
  c.Start();
  SimClient client(c, 1);
  const uint64_t old = WriteV1AndFindLeader(c, client);
  ReadProbe probe(c, old);
  const std::set<uint64_t> others = OtherStores(c, old);
  const uint64_t cut_at = probe.CutOffAndRead(others);
  probe.RunFor(2'000);
  EXPECT_EQ(probe.ServedAfter(cut_at, "v1"), 0) << "served without a quorum";
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
