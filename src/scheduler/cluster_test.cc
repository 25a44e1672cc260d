// The scheduler core: bootstrap, stores, the 3C heartbeat rules, persistence
// across restarts, operators and the coordinator.
#include "scheduler/cluster.h"

#include <gtest/gtest.h>

#include "scheduler/test_util.h"
#include "storage/mem/mem_engine.h"

namespace tinykv::scheduler {
namespace {

using testutil::Heartbeat;
using testutil::Peer;
using testutil::Region;

metapb::Store MakeStore(uint64_t id) {
  metapb::Store s;
  s.set_id(id);
  s.set_address("127.0.0.1:" + std::to_string(20160 + id));
  return s;
}

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  void Open() {
    c_.reset();
    ClusterDeps deps;
    deps.config = config_;
    deps.engine = &engine_;
    deps.clock = &clock_;
    deps.wall = &wall_;
    auto c = Cluster::Open(deps);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    c_ = std::move(c).value();
  }

  // Bootstraps with store 1 and adds stores 2..n, all heartbeating.
  void BootstrapStores(int n, const metapb::Region* first = nullptr) {
    ASSERT_FALSE(c_->Bootstrap(MakeStore(1), first));
    for (int i = 2; i <= n; ++i) ASSERT_FALSE(c_->PutStore(MakeStore(i)));
    HeartbeatStores();
  }

  void HeartbeatStores() {
    for (const auto& [id, s] : c_->stores()) {
      if (s.meta.state() == metapb::Tombstone) continue;
      schedulerpb::StoreStats st;
      st.set_store_id(id);
      ASSERT_FALSE(c_->StoreHeartbeat(st)) << "store " << id;
    }
  }

  SStatus Report(const metapb::Region& r, int leader = 0, uint64_t size = 0,
                 std::vector<metapb::Peer> pending = {}) {
    return c_->RegionHeartbeat(Heartbeat(r, leader, size, std::move(pending)));
  }

  // Store `dead` stops heartbeating while the others go on (and `r` keeps
  // reporting), until it has been silent longer than max-store-down-time.
  void LetStoreGoDown(uint64_t dead, const metapb::Region& r) {
    for (int i = 0; i < 4; ++i) {
      clock_.Advance(config_.max_store_down_time_ms / 3);
      for (const auto& [id, st] : c_->stores()) {
        if (id == dead || st.meta.state() == metapb::Tombstone) continue;
        schedulerpb::StoreStats stats;
        stats.set_store_id(id);
        ASSERT_FALSE(c_->StoreHeartbeat(stats));
      }
      ASSERT_FALSE(Report(r));
    }
  }

  // The 3C setup: 3 stores, 3 regions of 3 peers each.
  void ThreeRegions() {
    BootstrapStores(3);
    regions_ = {Region(1, "", "g", 1, 1, {{11, 1}, {12, 2}, {13, 3}}),
                Region(2, "g", "p", 1, 1, {{21, 1}, {22, 2}, {23, 3}}),
                Region(3, "p", "", 1, 1, {{31, 1}, {32, 2}, {33, 3}})};
    for (size_t i = 0; i < regions_.size(); ++i) {
      ASSERT_FALSE(Report(regions_[i], static_cast<int>(i), 10 * (i + 1)));
    }
  }

  // The tree's per-store counts equal a count over the regions.
  void CheckRegions() {
    std::map<uint64_t, std::pair<uint32_t, uint32_t>> want;  // store -> (regions, leaders)
    for (const auto& [id, r] : c_->regions().all()) {
      for (const auto& p : r.meta.peers()) {
        ++want[p.store_id()].first;
        if (p.id() == r.leader.id()) ++want[p.store_id()].second;
      }
    }
    for (const auto& [store, counts] : want) {
      auto st = c_->regions().StoreStats(store);
      EXPECT_EQ(st.region_count, counts.first) << "store " << store;
      EXPECT_EQ(st.leader_count, counts.second) << "store " << store;
    }
  }

