// The TinyKV course's replicated-store scenarios (parts 2B, 2C and 3B; test
// names after the originals, without "Test"), on the deterministic harness:
// 5 stores, virtual time, the original parameters and checks.
//
// GenericTest runs 3 rounds of 5 (virtual) seconds of clients that append
// keys and scan them back, optionally with a lossy network, random
// partitions, crashes of every store between rounds, log compaction,
// membership changes and splits. After each round every client's values are
// present once and in order, then deleted; the Raft log is bounded; a split
// leaves the first region bounded. The harness checks its invariants (one
// leader per region and term, disjoint ranges, epochs never going back)
// after every step.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "cluster.h"

namespace tinykv::cluster {
namespace {

using storage::Cf;

uint64_t Seed() {
  const char* v = std::getenv("TINYKV_SCENARIO_SEED");
  return v && *v ? std::strtoull(v, nullptr, 10) : 1;
}

ClusterOptions Options(int stores) {
  ClusterOptions o;
  o.stores = stores;
  o.seed = Seed();
  o.raftstore = TestRaftstoreConfig();
  o.network.min_delay_ms = 0;
  o.network.max_delay_ms = 2;
  return o;
}

uint64_t ElectionTimeoutMs(const Cluster& c) {
  return c.options().raftstore.raft_base_tick_ms * c.options().raftstore.raft_election_ticks;
}

std::string ClientKey(int cli, int j) { return fmt::format("{} {:08}", cli, j); }
std::string ClientValue(int cli, int j) { return fmt::format("x {} {} y", cli, j); }

struct GenericParams {
  int clients = 1;
  bool unreliable = false;
  bool crash = false;
  bool partitions = false;
  int max_raft_log = -1;
  bool conf_change = false;
  bool split = false;
};

// One client's loop: put the next key or scan back what it wrote.
struct ClientLoop {
  int cli = 0;
  int j = 0;
  std::string last;
  bool stop = false;
  bool idle = true;
  std::string failure;
};

void RunClient(Cluster& c, SimClient& client, ClientLoop& loop) {
  if (loop.stop || !loop.failure.empty()) {
    loop.idle = true;
    return;
  }
  loop.idle = false;
  if (c.rng().Chance(0.5)) {
    std::string value = ClientValue(loop.cli, loop.j);
    client.Put(ClientKey(loop.cli, loop.j), value, [&c, &client, &loop, value](Status s) {
      if (!s.ok()) {
        loop.failure = "put failed: " + s.ToString() + "; last error: " + client.last_error();
      } else {
        loop.last += value;
        ++loop.j;
      }
      c.After(c.rng().Uniform(20), [&c, &client, &loop] { RunClient(c, client, loop); });
    });
  } else {
    client.Scan(
        ClientKey(loop.cli, 0), ClientKey(loop.cli, loop.j),
        [&c, &client, &loop](Result<std::vector<std::pair<std::string, std::string>>> r) {
          if (!r.ok()) {
            loop.failure =
                "scan failed: " + r.status().ToString() + "; last error: " + client.last_error();
          } else {
            std::string v;
            for (auto& [k, val] : *r) v += val;
            if (v != loop.last) {
              loop.failure = fmt::format("client {} read\n{}\nwant\n{}", loop.cli, v, loop.last);
            }
          }
          c.After(c.rng().Uniform(20), [&c, &client, &loop] { RunClient(c, client, loop); });
        });
  }
}

// Random two-way partitions, each lasting an election timeout plus up to
// 200 ms, until stopped.
void RunPartitioner(Cluster& c, bool unreliable, std::shared_ptr<bool> stop) {
  if (*stop) return;
  std::vector<std::set<uint64_t>> groups(2);
  for (uint64_t s = 1; s <= static_cast<uint64_t>(c.NumStores()); ++s)
    groups[c.rng().Uniform(2)].insert(s);
  c.network().Partition(groups);
  NetworkOptions o = c.network().options();
  o.drop = unreliable ? 0.1 : 0;
  c.network().SetOptions(o);
  c.After(ElectionTimeoutMs(c) + c.rng().Uniform(200),
          [&c, unreliable, stop] { RunPartitioner(c, unreliable, stop); });
}

// Random membership changes: a random region and store; remove the store's
// peer if it has one (and the region more than one), else add one.
struct ConfChanger {
  std::shared_ptr<bool> stop = std::make_shared<bool>(false);
  bool idle = true;
};

void RunConfChanger(Cluster& c, SimClient& client, ConfChanger& cc) {
  if (*cc.stop) {
    cc.idle = true;
    return;
  }
  cc.idle = false;
  auto regions = c.scheduler().AllRegions();
  if (regions.empty()) {
    c.After(50, [&c, &client, &cc] { RunConfChanger(c, client, cc); });
    return;
  }
  const metapb::Region region = regions[c.rng().Uniform(regions.size())];
  uint64_t store = c.rng().Uniform(c.NumStores()) + 1;
  std::optional<metapb::Peer> existing;
  for (const auto& p : region.peers()) {
    if (p.store_id() == store) existing = p;
  }
  raft_cmdpb::AdminRequest admin;
  admin.set_cmd_type(raft_cmdpb::ChangePeer);
  if (existing) {
    if (region.peers_size() <= 1) {
      c.After(c.rng().Uniform(200), [&c, &client, &cc] { RunConfChanger(c, client, cc); });
      return;
    }
    admin.mutable_change_peer()->set_change_type(eraftpb::RemoveNode);
    *admin.mutable_change_peer()->mutable_peer() = *existing;
  } else {
    admin.mutable_change_peer()->set_change_type(eraftpb::AddNode);
    *admin.mutable_change_peer()->mutable_peer() = MakePeer(c.scheduler().AllocId(), store);
  }
  client.Admin(region.id(), admin, [&c, &client, &cc](raftstore::WriteResponse) {
    c.After(c.rng().Uniform(200), [&c, &client, &cc] { RunConfChanger(c, client, cc); });
  });
}

void GenericTest(const GenericParams& p) {
  ClusterOptions o = Options(5);
  if (p.max_raft_log > 0) o.raftstore.raft_log_gc_count_limit = p.max_raft_log;
  if (p.split) {
    o.raftstore.region_max_size = 300;
    o.raftstore.region_split_size = 200;
  }
  Cluster c(o);
  c.Start();
  uint64_t et = ElectionTimeoutMs(c);
  c.RunFor(2 * et);  // first election

  std::vector<std::unique_ptr<SimClient>> clients;
  for (int i = 0; i < p.clients; ++i) clients.push_back(std::make_unique<SimClient>(c, i + 1));
  SimClient admin_client(c, 1000);
  std::vector<ClientLoop> loops(p.clients);

  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(fmt::format("round {} (seed {})", round, c.options().seed));
    for (int i = 0; i < p.clients; ++i) {
      loops[i] = ClientLoop{};
      loops[i].cli = i;
      RunClient(c, *clients[i], loops[i]);
    }
    if (p.unreliable) {
      NetworkOptions n = c.network().options();
      n.drop = 0.1;
      c.network().SetOptions(n);
    }
    auto stop_partitioner = std::make_shared<bool>(false);
    if (p.partitions) {
      c.After(300,
              [&c, &p, stop_partitioner] { RunPartitioner(c, p.unreliable, stop_partitioner); });
    }
    ConfChanger changer;
    if (p.conf_change)
      c.After(100, [&c, &admin_client, &changer] { RunConfChanger(c, admin_client, changer); });

    c.RunFor(5'000);
    for (auto& l : loops) l.stop = true;
    *stop_partitioner = true;
    *changer.stop = true;
    if (p.partitions) {
      // A client may have sent a request into a minority: heal and let a new term start.
      c.network().Heal();
      c.RunFor(et);
    }
    ASSERT_TRUE(c.RunUntil(
        [&] {
          return std::all_of(loops.begin(), loops.end(),
                             [](const ClientLoop& l) { return l.idle; }) &&
                 changer.idle;
        },
        120'000))
        << "clients or the configuration changer did not finish; "
        << c.violation().value_or("no violation") << "\n"
        <<
        [&] {
          std::string out;
          for (size_t i = 0; i < loops.size(); ++i) {
            if (!loops[i].idle)
              out += fmt::format("client {} busy; {}\n", i, clients[i]->last_error());
          }
          if (!changer.idle) out += "changer busy; " + admin_client.last_error() + "\n";
          return out;
        }()
        << DescribeCluster(c);
    NetworkOptions n = c.network().options();
    n.drop = 0;
    c.network().SetOptions(n);
    c.network().Heal();
    for (auto& l : loops) ASSERT_TRUE(l.failure.empty()) << l.failure;
    ASSERT_FALSE(c.violation().has_value()) << *c.violation();

    if (p.crash) {
      for (uint64_t s = 1; s <= 5; ++s) c.StopStore(s);
      c.RunFor(et);
      for (uint64_t s = 1; s <= 5; ++s) c.StartStore(s);
    }

    for (int cli = 0; cli < p.clients; ++cli) {
      const ClientLoop& l = loops[cli];
      auto values = clients[cli]->MustScan(ClientKey(cli, 0), ClientKey(cli, l.j));
      ASSERT_TRUE(values.ok()) << values.status();
      // Every appended value, once and in order.
      std::string got;
      for (auto& [k, v] : *values) got += v;
      std::string want;
      for (int k = 0; k < l.j; ++k) want += ClientValue(cli, k);
      ASSERT_EQ(got, want) << "client " << cli;
      for (int k = 0; k < l.j; ++k) ASSERT_TRUE(clients[cli]->MustDelete(ClientKey(cli, k)).ok());
    }

    if (p.max_raft_log > 0) {
      c.RunFor(1'000);
      // The log is trimmed on every store, for every region.
      for (const metapb::Region& region : c.scheduler().AllRegions()) {
        for (uint64_t s = 1; s <= 5; ++s) {
          auto state = ApplyStateOn(c, s, region.id());
          if (!state) continue;
          uint64_t applied = state->applied_index(), truncated = state->truncated_state().index();
          EXPECT_LE(applied - truncated, 2u * p.max_raft_log)
              << "store " << s << " region " << region.id() << ": logs were not trimmed";
        }
      }
    }
    if (p.split) {
      auto first = c.scheduler().RegionByKey("");
      ASSERT_TRUE(first.has_value());
      EXPECT_FALSE(first->region.end_key().empty()) << "the region was not split\n" << DescribeCluster(c) << "asked for split ids " << c.scheduler().ask_split_calls() << " times";
    }
    ASSERT_FALSE(c.violation().has_value()) << *c.violation();
  }
}

// ---- 2B ----

TEST(Scenario2B, Basic) { GenericTest({.clients = 1}); }
TEST(Scenario2B, Concurrent) { GenericTest({.clients = 5}); }
TEST(Scenario2B, Unreliable) { GenericTest({.clients = 5, .unreliable = true}); }

// The leader in the majority serves; the old leader in a minority cannot,
// a new one is elected; after healing, the old leader catches up.
TEST(Scenario2B, OnePartition) {
  Cluster c(Options(5));
  c.Start();
  SimClient client(c, 1);
  ASSERT_TRUE(client.MustPut("k0", "v0").ok());
  uint64_t leader = LeaderStoreOf(c, 1);
  std::vector<uint64_t> s1 = {leader}, s2;
  for (uint64_t s = 1; s <= 5; ++s) {
    if (s == leader) continue;
    (s1.size() < 3 ? s1 : s2).push_back(s);
  }
  auto set = [](const std::vector<uint64_t>& v) { return std::set<uint64_t>(v.begin(), v.end()); };
  // The leader in the majority: the partition does not affect reads and writes.
  c.network().Partition({set(s1), set(s2)});
  ASSERT_TRUE(client.MustPut("k1", "v1").ok());
  EXPECT_EQ(**client.MustGet("k1"), "v1");
  EXPECT_TRUE(WaitEngineNone(c, s2[0], "k1", Cf::kDefault, 1'000));
  EXPECT_TRUE(WaitEngineNone(c, s2[1], "k1", Cf::kDefault, 1'000));
  c.network().Heal();
  // The old leader in a minority: a new leader is elected.
  s2.push_back(s1[2]);
  s1.resize(2);
  c.network().Partition({set(s1), set(s2)});
  EXPECT_EQ(**client.MustGet("k1"), "v1");
  ASSERT_TRUE(client.MustPut("k1", "changed").ok());
  EXPECT_TRUE(WaitEngineEquals(c, s1[0], "k1", "v1"));
  EXPECT_TRUE(WaitEngineEquals(c, s1[1], "k1", "v1"));
  c.network().Heal();
  // Healed: the old leader syncs.
  ASSERT_TRUE(client.MustPut("k2", "v2").ok());
  EXPECT_TRUE(WaitEngineEquals(c, s1[0], "k2", "v2"));
  EXPECT_TRUE(WaitEngineEquals(c, s1[0], "k1", "changed"));
  EXPECT_FALSE(c.violation().has_value()) << *c.violation();
}

TEST(Scenario2B, ManyPartitionsOneClient) { GenericTest({.clients = 1, .partitions = true}); }
TEST(Scenario2B, ManyPartitionsManyClients) { GenericTest({.clients = 5, .partitions = true}); }
TEST(Scenario2B, PersistOneClient) { GenericTest({.clients = 1, .crash = true}); }
TEST(Scenario2B, PersistConcurrent) { GenericTest({.clients = 5, .crash = true}); }
TEST(Scenario2B, PersistConcurrentUnreliable) {
  GenericTest({.clients = 5, .unreliable = true, .crash = true});
}
TEST(Scenario2B, PersistPartition) {
  GenericTest({.clients = 5, .crash = true, .partitions = true});
}
TEST(Scenario2B, PersistPartitionUnreliable) {
  GenericTest({.clients = 5, .unreliable = true, .crash = true, .partitions = true});
}

// ---- 2C ----

// A store isolated while the log is compacted catches up by snapshot; the
// log stays bounded after a restart.
TEST(Scenario2C, OneSnapshot) {
  ClusterOptions o = Options(3);
  o.raftstore.raft_log_gc_count_limit = 10;
  Cluster c(o);
  c.Start();
  SimClient client(c, 1);
  ASSERT_TRUE(client.MustPutCf("lock", "k1", "v1").ok());
  ASSERT_TRUE(client.MustPutCf("lock", "k2", "v2").ok());
  EXPECT_TRUE(WaitEngineEquals(c, 1, "k1", "v1", Cf::kLock));
  EXPECT_TRUE(WaitEngineEquals(c, 1, "k2", "v2", Cf::kLock));
  for (uint64_t s = 1; s <= 3; ++s) {
    auto state = ApplyStateOn(c, s, 1);
    ASSERT_TRUE(state.has_value());
    EXPECT_EQ(state->truncated_state().index(), raftstore::kRaftInitLogIndex);
    EXPECT_EQ(state->truncated_state().term(), raftstore::kRaftInitLogTerm);
  }
  c.network().Partition({{1}, {2, 3}});
  for (int i = 100; i < 115; ++i) {
    ASSERT_TRUE(client.MustPutCf("lock", fmt::format("k{}", i), fmt::format("v{}", i)).ok());
  }
  ASSERT_TRUE(client.MustDeleteCf("lock", "k2").ok());
  c.RunFor(500);
  EXPECT_TRUE(WaitEngineNone(c, 1, "k100", Cf::kLock, 1));
  c.network().Heal();
  // Now the snapshot must be applied on store 1.
  EXPECT_TRUE(WaitEngineEquals(c, 1, "k1", "v1", Cf::kLock));
  EXPECT_TRUE(WaitEngineEquals(c, 1, "k100", "v100", Cf::kLock));
  EXPECT_TRUE(WaitEngineNone(c, 1, "k2", Cf::kLock));
  c.StopStore(1);
  c.StartStore(1);
  EXPECT_TRUE(WaitEngineEquals(c, 1, "k1", "v1", Cf::kLock));
  c.RunFor(1'000);
  for (uint64_t s = 1; s <= 3; ++s) {
    auto state = ApplyStateOn(c, s, 1);
    ASSERT_TRUE(state.has_value());
    EXPECT_LE(state->applied_index() - state->truncated_state().index(), 2u * 10) << "store " << s;
  }
  EXPECT_FALSE(c.violation().has_value()) << *c.violation();
}

TEST(Scenario2C, SnapshotRecover) {
  GenericTest({.clients = 1, .crash = true, .max_raft_log = 100});
}
TEST(Scenario2C, SnapshotRecoverManyClients) {
  GenericTest({.clients = 20, .crash = true, .max_raft_log = 100});
}
TEST(Scenario2C, SnapshotUnreliable) {
  GenericTest({.clients = 5, .unreliable = true, .max_raft_log = 100});
}
TEST(Scenario2C, SnapshotUnreliableRecover) {
  GenericTest({.clients = 5, .unreliable = true, .crash = true, .max_raft_log = 100});
}
TEST(Scenario2C, SnapshotUnreliableRecoverConcurrentPartition) {
  GenericTest(
      {.clients = 5, .unreliable = true, .crash = true, .partitions = true, .max_raft_log = 100});
}

// ---- 3B ----

TEST(Scenario3B, TransferLeader) {
  Cluster c(Options(5));
  c.Start();
  SimClient client(c, 1);
  for (uint64_t s = 1; s <= 5; ++s)
    ASSERT_TRUE(MustTransferLeader(c, client, 1, MakePeer(s, s), 5'000)) << s;
}

// Peer ids are never reused (the scheduler allocates them): a replica added
// back to a store gets a new id, as a TiKV/PD cluster does. Messages still in
// flight to or from the old replica cannot then be taken for the new one's.
TEST(Scenario3B, BasicConfChange) {
  Cluster c(Options(5));
  c.Start();
  SimClient client(c, 1);
  auto fresh = [&](uint64_t store) { return MakePeer(c.scheduler().AllocId(), store); };
  ASSERT_TRUE(MustTransferLeader(c, client, 1, MakePeer(1, 1)));
  for (uint64_t s = 2; s <= 5; ++s) ASSERT_TRUE(MustRemovePeer(c, client, 1, MakePeer(s, s))) << s;
  // Region 1 has only peer (1, 1).
  ASSERT_TRUE(client.MustPut("k1", "v1").ok());
  EXPECT_TRUE(WaitEngineNone(c, 2, "k1", Cf::kDefault, 1));
  // Add a peer on store 2.
  metapb::Peer on2 = fresh(2);
  ASSERT_TRUE(MustAddPeer(c, client, 1, on2));
  ASSERT_TRUE(client.MustPut("k2", "v2").ok());
  EXPECT_EQ(**client.MustGet("k2"), "v2");
  EXPECT_TRUE(WaitEngineEquals(c, 2, "k1", "v1"));
  EXPECT_TRUE(WaitEngineEquals(c, 2, "k2", "v2"));
  EXPECT_GT(c.scheduler().RegionById(1)->region.region_epoch().conf_ver(), 1u);
  EXPECT_TRUE(WaitEngineNone(c, 5, "k1", Cf::kDefault, 1));  // peer 5 is gone
  // Add one on store 3, remove the one on store 2.
  metapb::Peer on3 = fresh(3);
  ASSERT_TRUE(MustAddPeer(c, client, 1, on3));
  ASSERT_TRUE(MustRemovePeer(c, client, 1, on2));
  ASSERT_TRUE(client.MustPut("k3", "v3").ok());
  EXPECT_EQ(**client.MustGet("k3"), "v3");
  EXPECT_TRUE(WaitEngineEquals(c, 3, "k1", "v1"));
  EXPECT_TRUE(WaitEngineEquals(c, 3, "k2", "v2"));
  EXPECT_TRUE(WaitEngineEquals(c, 3, "k3", "v3"));
  // Store 2 has nothing any more.
  EXPECT_TRUE(WaitEngineNone(c, 2, "k1"));
  EXPECT_TRUE(WaitEngineNone(c, 2, "k2"));
  // Store 2 gets a replica again.
  on2 = fresh(2);
  ASSERT_TRUE(MustAddPeer(c, client, 1, on2));
  EXPECT_TRUE(WaitEngineEquals(c, 2, "k1", "v1"));
  EXPECT_TRUE(WaitEngineEquals(c, 2, "k2", "v2"));
  EXPECT_TRUE(WaitEngineEquals(c, 2, "k3", "v3"));
  // Replace it by yet another one on the same store, and remove store 3's.
  ASSERT_TRUE(MustRemovePeer(c, client, 1, on2));
  ASSERT_TRUE(MustAddPeer(c, client, 1, fresh(2)));
  ASSERT_TRUE(MustRemovePeer(c, client, 1, on3));
  ASSERT_TRUE(client.MustPut("k4", "v4").ok());
  EXPECT_TRUE(WaitEngineEquals(c, 2, "k1", "v1"));
  EXPECT_TRUE(WaitEngineEquals(c, 2, "k4", "v4"));
  EXPECT_TRUE(WaitEngineNone(c, 3, "k1"));
  EXPECT_TRUE(WaitEngineNone(c, 3, "k4"));
  EXPECT_FALSE(c.violation().has_value()) << *c.violation();
}

// A second replica on a store that has one is refused.
TEST(Scenario3B, OneReplicaPerStore) {
  Cluster c(Options(3));
  c.Start();
  SimClient client(c, 1);
  ASSERT_TRUE(client.MustPut("k", "v").ok());
  uint64_t conf_ver = c.scheduler().RegionById(1)->region.region_epoch().conf_ver();
  EXPECT_FALSE(MustAddPeer(c, client, 1, MakePeer(c.scheduler().AllocId(), 2), 2'000));
  EXPECT_EQ(c.scheduler().RegionById(1)->region.region_epoch().conf_ver(), conf_ver);
  EXPECT_EQ(c.scheduler().RegionById(1)->region.peers_size(), 3);
}

// Removing the leader works, also from a two-member region.
TEST(Scenario3B, ConfChangeRemoveLeader) {
  Cluster c(Options(5));
  c.Start();
  SimClient client(c, 1);
  auto fresh = [&](uint64_t store) { return MakePeer(c.scheduler().AllocId(), store); };
  ASSERT_TRUE(MustTransferLeader(c, client, 1, MakePeer(1, 1)));
  // Remove store 1's replica and put (k0, v0): store 1 cannot see it.
  ASSERT_TRUE(MustRemovePeer(c, client, 1, MakePeer(1, 1)));
  ASSERT_TRUE(client.MustPut("k0", "v0").ok());
  EXPECT_TRUE(WaitEngineNone(c, 1, "k0", Cf::kDefault, 1));
  // Rejoin and lead: now store 1 sees it.
  metapb::Peer on1 = fresh(1);
  ASSERT_TRUE(MustAddPeer(c, client, 1, on1));
  ASSERT_TRUE(MustTransferLeader(c, client, 1, on1));
  ASSERT_TRUE(client.MustPut("k1", "v1").ok());
  EXPECT_TRUE(WaitEngineEquals(c, 1, "k0", "v0"));
  EXPECT_TRUE(WaitEngineEquals(c, 1, "k1", "v1"));
  for (uint64_t s = 2; s <= 4; ++s) ASSERT_TRUE(MustRemovePeer(c, client, 1, MakePeer(s, s))) << s;
  // Only store 1's and (5, 5) are left; remove the leader.
  ASSERT_TRUE(MustTransferLeader(c, client, 1, on1));
  ASSERT_TRUE(MustRemovePeer(c, client, 1, on1));
  ASSERT_TRUE(client.MustPut("k2", "v2").ok());
  EXPECT_TRUE(WaitEngineEquals(c, 5, "k2", "v2"));
  EXPECT_TRUE(WaitEngineNone(c, 1, "k2", Cf::kDefault, 1));
  // And back again.
  ASSERT_TRUE(MustAddPeer(c, client, 1, fresh(1)));
  ASSERT_TRUE(client.MustPut("k3", "v3").ok());
  EXPECT_TRUE(WaitEngineEquals(c, 1, "k3", "v3"));
  EXPECT_FALSE(c.violation().has_value()) << *c.violation();
}

TEST(Scenario3B, ConfChangeRecover) {
  GenericTest({.clients = 1, .crash = true, .conf_change = true});
}
TEST(Scenario3B, ConfChangeRecoverManyClients) {
  GenericTest({.clients = 20, .crash = true, .conf_change = true});
}
TEST(Scenario3B, ConfChangeUnreliable) {
  GenericTest({.clients = 5, .unreliable = true, .conf_change = true});
}
TEST(Scenario3B, ConfChangeUnreliableRecover) {
  GenericTest({.clients = 5, .unreliable = true, .crash = true, .conf_change = true});
}
TEST(Scenario3B, ConfChangeSnapshotUnreliableRecover) {
  GenericTest(
      {.clients = 5, .unreliable = true, .crash = true, .max_raft_log = 100, .conf_change = true});
}
TEST(Scenario3B, ConfChangeSnapshotUnreliableRecoverConcurrentPartition) {
  GenericTest({.clients = 5,
               .unreliable = true,
               .crash = true,
               .partitions = true,
               .max_raft_log = 100,
               .conf_change = true});
}

// A split leaves two adjacent regions that both serve; a store isolated
// during the split catches up.
// Regions that split after about 100 small keys.
ClusterOptions SmallRegions(ClusterOptions o) {
  o.raftstore.region_max_size = 800;
  o.raftstore.region_split_size = 500;
  return o;
}

// A region that needs a split whose attempt fails is checked again, even
// when nothing more is written to it (here the scheduler refuses ids until well after the last write;
// in a real cluster a membership change during the check did the same).
TEST(Scenario3B, AFailedSplitAttemptIsRetriedWithoutNewWrites) {
  Cluster c(SmallRegions(Options(3)));
  c.Start();
  SimClient client(c, 1);
  c.scheduler().FailAskSplit(1'000'000);
  for (int i = 100; i < 250; ++i)  // 1,200 bytes
    ASSERT_TRUE(client.MustPut(fmt::format("k{}", i), fmt::format("v{}", i)).ok());
  c.RunFor(1'000);  // split ticks every 100 ms: every attempt after the last write fails too
  int failed = c.scheduler().ask_split_calls();
  ASSERT_GT(failed, 0);
  c.scheduler().FailAskSplit(0);
  ASSERT_TRUE(c.RunUntil([&] { return c.scheduler().AllRegions().size() >= 2; }, 10'000))
      << "asked for ids " << c.scheduler().ask_split_calls() << " times\n"
      << DescribeCluster(c);
  EXPECT_GT(c.scheduler().ask_split_calls(), failed);
}

TEST(Scenario3B, OneSplit) {
  Cluster c(SmallRegions(Options(5)));
  c.Start();
  SimClient client(c, 1);
  ASSERT_TRUE(client.MustPut("k1", "v1").ok());
  ASSERT_TRUE(client.MustPut("k2", "v2").ok());
  metapb::Region region = c.scheduler().RegionByKey("k1")->region;
  c.network().Partition({{1, 2, 3, 4}, {5}});
  for (int i = 100; i < 200; ++i)
    ASSERT_TRUE(client.MustPut(fmt::format("k{}", i), fmt::format("v{}", i)).ok());
  c.RunFor(200);
  c.network().Heal();
  ASSERT_TRUE(c.RunUntil(
      [&] {
        auto l = c.scheduler().RegionByKey("k1");
        auto r = c.scheduler().RegionByKey("k2");
        return l && r && l->region.id() != r->region.id();
      },
      10'000));
  metapb::Region left = c.scheduler().RegionByKey("k1")->region;
  metapb::Region right = c.scheduler().RegionByKey("k2")->region;
  EXPECT_NE(left.id(), right.id());
  EXPECT_EQ(left.start_key(), region.start_key());
  EXPECT_EQ(left.end_key(), right.start_key());
  EXPECT_EQ(right.end_key(), region.end_key());
  // A write of k2 to the left region is refused with KeyNotInRegion.
  raft_cmdpb::RaftCmdRequest req;
  req.mutable_header()->set_region_id(left.id());
  *req.mutable_header()->mutable_region_epoch() = left.region_epoch();
  auto* put = req.add_requests();
  put->set_cmd_type(raft_cmdpb::Put);
  put->mutable_put()->set_key("k2");
  put->mutable_put()->set_value("x");
  std::optional<raftstore::WriteResponse> resp;
  ASSERT_TRUE(c.RunUntil([&] { return LeaderStoreOf(c, left.id()) != 0; }, 10'000));
  uint64_t leader = LeaderStoreOf(c, left.id());
  for (const auto& p : left.peers()) {
    if (p.store_id() == leader) *req.mutable_header()->mutable_peer() = p;
  }
  c.Propose(leader, req, [&](raftstore::WriteResponse r) { resp = std::move(r); });
  ASSERT_TRUE(c.RunUntil([&] { return resp.has_value(); }, 10'000));
  ASSERT_TRUE(resp->region_error.has_value());
  EXPECT_TRUE(resp->region_error->has_key_not_in_region())
      << resp->region_error->ShortDebugString();
  EXPECT_TRUE(WaitEngineEquals(c, 5, "k100", "v100"));
  EXPECT_FALSE(c.violation().has_value()) << *c.violation();
}

TEST(Scenario3B, SplitRecover) { GenericTest({.clients = 1, .crash = true, .split = true}); }
TEST(Scenario3B, SplitRecoverManyClients) {
  GenericTest({.clients = 20, .crash = true, .split = true});
}
TEST(Scenario3B, SplitUnreliable) {
  GenericTest({.clients = 5, .unreliable = true, .split = true});
}
TEST(Scenario3B, SplitUnreliableRecover) {
  GenericTest({.clients = 5, .unreliable = true, .crash = true, .split = true});
}
TEST(Scenario3B, SplitConfChangeSnapshotUnreliableRecover) {
  GenericTest({.clients = 5,
               .unreliable = true,
               .crash = true,
               .max_raft_log = 100,
               .conf_change = true,
               .split = true});
}
TEST(Scenario3B, SplitConfChangeSnapshotUnreliableRecoverConcurrentPartition) {
  GenericTest({.clients = 5,
               .unreliable = true,
               .crash = true,
               .partitions = true,
               .max_raft_log = 100,
               .conf_change = true,
               .split = true});
}

}  // namespace
}  // namespace tinykv::cluster
