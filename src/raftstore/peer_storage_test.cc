#include "raftstore/peer_storage.h"

#include <gtest/gtest.h>

#include "raftstore/keys.h"
#include "storage/mem/mem_engine.h"

namespace tinykv::raftstore {
namespace {

using storage::Cf;

metapb::Region MakeRegion(uint64_t id, std::string start, std::string end,
                          std::vector<uint64_t> stores) {
  metapb::Region r;
  r.set_id(id);
  r.set_start_key(start);
  r.set_end_key(end);
  r.mutable_region_epoch()->set_conf_ver(1);
  r.mutable_region_epoch()->set_version(1);
  for (uint64_t s : stores) {
    auto* p = r.add_peers();
    p->set_id(s);
    p->set_store_id(s);
  }
  return r;
}

eraftpb::Entry E(uint64_t index, uint64_t term, std::string data = "") {
  eraftpb::Entry e;
  e.set_index(index);
  e.set_term(term);
  e.set_data(data);
  return e;
}

class FakeRequester : public SnapshotRequester {
 public:
  void RequestSnapshot(uint64_t region_id) override { requests.push_back(region_id); }
  std::vector<uint64_t> requests;
};

class PeerStorageTest : public ::testing::Test {
 protected:
  PeerStorageTest() : region_(MakeRegion(1, "", "", {1, 2, 3})) {
    storage::WriteBatch wb;
    PeerStorage::WriteInitialState(region_, wb);
    EXPECT_TRUE(engine_.Write(wb, {.sync = true}).ok());
  }

  std::unique_ptr<PeerStorage> Open() {
    auto ps = PeerStorage::Open(engine_, region_, &requester_);
    EXPECT_TRUE(ps.ok()) << ps.status();
    return std::move(ps).value();
  }

  void Save(PeerStorage& ps, std::vector<eraftpb::Entry> entries,
            std::optional<eraftpb::HardState> hs = {}) {
    storage::WriteBatch wb;
    ps.SaveReadyState(entries, hs, wb);
    ASSERT_TRUE(engine_.Write(wb, {.sync = true}).ok());
  }