  SchedulerConfig config_;
  storage::MemEngine engine_;
  ManualClock clock_{1'000'000};
  ManualClock wall_{1'750'000'000'000};
  std::unique_ptr<Cluster> c_;
  std::vector<metapb::Region> regions_;
};

// ---- Bootstrap, ids, stores ----

TEST_F(ClusterTest, BootstrapOnceThenAlreadyBootstrapped) {
  EXPECT_FALSE(c_->bootstrapped());
  EXPECT_EQ(c_->PutStore(MakeStore(2))->type, schedulerpb::NOT_BOOTSTRAPPED);
  auto first = Region(2, "", "", 1, 1, {{3, 1}});
  ASSERT_FALSE(c_->Bootstrap(MakeStore(1), &first));
  EXPECT_TRUE(c_->bootstrapped());
  auto another = Region(9, "", "", 1, 1, {{10, 1}});
  SStatus again = c_->Bootstrap(MakeStore(1), &another);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->type, schedulerpb::ALREADY_BOOTSTRAPPED);
  ASSERT_NE(c_->GetRegionByKey("anything"), nullptr);
  EXPECT_EQ(c_->GetRegionByKey("anything")->id(), 2u);
  EXPECT_EQ(c_->ClusterConfig().max_peer_count(), 3u);
}

TEST_F(ClusterTest, BootstrapRejectsBadFirstRegion) {
  auto partial = Region(2, "a", "", 1, 1, {{3, 1}});
  EXPECT_TRUE(c_->Bootstrap(MakeStore(1), &partial));
  auto elsewhere = Region(2, "", "", 1, 1, {{3, 9}});
  EXPECT_TRUE(c_->Bootstrap(MakeStore(1), &elsewhere));
  EXPECT_FALSE(c_->bootstrapped());
}

TEST_F(ClusterTest, AllocIdIsUniqueAcrossRestarts) {
  std::set<uint64_t> ids;
  for (int i = 0; i < 2500; ++i) ids.insert(*c_->AllocId());
  Open();
  for (int i = 0; i < 10; ++i) {
    uint64_t id = *c_->AllocId();
    EXPECT_TRUE(ids.insert(id).second) << "id " << id << " handed out twice";
    EXPECT_GT(id, 2500u);
  }
}

TEST_F(ClusterTest, ClusterIdIsKeptAcrossRestarts) {
  uint64_t id = c_->cluster_id();
  EXPECT_NE(id, 0u);
  Open();
  EXPECT_EQ(c_->cluster_id(), id);
}

TEST_F(ClusterTest, PutStoreRules) {
  BootstrapStores(2);
  // Another store may not take a live store's address.
  metapb::Store dup = MakeStore(3);
  dup.set_address(MakeStore(2).address());
  EXPECT_TRUE(c_->PutStore(dup));
  // A restarted store at a new address is fine.
  metapb::Store moved = MakeStore(2);
  moved.set_address("127.0.0.1:30000");
  EXPECT_FALSE(c_->PutStore(moved));
  EXPECT_EQ(c_->GetStore(2)->meta.address(), "127.0.0.1:30000");
  EXPECT_FALSE(c_->GetStore(99).has_value());
}

TEST_F(ClusterTest, StoresAndConfigSurviveRestart) {
  BootstrapStores(3);
  metapb::Cluster cfg;
  cfg.set_max_peer_count(5);
  ASSERT_FALSE(c_->PutClusterConfig(cfg));
  ASSERT_EQ(*c_->UpdateGcSafePoint(77), 77u);
  EXPECT_EQ(*c_->UpdateGcSafePoint(50), 77u);  // never back
  Open();
  EXPECT_TRUE(c_->bootstrapped());
  EXPECT_EQ(c_->AllStores(false).size(), 3u);
  EXPECT_EQ(c_->ClusterConfig().max_peer_count(), 5u);
  EXPECT_EQ(c_->GcSafePoint(), 77u);
}

TEST_F(ClusterTest, RegionsSurviveRestartAndAreNotScheduledUntilTheyReport) {
  ThreeRegions();
  Open();
  ASSERT_EQ(c_->regions().size(), 3u);
  EXPECT_EQ(c_->GetRegionByKey("h")->id(), 2u);
  EXPECT_EQ(c_->GetRegionByKey("h")->last_heartbeat_ms, 0u);
  EXPECT_FALSE(Schedulable(*c_->GetRegionById(2)));
  EXPECT_FALSE(c_->Prepared());
  HeartbeatStores();
  for (const auto& r : regions_) ASSERT_FALSE(Report(r));
  EXPECT_TRUE(c_->Prepared());
}

