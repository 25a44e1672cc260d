// The placement decisions on hand-built cluster views: the 3C balance-region
// cases, balance-leader and the replica checker.
#include "scheduler/checkers.h"

#include <gtest/gtest.h>

#include "scheduler/test_util.h"

namespace tinykv::scheduler {
namespace {

using testutil::Info;
using testutil::Peer;
using testutil::Region;

constexpr uint64_t kMiB = 1u << 20;
constexpr uint64_t kNow = 10'000'000;

class CheckersTest : public ::testing::Test {
 protected:
  CheckersTest() : tree_(kMiB) {}

  void AddStore(uint64_t id, metapb::StoreState state = metapb::Up) {
    StoreInfo s;
    s.meta.set_id(id);
    s.meta.set_address("s" + std::to_string(id));
    s.meta.set_state(state);
    s.heartbeat_seen = true;
    s.last_heartbeat_ms = kNow;
    stores_[id] = s;
  }
  void SetDown(uint64_t id) { stores_[id].last_heartbeat_ms = kNow - config_.max_store_down_time_ms - 1; }
  void SetDisconnected(uint64_t id) {
    stores_[id].last_heartbeat_ms = kNow - config_.store_disconnect_time_ms - 1;
  }

  // A region with peers on `stores` (the first leads), of 1 MiB.
  uint64_t AddRegion(const std::vector<uint64_t>& stores, std::vector<uint64_t> pending_on = {},
                     uint64_t size = kMiB) {
    uint64_t id = next_region_++;
    std::vector<std::pair<uint64_t, uint64_t>> peers;
    for (uint64_t s : stores) peers.push_back({id * 100 + s, s});
    // Regions are laid out one after another in key order.
    std::string start = id == 1 ? "" : Key(id), end = Key(id + 1);
    auto r = Region(id, start, end, 1, 1, peers);
    std::vector<metapb::Peer> pending;
    for (uint64_t s : pending_on) pending.push_back(Peer(id * 100 + s, s));
    (void)tree_.Put(Info(r, 0, size, pending));
    return id;
  }
  // `n` regions on `stores`.
  void AddRegions(int n, const std::vector<uint64_t>& stores) {
    for (int i = 0; i < n; ++i) AddRegion(stores);
  }
  static std::string Key(uint64_t id) {
    std::string k = "r";
    for (int i = 7; i >= 0; --i) k += static_cast<char>((id >> (8 * i)) & 0xff);
    return k;
  }

  ClusterView View() { return ClusterView{stores_, tree_, config_, max_replicas_, kNow}; }
  IdSource Ids() {
    return [this]() -> Result<uint64_t> { return next_id_++; };
  }
  std::function<bool(uint64_t)> NoOps() {
    return [](uint64_t) { return false; };
  }

  // The move a balance-region operator makes: (from, to).
  static std::pair<uint64_t, uint64_t> MoveOf(const Operator& op) {
    uint64_t from = 0, to = 0;
    for (const auto& s : op.steps) {
      if (auto* a = std::get_if<AddPeerStep>(&s)) to = a->peer.store_id();
      if (auto* r = std::get_if<RemovePeerStep>(&s)) from = r->store_id;
    }
    return {from, to};
  }