  storage::MemEngine engine_;
  metapb::Region region_;
  FakeRequester requester_;
};

TEST_F(PeerStorageTest, InitialStateStartsAtFive) {
  auto ps = Open();
  EXPECT_TRUE(ps->IsInitialized());
  EXPECT_EQ(ps->FirstIndex(), 6u);
  EXPECT_EQ(ps->LastIndex(), 5u);
  EXPECT_EQ(*ps->Term(5), 5u);
  EXPECT_EQ(ps->Term(4).error(), raft::Error::kCompacted);
  EXPECT_EQ(ps->Term(6).error(), raft::Error::kUnavailable);
  auto st = ps->InitialState();
  EXPECT_EQ(st.hard_state.term(), 5u);
  EXPECT_EQ(st.hard_state.commit(), 5u);
  EXPECT_EQ(st.conf_state.nodes_size(), 3);
}

TEST_F(PeerStorageTest, AppendReadAndRecover) {
  auto ps = Open();
  eraftpb::HardState hs;
  hs.set_term(6);
  hs.set_vote(1);
  hs.set_commit(7);
  Save(*ps, {E(6, 6, "a"), E(7, 6, "b"), E(8, 6, "c")}, hs);
  EXPECT_EQ(ps->LastIndex(), 8u);
  EXPECT_EQ(ps->Entries(6, 9, raft::kNoLimit)->size(), 3u);
  EXPECT_EQ(ps->Entries(6, 9, 1)->size(), 1u);
  EXPECT_EQ(ps->Entries(5, 7, raft::kNoLimit).error(), raft::Error::kCompacted);
  EXPECT_EQ(ps->Entries(6, 10, raft::kNoLimit).error(), raft::Error::kUnavailable);
  // A fresh PeerStorage reads everything back from the engine (no cache).
  auto again = Open();
  EXPECT_EQ(again->LastIndex(), 8u);
  EXPECT_EQ(again->InitialState().hard_state.vote(), 1u);
  auto entries = again->Entries(6, 9, raft::kNoLimit);
  ASSERT_EQ(entries->size(), 3u);
  EXPECT_EQ((*entries)[2].data(), "c");
  EXPECT_EQ(*again->Term(7), 6u);
}

TEST_F(PeerStorageTest, ConflictingAppendReplacesTheSuffix) {
  auto ps = Open();
  Save(*ps, {E(6, 6), E(7, 6), E(8, 6), E(9, 6)});
  Save(*ps, {E(7, 7, "new")});
  EXPECT_EQ(ps->LastIndex(), 7u);
  EXPECT_EQ(*ps->Term(7), 7u);
  auto again = Open();
  EXPECT_EQ(again->LastIndex(), 7u);
  EXPECT_EQ((*again->Entries(7, 8, raft::kNoLimit))[0].data(), "new");
  // The replaced entries are gone from the engine.
  EXPECT_FALSE(engine_.Get(Cf::kMeta, keys::RaftLogKey(1, 8))->has_value());
  EXPECT_FALSE(engine_.Get(Cf::kMeta, keys::RaftLogKey(1, 9))->has_value());
}

TEST_F(PeerStorageTest, UnsyncedLogIsLostOnCrashButStateStaysConsistent) {
  auto ps = Open();
  Save(*ps, {E(6, 6), E(7, 6)});
  storage::WriteBatch wb;
  ps->SaveReadyState({E(8, 6)}, std::nullopt, wb);
  ASSERT_TRUE(engine_.Write(wb, {}).ok());  // not synced
  engine_.SimulateCrash();
  auto again = Open();
  EXPECT_EQ(again->LastIndex(), 7u);  // the state and the entry went together
}

TEST_F(PeerStorageTest, SnapshotIsRequestedOnceThenServed) {
  auto ps = Open();
  EXPECT_EQ(ps->Snapshot().error(), raft::Error::kSnapshotTemporarilyUnavailable);
  EXPECT_EQ(ps->Snapshot().error(), raft::Error::kSnapshotTemporarilyUnavailable);
  EXPECT_EQ(requester_.requests, (std::vector<uint64_t>{1}));
  eraftpb::Snapshot snap;
  snap.mutable_metadata()->set_index(5);
  snap.mutable_metadata()->set_term(5);
  raft_serverpb::RaftSnapshotData data;
  *data.mutable_region() = region_;
  snap.set_data(data.SerializeAsString());
  ps->OnSnapshotGenerated(snap);
  ASSERT_TRUE(ps->Snapshot().has_value());
  // One taken before a membership change is not served: a new one is requested.
  metapb::Region changed = region_;
  changed.mutable_region_epoch()->set_conf_ver(2);
  ps->SetRegion(changed);
  EXPECT_EQ(ps->Snapshot().error(), raft::Error::kSnapshotTemporarilyUnavailable);
  EXPECT_EQ(requester_.requests.size(), 2u);
  *data.mutable_region() = changed;
  snap.set_data(data.SerializeAsString());
  ps->OnSnapshotGenerated(snap);
  ASSERT_TRUE(ps->Snapshot().has_value());
  EXPECT_EQ(ps->Snapshot()->metadata().index(), 5u);
  // Once the log is truncated past it, it is useless: a new one is requested.
  Save(*ps, {E(6, 6), E(7, 6), E(8, 6)});
  raft_serverpb::RaftTruncatedState t;
  t.set_index(7);
  t.set_term(6);
  auto range = ps->OnCompacted(t);
  ASSERT_TRUE(range.has_value());
  EXPECT_EQ(range->first, 6u);
  EXPECT_EQ(range->second, 7u);
  EXPECT_EQ(ps->FirstIndex(), 8u);
  EXPECT_EQ(ps->Term(6).error(), raft::Error::kCompacted);
  EXPECT_EQ(*ps->Term(7), 6u);
  EXPECT_EQ(ps->Snapshot().error(), raft::Error::kSnapshotTemporarilyUnavailable);
  EXPECT_EQ(requester_.requests.size(), 3u);
  EXPECT_FALSE(ps->OnCompacted(t).has_value());  // nothing new
}

raft_serverpb::RaftSnapshotData SnapData(const metapb::Region& region,
                                         std::vector<std::pair<std::string, std::string>> kvs) {
  raft_serverpb::RaftSnapshotData d;
  *d.mutable_region() = region;
  auto* cf = d.add_cfs();
  cf->set_cf("default");
  for (auto& [k, v] : kvs) {
    auto* kv = cf->add_kvs();
    kv->set_key(k);
    kv->set_value(v);
  }
  d.set_checksum(SnapshotChecksum(d));
  return d;
}

TEST_F(PeerStorageTest, ApplySnapshotReplacesLogStatesAndData) {
  // Data of the region, and of a key beyond a future (narrower) range.
  storage::WriteBatch seed;
  seed.Put(Cf::kDefault, "k1", "old");
  seed.Put(Cf::kDefault, "z", "old");
  ASSERT_TRUE(engine_.Write(seed, {}).ok());
  auto ps = Open();
  Save(*ps, {E(6, 6), E(7, 6)});
  metapb::Region narrowed = region_;
  narrowed.set_end_key("m");
  narrowed.mutable_region_epoch()->set_version(2);
  auto data = SnapData(narrowed, {{"k1", "new"}, {"k2", "new"}});
  eraftpb::Snapshot snap;
  snap.mutable_metadata()->set_index(20);
  snap.mutable_metadata()->set_term(9);
  snap.set_data(data.SerializeAsString());
  storage::WriteBatch wb;
  ASSERT_TRUE(ps->ApplySnapshot(snap, wb).ok());
  ASSERT_TRUE(engine_.Write(wb, {.sync = true}).ok());
  EXPECT_EQ(ps->FirstIndex(), 21u);
  EXPECT_EQ(ps->LastIndex(), 20u);
  EXPECT_EQ(*ps->Term(20), 9u);
  EXPECT_EQ(ps->region().end_key(), "m");
  EXPECT_EQ(*engine_.Get(Cf::kDefault, "k1"), "new");
  EXPECT_EQ(*engine_.Get(Cf::kDefault, "k2"), "new");
  EXPECT_FALSE(engine_.Get(Cf::kDefault, "z")->has_value());  // in the old range
  EXPECT_FALSE(engine_.Get(Cf::kMeta, keys::RaftLogKey(1, 6))->has_value());
  auto again = PeerStorage::Open(engine_, ps->region(), nullptr);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->apply_state().applied_index(), 20u);
}

TEST_F(PeerStorageTest, SnapshotWithBadChecksumIsRejected) {
  auto ps = Open();
  auto data = SnapData(region_, {{"k", "v"}});
  data.set_checksum(data.checksum() ^ 1);
  eraftpb::Snapshot snap;
  snap.mutable_metadata()->set_index(20);
  snap.set_data(data.SerializeAsString());
  storage::WriteBatch wb;
  Status s = ps->ApplySnapshot(snap, wb);
  EXPECT_EQ(s.code(), Code::kCorruption) << s;
  EXPECT_TRUE(wb.empty());
}

TEST_F(PeerStorageTest, DestroyLeavesATombstoneAndNoData) {
  storage::WriteBatch seed;
  seed.Put(Cf::kDefault, "k", "v");
  seed.Put(Cf::kWrite, "k", "v");
  ASSERT_TRUE(engine_.Write(seed, {}).ok());
  auto ps = Open();
  Save(*ps, {E(6, 6)});
  storage::WriteBatch wb;
  ps->Destroy(wb, /*clear_data=*/true, ps->region(), /*peer_id=*/1);
  ASSERT_TRUE(engine_.Write(wb, {}).ok());
  auto state = ReadMeta<raft_serverpb::RegionLocalState>(engine_, keys::RegionStateKey(1));
  ASSERT_TRUE(state.ok() && state->has_value());
  EXPECT_EQ((*state)->state(), raft_serverpb::Tombstone);
  EXPECT_FALSE(engine_.Get(Cf::kDefault, "k")->has_value());
  EXPECT_FALSE(engine_.Get(Cf::kWrite, "k")->has_value());
  EXPECT_FALSE(engine_.Get(Cf::kMeta, keys::RaftStateKey(1))->has_value());
  EXPECT_FALSE(engine_.Get(Cf::kMeta, keys::RaftLogKey(1, 6))->has_value());
}

TEST_F(PeerStorageTest, InconsistentStateIsCorruption) {
  raft_serverpb::RaftApplyState as;
  as.set_applied_index(9);  // above the commit index
  as.mutable_truncated_state()->set_index(5);
  storage::WriteBatch wb;
  wb.Put(Cf::kMeta, keys::ApplyStateKey(1), as.SerializeAsString());
  ASSERT_TRUE(engine_.Write(wb, {}).ok());
  auto ps = PeerStorage::Open(engine_, region_, nullptr);
  EXPECT_EQ(ps.status().code(), Code::kCorruption);
}

TEST_F(PeerStorageTest, UninitializedPeerHasNothing) {
  metapb::Region bare;
  bare.set_id(7);
  auto ps = PeerStorage::Open(engine_, bare, nullptr);
  ASSERT_TRUE(ps.ok());
  EXPECT_FALSE((*ps)->IsInitialized());
  EXPECT_EQ((*ps)->LastIndex(), 0u);
  EXPECT_EQ((*ps)->FirstIndex(), 1u);
  EXPECT_EQ(*(*ps)->Term(0), 0u);
  EXPECT_EQ((*ps)->InitialState().conf_state.nodes_size(), 0);
}

// An uninitialized replica's vote survives a restart; a log does not belong
// to an uninitialized replica.
TEST_F(PeerStorageTest, UninitializedPeerKeepsItsVote) {
  metapb::Region bare;
  bare.set_id(7);
  {
    auto ps = PeerStorage::Open(engine_, bare, nullptr);
    ASSERT_TRUE(ps.ok());
    eraftpb::HardState hs;
    hs.set_term(9);
    hs.set_vote(3);
    storage::WriteBatch wb;
    (*ps)->SaveReadyState({}, hs, wb);
    ASSERT_TRUE(engine_.Write(wb, {.sync = true}).ok());
  }
  auto ps = PeerStorage::Open(engine_, bare, nullptr);
  ASSERT_TRUE(ps.ok()) << ps.status();
  EXPECT_EQ((*ps)->InitialState().hard_state.term(), 9u);
  EXPECT_EQ((*ps)->InitialState().hard_state.vote(), 3u);
  EXPECT_EQ((*ps)->LastIndex(), 0u);

  raft_serverpb::RaftLocalState rs;
  rs.set_last_index(3);
  storage::WriteBatch wb;
  wb.Put(Cf::kMeta, keys::RaftStateKey(7), rs.SerializeAsString());
  ASSERT_TRUE(engine_.Write(wb, {}).ok());
  EXPECT_EQ(PeerStorage::Open(engine_, bare, nullptr).status().code(), Code::kCorruption);
}

TEST(KeysTest, OrderAndRoundTrip) {
  EXPECT_LT(keys::RaftLogKey(1, 5), keys::RaftLogKey(1, 6));
  EXPECT_LT(keys::RaftLogKey(1, 255), keys::RaftLogKey(1, 256));  // big-endian
  EXPECT_LT(keys::RaftLogKey(1, UINT64_MAX), keys::RaftStateKey(1));
  EXPECT_LT(keys::RaftLogPrefix(1), keys::RaftLogKey(1, 0));
  EXPECT_LT(keys::RaftLogKey(1, UINT64_MAX), keys::RaftLogPrefixEnd(1));
  EXPECT_LT(keys::ApplyStateKey(1), keys::RaftLogKey(2, 0));
  EXPECT_EQ(keys::RaftLogIndex(keys::RaftLogKey(3, 42)), 42u);
  EXPECT_EQ(keys::RegionIdOfStateKey(keys::RegionStateKey(99)), 99u);
  EXPECT_GE(keys::RegionStateKey(1), keys::RegionStatePrefix());
  EXPECT_LT(keys::RegionStateKey(UINT64_MAX), keys::RegionStatePrefixEnd());
}

}  // namespace
}  // namespace tinykv::raftstore