TEST_F(ClusterTest, StoreHeartbeatOfUnknownOrTombstoneStoreIsRefused) {
  BootstrapStores(4);
  schedulerpb::StoreStats st;
  st.set_store_id(42);
  EXPECT_TRUE(c_->StoreHeartbeat(st));
  ASSERT_TRUE(c_->RemoveStore(4).has_value());
  c_->Tick();  // holds no regions: becomes a tombstone
  EXPECT_EQ(c_->GetStore(4)->meta.state(), metapb::Tombstone);
  st.set_store_id(4);
  EXPECT_EQ(c_->StoreHeartbeat(st)->type, schedulerpb::STORE_TOMBSTONE);
  EXPECT_EQ(c_->PutStore(MakeStore(4))->type, schedulerpb::STORE_TOMBSTONE);
  EXPECT_EQ(c_->AllStores(true).size(), 3u);
}

TEST_F(ClusterTest, RemoveStoreRefusedWhenTooFewWouldRemain) {
  BootstrapStores(3);
  auto r = c_->RemoveStore(3);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("only 2 other stores"), std::string::npos);
}

// ---- The 3C heartbeat rules ----

TEST_F(ClusterTest, RegionNotUpdate3C) {
  ThreeRegions();
  std::string before;
  for (const auto& [id, r] : c_->regions().all()) before += r.meta.SerializeAsString();
  for (size_t i = 0; i < regions_.size(); ++i)
    ASSERT_FALSE(Report(regions_[i], static_cast<int>(i), 10 * (i + 1)));
  std::string after;
  for (const auto& [id, r] : c_->regions().all()) after += r.meta.SerializeAsString();
  EXPECT_EQ(before, after);
  CheckRegions();
}

TEST_F(ClusterTest, RegionUpdateVersion3C) {
  ThreeRegions();
  auto r = regions_[0];
  r.mutable_region_epoch()->set_version(2);
  ASSERT_FALSE(Report(r));
  EXPECT_EQ(c_->GetRegionById(1)->meta.region_epoch().version(), 2u);
  CheckRegions();
}

TEST_F(ClusterTest, RegionWithStaleVersion3C) {
  ThreeRegions();
  auto r = regions_[0];
  r.mutable_region_epoch()->set_version(2);
  ASSERT_FALSE(Report(r));
  auto stale = regions_[0];  // version 1, conf_ver + 1
  stale.mutable_region_epoch()->set_conf_ver(2);
  EXPECT_TRUE(Report(stale));
  EXPECT_EQ(c_->GetRegionById(1)->meta.region_epoch().version(), 2u);
  EXPECT_EQ(c_->GetRegionById(1)->meta.region_epoch().conf_ver(), 1u);
}

TEST_F(ClusterTest, RegionUpdateVersionAndConfver3C) {
  ThreeRegions();
  auto r = regions_[0];
  r.mutable_region_epoch()->set_version(2);
  r.mutable_region_epoch()->set_conf_ver(2);
  ASSERT_FALSE(Report(r));
  EXPECT_EQ(c_->GetRegionById(1)->meta.region_epoch().conf_ver(), 2u);
}

TEST_F(ClusterTest, RegionWithStaleConfVer3C) {
  ThreeRegions();
  auto r = regions_[0];
  r.mutable_region_epoch()->set_conf_ver(2);
  ASSERT_FALSE(Report(r));
  auto stale = regions_[0];
  stale.mutable_region_epoch()->set_version(2);  // conf_ver 1 < 2
  EXPECT_TRUE(Report(stale));
  EXPECT_EQ(c_->GetRegionById(1)->meta.region_epoch().conf_ver(), 2u);
}

TEST_F(ClusterTest, RegionAddPendingPeer3C) {
  ThreeRegions();
  ASSERT_FALSE(Report(regions_[0], 0, 10, {Peer(12, 2)}));
  EXPECT_TRUE(c_->GetRegionById(1)->IsPending(12));
  EXPECT_EQ(c_->regions().StoreStats(2).pending_count, 1u);
  EXPECT_EQ(c_->regions().StoreStats(3).pending_count, 0u);
}

TEST_F(ClusterTest, RegionRemovePendingPeer3C) {
  ThreeRegions();
  ASSERT_FALSE(Report(regions_[0], 0, 10, {Peer(12, 2), Peer(13, 3)}));
  EXPECT_EQ(c_->regions().StoreStats(3).pending_count, 1u);
  ASSERT_FALSE(Report(regions_[0], 0, 10));
  for (uint64_t s = 1; s <= 3; ++s) EXPECT_EQ(c_->regions().StoreStats(s).pending_count, 0u);
}