  SchedulerConfig config_;
  std::map<uint64_t, StoreInfo> stores_;
  RegionTree tree_;
  uint32_t max_replicas_ = 3;
  uint64_t next_region_ = 1;
  uint64_t next_id_ = 100'000;
  Rng rng_{42};
};

// ---- balance-region (3C) ----

TEST_F(CheckersTest, Replicas13C) {
  max_replicas_ = 1;
  for (uint64_t s = 1; s <= 4; ++s) AddStore(s);
  AddRegions(6, {1});
  AddRegions(8, {2});
  AddRegions(8, {3});
  AddRegions(16, {4});
  auto op = BalanceRegion(View(), rng_, Ids(), NoOps());
  ASSERT_TRUE(op);
  EXPECT_EQ(MoveOf(*op), std::make_pair(uint64_t{4}, uint64_t{1}));
  // The source led the region: the leadership moves before the removal.
  ASSERT_EQ(op->steps.size(), 3u);
  EXPECT_TRUE(std::holds_alternative<TransferLeaderStep>(op->steps[1]));
  // An offline store is never a target: the next smallest is.
  stores_[1].meta.set_state(metapb::Offline);
  op = BalanceRegion(View(), rng_, Ids(), NoOps());
  ASSERT_TRUE(op);
  EXPECT_EQ(MoveOf(*op), std::make_pair(uint64_t{4}, uint64_t{2}));
  // With 3 replicas wanted, single-replica regions are not balanced.
  max_replicas_ = 3;
  EXPECT_FALSE(BalanceRegion(View(), rng_, Ids(), NoOps()));
}

TEST_F(CheckersTest, Replicas33C) {
  for (uint64_t s = 1; s <= 3; ++s) AddStore(s);
  AddRegions(20, {1, 2, 3});
  // Every store holds every region: no target.
  EXPECT_FALSE(BalanceRegion(View(), rng_, Ids(), NoOps()));
  // New stores, each smaller than the last, win in turn.
  max_replicas_ = 3;
  AddStore(4);
  AddRegions(5, {4});  // single-replica regions: weight, but not balanced
  auto op = BalanceRegion(View(), rng_, Ids(), NoOps());
  ASSERT_TRUE(op);
  EXPECT_EQ(MoveOf(*op).second, 4u);
  AddStore(5);
  AddRegions(4, {5});
  op = BalanceRegion(View(), rng_, Ids(), NoOps());
  ASSERT_TRUE(op);
  EXPECT_EQ(MoveOf(*op).second, 5u);
  AddStore(6);
  AddRegions(3, {6});
  op = BalanceRegion(View(), rng_, Ids(), NoOps());
  ASSERT_TRUE(op);
  EXPECT_EQ(MoveOf(*op).second, 6u);
  // Down stores are skipped.
  SetDown(6);
  op = BalanceRegion(View(), rng_, Ids(), NoOps());
  ASSERT_TRUE(op);
  EXPECT_EQ(MoveOf(*op).second, 5u);
  SetDown(4);
  SetDown(5);
  EXPECT_FALSE(BalanceRegion(View(), rng_, Ids(), NoOps()));
}

TEST_F(CheckersTest, Replicas53C) {
  for (uint64_t s = 1; s <= 5; ++s) AddStore(s);
  // Scores 12/2/12/10/4: store 1 is the source; store 2, the smallest,
  // already holds some of its regions, which then go to store 5.
  AddRegions(2, {1, 2, 3});
  AddRegions(10, {1, 3, 4});
  max_replicas_ = 3;
  AddRegions(4, {5});
  for (int i = 0; i < 20; ++i) {
    auto op = BalanceRegion(View(), rng_, Ids(), NoOps());
    ASSERT_TRUE(op);
    auto [from, to] = MoveOf(*op);
    const RegionInfo* r = tree_.Get(op->region_id);
    // The source follows the region; the target does not hold it.
    EXPECT_NE(r->PeerOnStore(from), nullptr);
    EXPECT_EQ(r->PeerOnStore(to), nullptr);
    EXPECT_EQ(from, 1u);
    if (r->PeerOnStore(2) == nullptr) {
      EXPECT_EQ(to, 2u);
    } else {
      EXPECT_EQ(to, 5u);
    }
  }
}

TEST_F(CheckersTest, ReplacePendingRegion3C) {
  for (uint64_t s = 1; s <= 4; ++s) AddStore(s);
  AddRegions(5, {1, 2, 3});
  uint64_t pending = AddRegion({2, 1, 3}, {1});
  AddRegions(5, {1, 2, 3});
  for (int i = 0; i < 10; ++i) {
    auto op = BalanceRegion(View(), rng_, Ids(), NoOps());
    ASSERT_TRUE(op);
    EXPECT_EQ(op->region_id, pending);
    EXPECT_EQ(MoveOf(*op), std::make_pair(uint64_t{1}, uint64_t{4}));
  }
}

TEST_F(CheckersTest, BalanceRegionSkipsRegionsWithOperators) {
  for (uint64_t s = 1; s <= 4; ++s) AddStore(s);
  uint64_t only = AddRegion({1, 2, 3});
  AddRegion({1}, {}, 10 * kMiB);  // weight on store 1 (not balanced: one replica)
  max_replicas_ = 3;
  EXPECT_TRUE(BalanceRegion(View(), rng_, Ids(), NoOps()));
  auto busy = [only](uint64_t id) { return id == only; };
  EXPECT_FALSE(BalanceRegion(View(), rng_, Ids(), busy));
}

TEST_F(CheckersTest, BalanceRegionNeedsAClearGap) {
  for (uint64_t s = 1; s <= 4; ++s) AddStore(s);
  AddRegions(3, {1, 2, 3});
  AddRegions(2, {4});  // store 4 has 2 MiB, the others 3: a move would not help
  EXPECT_FALSE(BalanceRegion(View(), rng_, Ids(), NoOps()));
}

// ---- balance-leader ----

TEST_F(CheckersTest, BalanceLeaderMovesFromTheBusiestStore) {
  for (uint64_t s = 1; s <= 3; ++s) AddStore(s);
  AddRegions(4, {1, 2, 3});
  auto op = BalanceLeader(View(), rng_, NoOps());
  ASSERT_TRUE(op);
  ASSERT_EQ(op->steps.size(), 1u);
  auto step = std::get<TransferLeaderStep>(op->steps[0]);
  EXPECT_EQ(step.from_store, 1u);
  EXPECT_TRUE(step.to_store == 2 || step.to_store == 3);
  EXPECT_EQ(op->kind, OpKind::kLeader);
}

TEST_F(CheckersTest, BalanceLeaderLeavesABalancedClusterAlone) {
  for (uint64_t s = 1; s <= 3; ++s) AddStore(s);
  AddRegions(2, {1, 2, 3});
  AddRegion({2, 1, 3});
  AddRegion({3, 1, 2});
  EXPECT_FALSE(BalanceLeader(View(), rng_, NoOps()));  // 2/1/1
}

TEST_F(CheckersTest, BalanceLeaderSkipsDownAndPendingTargets) {
  for (uint64_t s = 1; s <= 3; ++s) AddStore(s);
  AddRegions(4, {1, 2, 3});
  SetDisconnected(2);
  for (int i = 0; i < 10; ++i) {
    auto op = BalanceLeader(View(), rng_, NoOps());
    ASSERT_TRUE(op);
    EXPECT_EQ(std::get<TransferLeaderStep>(op->steps[0]).to_store, 3u);
  }
  SetDisconnected(3);
  EXPECT_FALSE(BalanceLeader(View(), rng_, NoOps()));
}

TEST_F(CheckersTest, BalanceLeaderIgnoresRegionsWithPendingPeers) {
  for (uint64_t s = 1; s <= 3; ++s) AddStore(s);
  for (int i = 0; i < 4; ++i) AddRegion({1, 2, 3}, {2});
  EXPECT_FALSE(BalanceLeader(View(), rng_, NoOps()));
}

// ---- the replica checker ----

TEST_F(CheckersTest, MakeUpReplicaPicksTheEmptiestStore) {
  for (uint64_t s = 1; s <= 4; ++s) AddStore(s);
  AddRegions(3, {3});
  AddRegions(1, {4});
  uint64_t id = AddRegion({1, 2});
  auto op = CheckReplicas(View(), *tree_.Get(id), Ids());
  ASSERT_TRUE(op);
  EXPECT_EQ(op->desc, "make-up-replica");
  EXPECT_EQ(std::get<AddPeerStep>(op->steps[0]).peer.store_id(), 4u);
}

TEST_F(CheckersTest, NoTargetNoOperator) {
  for (uint64_t s = 1; s <= 2; ++s) AddStore(s);
  uint64_t id = AddRegion({1, 2});
  EXPECT_FALSE(CheckReplicas(View(), *tree_.Get(id), Ids()));
}

TEST_F(CheckersTest, DownReplicaIsRemovedFirst) {
  for (uint64_t s = 1; s <= 4; ++s) AddStore(s);
  uint64_t id = AddRegion({1, 2, 3});
  SetDisconnected(3);
  EXPECT_FALSE(CheckReplicas(View(), *tree_.Get(id), Ids()));  // not down yet
  SetDown(3);
  auto op = CheckReplicas(View(), *tree_.Get(id), Ids());
  ASSERT_TRUE(op);
  EXPECT_EQ(op->desc, "remove-down-replica");
  EXPECT_EQ(std::get<RemovePeerStep>(op->steps[0]).store_id, 3u);
}

TEST_F(CheckersTest, ReplicaOnARemovedStoreIsRemoved) {
  for (uint64_t s = 1; s <= 3; ++s) AddStore(s);
  uint64_t id = AddRegion({1, 2, 9});  // store 9 is unknown
  auto op = CheckReplicas(View(), *tree_.Get(id), Ids());
  ASSERT_TRUE(op);
  EXPECT_EQ(std::get<RemovePeerStep>(op->steps[0]).store_id, 9u);
}

TEST_F(CheckersTest, OfflineReplicaIsMovedWithTheLeadershipFirst) {
  for (uint64_t s = 1; s <= 4; ++s) AddStore(s);
  uint64_t id = AddRegion({1, 2, 3});
  stores_[1].meta.set_state(metapb::Offline);
  auto op = CheckReplicas(View(), *tree_.Get(id), Ids());
  ASSERT_TRUE(op);
  EXPECT_EQ(op->desc, "replace-offline-replica");
  ASSERT_EQ(op->steps.size(), 3u);
  EXPECT_EQ(std::get<AddPeerStep>(op->steps[0]).peer.store_id(), 4u);
  EXPECT_EQ(std::get<TransferLeaderStep>(op->steps[1]).from_store, 1u);
  EXPECT_EQ(std::get<RemovePeerStep>(op->steps[2]).store_id, 1u);
}

TEST_F(CheckersTest, ExtraReplicaIsRemovedFromTheFullestStore) {
  for (uint64_t s = 1; s <= 4; ++s) AddStore(s);
  AddRegions(5, {3});
  uint64_t id = AddRegion({1, 2, 3, 4});
  auto op = CheckReplicas(View(), *tree_.Get(id), Ids());
  ASSERT_TRUE(op);
  EXPECT_EQ(op->desc, "remove-extra-replica");
  ASSERT_EQ(op->steps.size(), 1u);
  EXPECT_EQ(std::get<RemovePeerStep>(op->steps[0]).store_id, 3u);
}

TEST_F(CheckersTest, ExtraReplicaOnTheLeaderMovesTheLeadershipFirst) {
  for (uint64_t s = 1; s <= 4; ++s) AddStore(s);
  AddRegions(5, {1});
  uint64_t id = AddRegion({1, 2, 3, 4});
  auto op = CheckReplicas(View(), *tree_.Get(id), Ids());
  ASSERT_TRUE(op);
  ASSERT_EQ(op->steps.size(), 2u);
  EXPECT_EQ(std::get<TransferLeaderStep>(op->steps[0]).from_store, 1u);
  EXPECT_EQ(std::get<RemovePeerStep>(op->steps[1]).store_id, 1u);
}

TEST_F(CheckersTest, RegionsNotHeardFromAreNotScheduled) {
  for (uint64_t s = 1; s <= 4; ++s) AddStore(s);
  auto r = Region(500, "zz", "", 1, 1, {{1, 1}});
  (void)tree_.Put(Info(r, 0, 0, {}, /*heard_ms=*/0));
  EXPECT_FALSE(CheckReplicas(View(), *tree_.Get(500), Ids()));
}

}  // namespace
}  // namespace tinykv::scheduler