TEST_F(ClusterTest, RegionRemovePeers3C) {
  ThreeRegions();
  auto r = regions_[0];
  r.mutable_peers()->RemoveLast();  // same epoch, fewer peers: applied
  ASSERT_FALSE(Report(r));
  EXPECT_EQ(c_->GetRegionById(1)->meta.peers_size(), 2);
  EXPECT_EQ(c_->regions().StoreStats(3).region_count, 2u);
  CheckRegions();
}

TEST_F(ClusterTest, RegionAddBackPeers3C) {
  ThreeRegions();
  auto cut = regions_[0];
  cut.mutable_peers()->RemoveLast();
  ASSERT_FALSE(Report(cut));
  ASSERT_FALSE(Report(regions_[0]));
  EXPECT_EQ(c_->GetRegionById(1)->meta.peers_size(), 3);
  EXPECT_EQ(c_->regions().StoreStats(3).region_count, 3u);
  CheckRegions();
}

TEST_F(ClusterTest, RegionChangeLeader3C) {
  ThreeRegions();
  ASSERT_FALSE(Report(regions_[0], 2, 10));
  EXPECT_EQ(c_->GetRegionById(1)->leader.id(), 13u);
  EXPECT_EQ(c_->regions().StoreStats(1).leader_count, 0u);
  EXPECT_EQ(c_->regions().StoreStats(3).leader_count, 2u);
  CheckRegions();
}

TEST_F(ClusterTest, RegionChangeApproximateSize3C) {
  ThreeRegions();
  ASSERT_FALSE(Report(regions_[0], 0, 1234));
  EXPECT_EQ(c_->GetRegionById(1)->approximate_size, 1234u);
  EXPECT_EQ(c_->regions().StoreStats(2).region_size, 1234u + 20 + 30);
}

TEST_F(ClusterTest, RegionCountsAndAccessors3C) {
  ThreeRegions();
  EXPECT_EQ(c_->regions().size(), 3u);
  EXPECT_EQ(c_->ScanRegions("", "", 0).size(), 3u);
  EXPECT_EQ(c_->ScanRegions("h", "", 0).size(), 2u);
  EXPECT_EQ(c_->GetRegionByKey("a")->id(), 1u);
  EXPECT_EQ(c_->GetPrevRegion("h")->id(), 1u);
  EXPECT_EQ(c_->GetRegionById(3)->meta.start_key(), "p");
  EXPECT_EQ(c_->AllStores(false).size(), 3u);
  for (uint64_t s = 1; s <= 3; ++s) {
    auto st = c_->regions().StoreStats(s);
    EXPECT_EQ(st.region_count, 3u);
    EXPECT_EQ(st.leader_count, 1u);
    EXPECT_EQ(st.region_size, 60u);
  }
  CheckRegions();
}

TEST_F(ClusterTest, HeartbeatSplit3C) {
  BootstrapStores(1);
  auto whole = Region(1, "", "", 1, 1, {{11, 1}});
  ASSERT_FALSE(Report(whole));
  auto left = Region(1, "", "m", 1, 2, {{11, 1}});
  auto right = Region(2, "m", "", 1, 2, {{21, 1}});
  // The right half reports first: it replaces the parent, leaving a gap.
  ASSERT_FALSE(Report(right));
  EXPECT_EQ(c_->GetRegionByKey("a"), nullptr);
  EXPECT_EQ(c_->GetRegionByKey("x")->id(), 2u);
  // The stale parent may no longer report.
  EXPECT_TRUE(Report(whole));
  ASSERT_FALSE(Report(left));
  EXPECT_EQ(c_->GetRegionByKey("a")->id(), 1u);
  EXPECT_EQ(c_->regions().size(), 2u);
  CheckRegions();
}

TEST_F(ClusterTest, RegionSplitAndMerge3C) {
  BootstrapStores(1);
  ASSERT_FALSE(Report(Region(1, "", "", 1, 1, {{1000, 1}})));
  uint64_t version = 1, next_id = 2;
  // Split every region at its middle key 7 times, then merge back 7 times.
  std::vector<std::pair<std::string, std::string>> ranges = {{"", ""}};
  std::vector<uint64_t> ids = {1};
  auto key = [](uint32_t v) { return std::string{static_cast<char>(v >> 8), static_cast<char>(v)}; };
  for (int depth = 1; depth <= 7; ++depth) {
    ++version;
    uint32_t n = 1u << depth, width = (1u << 16) >> depth;
    std::vector<uint64_t> next_ids;
    for (uint32_t i = 0; i < n; ++i) {
      uint64_t id = (i % 2 == 0) ? ids[i / 2] : next_id++;
      next_ids.push_back(id);
      auto r = Region(id, i == 0 ? "" : key(i * width), i + 1 == n ? "" : key((i + 1) * width), 1,
                      version, {{id * 100, 1}});
      ASSERT_FALSE(Report(r)) << "depth " << depth << " region " << id;
    }
    ids = next_ids;
    ASSERT_EQ(c_->regions().size(), n);
    for (uint32_t i = 0; i < n; ++i) ASSERT_EQ(c_->GetRegionByKey(key(i * width))->id(), ids[i]);
  }
  for (int depth = 6; depth >= 0; --depth) {
    ++version;
    uint32_t n = 1u << depth, width = (1u << 16) >> depth;
    std::vector<uint64_t> next_ids;
    for (uint32_t i = 0; i < n; ++i) {
      uint64_t id = ids[2 * i];
      next_ids.push_back(id);
      auto r = Region(id, i == 0 ? "" : key(i * width), i + 1 == n ? "" : key((i + 1) * width), 1,
                      version, {{id * 100, 1}});
      ASSERT_FALSE(Report(r)) << "depth " << depth << " region " << id;
    }
    ids = next_ids;
    ASSERT_EQ(c_->regions().size(), n);
    for (uint32_t i = 0; i < n; ++i) ASSERT_EQ(c_->GetRegionById(ids[i])->meta.start_key(), i == 0 ? "" : key(i * width));
  }
  CheckRegions();
}

TEST_F(ClusterTest, HeartbeatWithLeaderNotAMemberIsRefused) {
  ThreeRegions();
  auto hb = Heartbeat(regions_[0]);
  hb.leader = Peer(99, 9);
  EXPECT_TRUE(c_->RegionHeartbeat(hb));
}

TEST_F(ClusterTest, AskSplitHandsOutFreshIds) {
  ThreeRegions();
  auto resp = c_->AskSplit(regions_[0]);
  ASSERT_TRUE(resp.has_value());
  EXPECT_EQ(resp->new_peer_ids_size(), 3);
  std::set<uint64_t> ids = {resp->new_region_id()};
  for (uint64_t id : resp->new_peer_ids()) ids.insert(id);
  EXPECT_EQ(ids.size(), 4u);
  auto unknown = Region(77, "zz", "zzz", 1, 1, {{1, 1}});
  c_->ScanRegions("", "", 0);
  EXPECT_FALSE(c_->AskSplit(Region(77, "", "", 1, 1, {})).has_value());
}

// ---- Operators ----

TEST_F(ClusterTest, AdminTransferLeaderIsSentAndFinishes) {
  ThreeRegions();
  (void)c_->TakeCommands();
  AdminOp op{AdminOp::kTransferLeader, 2, {}};
  ASSERT_TRUE(c_->AddOperator(1, op).has_value());
  auto cmds = c_->TakeCommands();
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].store_id, 1u);  // the leader's store
  EXPECT_EQ(cmds[0].response.transfer_leader().peer().id(), 12u);
  EXPECT_EQ(c_->GetOperator(1)->status, schedulerpb::RUNNING);
  // Still led by store 1: the command is repeated.
  ASSERT_FALSE(Report(regions_[0], 0));
  EXPECT_EQ(c_->TakeCommands().size(), 1u);
  ASSERT_FALSE(Report(regions_[0], 1));
  EXPECT_TRUE(c_->TakeCommands().empty());
  EXPECT_EQ(c_->GetOperator(1)->status, schedulerpb::SUCCESS);
}

TEST_F(ClusterTest, AdminOperatorsValidateTheirTargets) {
  ThreeRegions();
  EXPECT_FALSE(c_->AddOperator(1, {AdminOp::kTransferLeader, 1, {}}).has_value());  // leads
  EXPECT_FALSE(c_->AddOperator(1, {AdminOp::kAddPeer, 2, {}}).has_value());  // has one
  EXPECT_FALSE(c_->AddOperator(1, {AdminOp::kRemovePeer, 9, {}}).has_value());
  EXPECT_FALSE(c_->AddOperator(1, {AdminOp::kSplit, 0, {"z"}}).has_value());  // outside
  EXPECT_EQ(c_->AddOperator(99, {AdminOp::kSplit, 0, {}}).error().type,
            schedulerpb::REGION_NOT_FOUND);
  ASSERT_TRUE(c_->AddOperator(1, {AdminOp::kSplit, 0, {"c"}}).has_value());
  // One operator per region.
  EXPECT_FALSE(c_->AddOperator(1, {AdminOp::kTransferLeader, 2, {}}).has_value());
}

TEST_F(ClusterTest, AddPeerWaitsUntilTheNewPeerCaughtUp) {
  BootstrapStores(4);
  auto r = Region(1, "", "", 1, 1, {{11, 1}, {12, 2}, {13, 3}});
  ASSERT_FALSE(Report(r));
  ASSERT_TRUE(c_->AddOperator(1, {AdminOp::kAddPeer, 4, {}}).has_value());
  auto cmds = c_->TakeCommands();
  ASSERT_EQ(cmds.size(), 1u);
  ASSERT_EQ(cmds[0].response.change_peer().change_type(), eraftpb::AddNode);
  metapb::Peer added = cmds[0].response.change_peer().peer();
  EXPECT_EQ(added.store_id(), 4u);
  auto grown = r;
  *grown.add_peers() = added;
  grown.mutable_region_epoch()->set_conf_ver(2);
  ASSERT_FALSE(Report(grown, 0, 0, {added}));  // a member, still pending
  EXPECT_EQ(c_->GetOperator(1)->status, schedulerpb::RUNNING);
  ASSERT_FALSE(Report(grown));
  EXPECT_EQ(c_->GetOperator(1)->status, schedulerpb::SUCCESS);
}

TEST_F(ClusterTest, RemovingTheLeaderTransfersLeadershipFirst) {
  ThreeRegions();
  (void)c_->TakeCommands();
  ASSERT_TRUE(c_->AddOperator(1, {AdminOp::kRemovePeer, 1, {}}).has_value());
  auto cmds = c_->TakeCommands();
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_TRUE(cmds[0].response.has_transfer_leader());
  ASSERT_FALSE(Report(regions_[0], 1));  // store 2 leads now
  cmds = c_->TakeCommands();
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].store_id, 2u);
  EXPECT_EQ(cmds[0].response.change_peer().change_type(), eraftpb::RemoveNode);
  EXPECT_EQ(cmds[0].response.change_peer().peer().id(), 11u);
}

TEST_F(ClusterTest, OperatorTimesOut) {
  ThreeRegions();
  ASSERT_TRUE(c_->AddOperator(1, {AdminOp::kTransferLeader, 2, {}}).has_value());
  clock_.Advance(config_.leader_operator_timeout_ms + 1);
  c_->Tick();
  EXPECT_EQ(c_->GetOperator(1)->status, schedulerpb::TIMEOUT);
  EXPECT_TRUE(c_->operators().empty());
}

TEST_F(ClusterTest, OperatorIsCancelledWhenTheRegionSplitsUnderIt) {
  ThreeRegions();
  ASSERT_TRUE(c_->AddOperator(1, {AdminOp::kTransferLeader, 2, {}}).has_value());
  auto split = Region(1, "", "c", 1, 2, {{11, 1}, {12, 2}, {13, 3}});
  ASSERT_FALSE(Report(split));
  EXPECT_EQ(c_->GetOperator(1)->status, schedulerpb::CANCEL);
}

TEST_F(ClusterTest, SplitOperatorFinishesWhenTheVersionGrows) {
  ThreeRegions();
  (void)c_->TakeCommands();
  ASSERT_TRUE(c_->AddOperator(1, {AdminOp::kSplit, 0, {"c"}}).has_value());
  auto cmds = c_->TakeCommands();
  ASSERT_EQ(cmds.size(), 1u);
  ASSERT_EQ(cmds[0].response.split_region().keys_size(), 1);
  EXPECT_EQ(cmds[0].response.split_region().keys(0), "c");
  ASSERT_FALSE(Report(Region(1, "", "c", 1, 2, {{11, 1}, {12, 2}, {13, 3}})));
  EXPECT_EQ(c_->GetOperator(1)->status, schedulerpb::SUCCESS);
}

TEST_F(ClusterTest, SplitElsewhereCancelsASplitOperator) {
  ThreeRegions();
  ASSERT_TRUE(c_->AddOperator(1, {AdminOp::kSplit, 0, {"c"}}).has_value());
  ASSERT_FALSE(Report(Region(1, "", "b", 1, 2, {{11, 1}, {12, 2}, {13, 3}})));
  EXPECT_EQ(c_->GetOperator(1)->status, schedulerpb::CANCEL);
  EXPECT_FALSE(c_->AddOperator(1, {AdminOp::kSplit, 0, {"a", "aa"}}).has_value());
}

TEST_F(ClusterTest, AddPeerIsNotSentAgainWhileTheNewMemberCatchesUp) {
  BootstrapStores(4);
  auto r = Region(1, "", "", 1, 1, {{11, 1}, {12, 2}, {13, 3}});
  ASSERT_FALSE(Report(r));
  ASSERT_TRUE(c_->AddOperator(1, {AdminOp::kAddPeer, 4, {}}).has_value());
  auto cmds = c_->TakeCommands();
  ASSERT_EQ(cmds.size(), 1u);
  metapb::Peer added = cmds[0].response.change_peer().peer();
  *r.add_peers() = added;
  r.mutable_region_epoch()->set_conf_ver(2);
  for (int i = 0; i < 3; ++i) {
    ASSERT_FALSE(Report(r, 0, 0, {added}));  // a member, still pending
    EXPECT_TRUE(c_->TakeCommands().empty()) << "the add was sent again";
  }
  ASSERT_FALSE(Report(r));
  EXPECT_EQ(c_->GetOperator(1)->status, schedulerpb::SUCCESS);
}

TEST_F(ClusterTest, ARetriedBootstrapOfTheSameStoreAndRegionSucceeds) {
  auto first = Region(2, "", "", 1, 1, {{3, 1}});
  ASSERT_FALSE(c_->Bootstrap(MakeStore(1), &first));
  EXPECT_FALSE(c_->Bootstrap(MakeStore(1), &first));  // the answer was lost; asked again
  auto other = Region(7, "", "", 1, 1, {{8, 5}});
  SStatus from_other = c_->Bootstrap(MakeStore(5), &other);
  ASSERT_TRUE(from_other);
  EXPECT_EQ(from_other->type, schedulerpb::ALREADY_BOOTSTRAPPED);
  ASSERT_FALSE(c_->PutStore(MakeStore(2)));
  SStatus late = c_->Bootstrap(MakeStore(1), &first);  // other stores joined since
  ASSERT_TRUE(late);
  EXPECT_EQ(late->type, schedulerpb::ALREADY_BOOTSTRAPPED);
}

TEST_F(ClusterTest, ARefusedAdminRequestLeavesTheRunningOperatorAlone) {
  auto first = Region(2, "", "", 1, 1, {{3, 1}});
  BootstrapStores(3, &first);
  ASSERT_FALSE(Report(first));
  c_->Tick();  // the replica checker starts make-up-replica
  ASSERT_EQ(c_->operators().size(), 1u);
  EXPECT_FALSE(c_->AddOperator(2, {AdminOp::kTransferLeader, 1, {}}).has_value());  // leads
  ASSERT_EQ(c_->operators().size(), 1u);
  EXPECT_EQ(c_->operators().at(2).desc, "make-up-replica");
  // An admin request that holds replaces it.
  ASSERT_TRUE(c_->AddOperator(2, {AdminOp::kSplit, 0, {"m"}}).has_value());
  EXPECT_EQ(c_->operators().at(2).desc, "admin-split");
}

// ---- The coordinator ----

TEST_F(ClusterTest, ReplicaCheckerFillsASingleReplicaRegionUpToThree) {
  auto first = Region(2, "", "", 1, 1, {{3, 1}});
  BootstrapStores(3, &first);
  ASSERT_FALSE(Report(first));
  metapb::Region r = first;
  // Run the coordinator and play the region's leader: apply each command.
  for (int round = 0; round < 10 && r.peers_size() < 3; ++round) {
    c_->Tick();
    for (const auto& cmd : c_->TakeCommands()) {
      ASSERT_TRUE(cmd.response.has_change_peer());
      ASSERT_EQ(cmd.response.change_peer().change_type(), eraftpb::AddNode);
      *r.add_peers() = cmd.response.change_peer().peer();
      r.mutable_region_epoch()->set_conf_ver(r.region_epoch().conf_ver() + 1);
    }
    ASSERT_FALSE(Report(r));
  }
  ASSERT_EQ(r.peers_size(), 3);
  std::set<uint64_t> stores;
  for (const auto& p : r.peers()) stores.insert(p.store_id());
  EXPECT_EQ(stores, (std::set<uint64_t>{1, 2, 3}));
  c_->Tick();
  EXPECT_TRUE(c_->TakeCommands().empty());  // nothing more to do
}

TEST_F(ClusterTest, DownStoreReplicasAreReplaced) {
  BootstrapStores(4);
  auto r = Region(1, "", "", 1, 1, {{11, 1}, {12, 2}, {13, 3}});
  ASSERT_FALSE(Report(r));
  ASSERT_NO_FATAL_FAILURE(LetStoreGoDown(3, r));
  (void)c_->TakeCommands();
  c_->Tick();
  auto cmds = c_->TakeCommands();
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].response.change_peer().change_type(), eraftpb::RemoveNode);
  EXPECT_EQ(cmds[0].response.change_peer().peer().store_id(), 3u);
  r.mutable_peers()->RemoveLast();
  r.mutable_region_epoch()->set_conf_ver(2);
  ASSERT_FALSE(Report(r));
  c_->Tick();
  cmds = c_->TakeCommands();
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].response.change_peer().change_type(), eraftpb::AddNode);
  EXPECT_EQ(cmds[0].response.change_peer().peer().store_id(), 4u);
}

// An operator moving a replica to a store that then goes down is cancelled
// once the store counts as down (not held until its 10-minute timeout), so
// the replica checker can repair the region.
TEST_F(ClusterTest, OperatorTowardsADownStoreIsCancelled) {
  config_.max_store_down_time_ms = 60'000;  // well within the operator's timeout
  Open();
  BootstrapStores(4);
  auto r = Region(1, "", "", 1, 1, {{11, 1}, {12, 2}, {13, 3}});
  ASSERT_FALSE(Report(r));
  ASSERT_TRUE(c_->AddOperator(1, {AdminOp::kAddPeer, 4, {}}).has_value());
  (void)c_->TakeCommands();
  const uint64_t started = clock_.NowMs();
  ASSERT_NO_FATAL_FAILURE(LetStoreGoDown(4, r));
  c_->Tick();
  ASSERT_LT(clock_.NowMs() - started, config_.region_operator_timeout_ms);
  EXPECT_EQ(c_->GetOperator(1)->status, schedulerpb::CANCEL);
  EXPECT_TRUE(c_->operators().empty());
}

TEST_F(ClusterTest, OfflineStoreIsDrainedThenTombstoned) {
  BootstrapStores(4);
  auto r = Region(1, "", "", 1, 1, {{11, 1}, {12, 2}, {13, 3}});
  ASSERT_FALSE(Report(r));
  ASSERT_TRUE(c_->RemoveStore(3).has_value());
  EXPECT_EQ(c_->GetStore(3)->meta.state(), metapb::Offline);
  (void)c_->TakeCommands();
  c_->Tick();
  auto cmds = c_->TakeCommands();
  ASSERT_EQ(cmds.size(), 1u);
  ASSERT_EQ(cmds[0].response.change_peer().change_type(), eraftpb::AddNode);
  metapb::Peer added = cmds[0].response.change_peer().peer();
  EXPECT_EQ(added.store_id(), 4u);
  *r.add_peers() = added;
  r.mutable_region_epoch()->set_conf_ver(2);
  ASSERT_FALSE(Report(r));
  cmds = c_->TakeCommands();
  ASSERT_EQ(cmds.size(), 1u);
  ASSERT_EQ(cmds[0].response.change_peer().change_type(), eraftpb::RemoveNode);
  EXPECT_EQ(cmds[0].response.change_peer().peer().store_id(), 3u);
  r = Region(1, "", "", 3, 1, {{11, 1}, {12, 2}, {added.id(), 4}});
  ASSERT_FALSE(Report(r));
  EXPECT_EQ(c_->GetOperator(1)->status, schedulerpb::SUCCESS);
  c_->Tick();
  EXPECT_EQ(c_->GetStore(3)->meta.state(), metapb::Tombstone);
}

TEST_F(ClusterTest, TsoIsStrictlyIncreasingAcrossRestartsEvenIfTheClockGoesBack) {
  uint64_t last = 0;
  for (int i = 0; i < 1000; ++i) {
    auto ts = c_->Tso(1 + i % 7);
    ASSERT_TRUE(ts.has_value());
    ASSERT_GT(ts->Compose(), last);
    last = ts->Compose();
    if (i % 100 == 0) wall_.Advance(1);
  }
  Open();
  wall_.Set(wall_.NowMs() - 60'000);  // the machine's clock was set back a minute
  for (int i = 0; i < 100; ++i) {
    auto ts = c_->Tso(3);
    ASSERT_TRUE(ts.has_value());
    ASSERT_GT(ts->Compose() - 2, last) << "a timestamp of the batch was handed out before";
    last = ts->Compose();
  }
}

}  // namespace
}  // namespace tinykv::scheduler
