// RawNode: the course's RawNode scenarios (2AC, 2C, 3A) and the Ready
// contract of docs/raft.md (suite RawNodeContract).
#include "raft/raw_node.h"

#include <gtest/gtest.h>

#include "raft/raft_test_util.h"

namespace tinykv::raft {
namespace {

using testutil::LogString;
using testutil::MakeEntry;

Config NodeConfig(uint64_t id, std::vector<uint64_t> voters = {}) {
  Config c;
  c.id = id;
  c.voters = std::move(voters);
  c.election_tick = 10;
  c.heartbeat_tick = 1;
  c.random_seed = id;
  return c;
}

std::unique_ptr<RawNode> Make(const Config& c, Storage* s) {
  auto r = RawNode::Create(c, s);
  EXPECT_TRUE(r.ok()) << r.status();
  return std::move(r).value();
}

// What a driver does with a Ready, against a MemoryStorage: persist, then
// apply (configuration changes included), then advance. Returns the ready.
Ready Handle(RawNode& node, MemoryStorage& storage) {
  Ready rd = node.GetReady();
  if (rd.snapshot) {
    EXPECT_EQ(storage.ApplySnapshot(*rd.snapshot), Error::kOk);
  }
  storage.Append(rd.entries);
  if (rd.hard_state) storage.SetHardState(*rd.hard_state);
  for (const auto& e : rd.committed_entries) {
    if (e.entry_type() == eraftpb::EntryConfChange) {
      eraftpb::ConfChange cc;
      EXPECT_TRUE(cc.ParseFromString(e.data()));
      storage.SetConfState(node.ApplyConfChange(cc));
    }
  }
  node.Advance(rd);
  if (!rd.committed_entries.empty()) node.AdvanceApply(rd.committed_entries.back().index());
  return rd;
}

void Stabilize(RawNode& node, MemoryStorage& storage) {
  for (int i = 0; i < 10 && node.HasReady(); ++i) Handle(node, storage);
  EXPECT_FALSE(node.HasReady());
}

// ---- The course's scenarios -----------------------------------------------------

// A single-node group: elected, then a proposal is persisted in one Ready and
// handed out as committed in the next (the leader counts itself only once its
// entry is durable); then nothing is left to do.
TEST(RawNode2AC, RawNodeStart) {
  MemoryStorage storage;
  auto node = Make(NodeConfig(1, {1}), &storage);
  ASSERT_EQ(node->Campaign(), Error::kOk);
  Stabilize(*node, storage);
  ASSERT_EQ(node->raft().state(), StateRole::kLeader);
  ASSERT_EQ(node->Propose("foo"), Error::kOk);
  ASSERT_TRUE(node->HasReady());
  Ready rd = Handle(*node, storage);
  EXPECT_EQ(LogString(rd.entries), "t1i2:foo");
  EXPECT_TRUE(rd.committed_entries.empty());
  ASSERT_TRUE(node->HasReady());
  rd = Handle(*node, storage);
  EXPECT_TRUE(rd.entries.empty());
  EXPECT_EQ(LogString(rd.committed_entries), "t1i2:foo");
  ASSERT_TRUE(rd.hard_state.has_value());
  EXPECT_EQ(rd.hard_state->commit(), 2u);
  EXPECT_FALSE(node->HasReady());
}

// After a restart the first Ready holds exactly the committed, unapplied entries.
TEST(RawNode2AC, RawNodeRestart) {
  MemoryStorage storage(eraftpb::ConfState{});
  eraftpb::ConfState cs;
  cs.add_nodes(1);
  storage.SetConfState(cs);
  storage.Append({MakeEntry(1, 1), MakeEntry(2, 1, "foo")});
  eraftpb::HardState hs;
  hs.set_term(1);
  hs.set_commit(1);
  storage.SetHardState(hs);
  auto node = Make(NodeConfig(1), &storage);
  ASSERT_TRUE(node->HasReady());
  Ready rd = node->GetReady();
  EXPECT_FALSE(rd.hard_state.has_value());
  EXPECT_FALSE(rd.soft_state.has_value());
  EXPECT_TRUE(rd.entries.empty());
  EXPECT_EQ(LogString(rd.committed_entries), "t1i1");
  EXPECT_TRUE(rd.messages.empty() && rd.persisted_messages.empty());
  node->Advance(rd);
  node->AdvanceApply(1);
  EXPECT_FALSE(node->HasReady());
}

TEST(RawNode2C, RawNodeRestartFromSnapshot) {
  MemoryStorage storage;
  eraftpb::Snapshot snap;
  snap.mutable_metadata()->set_index(2);
  snap.mutable_metadata()->set_term(1);
  snap.mutable_metadata()->mutable_conf_state()->add_nodes(1);
  snap.mutable_metadata()->mutable_conf_state()->add_nodes(2);
  ASSERT_EQ(storage.ApplySnapshot(snap), Error::kOk);
  storage.Append({MakeEntry(3, 1, "foo")});
  eraftpb::HardState hs;
  hs.set_term(1);
  hs.set_commit(3);
  storage.SetHardState(hs);
  auto node = Make(NodeConfig(1), &storage);
  Ready rd = node->GetReady();
  EXPECT_FALSE(rd.hard_state.has_value());
  EXPECT_TRUE(rd.entries.empty());
  EXPECT_FALSE(rd.snapshot.has_value());
  EXPECT_EQ(LogString(rd.committed_entries), "t1i3:foo");
  node->Advance(rd);
  node->AdvanceApply(3);
  EXPECT_FALSE(node->HasReady());
}

eraftpb::ConfChange CC(eraftpb::ConfChangeType type, uint64_t id) {
  eraftpb::ConfChange cc;
  cc.set_change_type(type);
  cc.set_node_id(id);
  return cc;
}

// The last two entries are the proposal and the marshaled configuration change.
TEST(RawNode3A, RawNodeProposeAndConfChange) {
  MemoryStorage storage;
  auto node = Make(NodeConfig(1, {1}), &storage);
  ASSERT_EQ(node->Campaign(), Error::kOk);
  Stabilize(*node, storage);
  ASSERT_EQ(node->Propose("somedata"), Error::kOk);
  eraftpb::ConfChange cc = CC(eraftpb::AddNode, 1);
  ASSERT_EQ(node->ProposeConfChange(cc), Error::kOk);
  Stabilize(*node, storage);
  uint64_t last = storage.LastIndex();
  auto entries = storage.Entries(last - 1, last + 1, kNoLimit);
  ASSERT_TRUE(entries.has_value());
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[0].data(), "somedata");
  EXPECT_EQ((*entries)[1].entry_type(), eraftpb::EntryConfChange);
  EXPECT_EQ((*entries)[1].data(), cc.SerializeAsString());
}

// The same change proposed twice is logged twice (applying it twice is a no-op).
TEST(RawNode3A, RawNodeProposeAddDuplicateNode) {
  MemoryStorage storage;
  auto node = Make(NodeConfig(1, {1}), &storage);
  ASSERT_EQ(node->Campaign(), Error::kOk);
  Stabilize(*node, storage);
  auto propose_and_apply = [&](const eraftpb::ConfChange& cc) {
    ASSERT_EQ(node->ProposeConfChange(cc), Error::kOk);
    Stabilize(*node, storage);
  };
  eraftpb::ConfChange cc1 = CC(eraftpb::AddNode, 1), cc2 = CC(eraftpb::AddNode, 2);
  propose_and_apply(cc1);
  propose_and_apply(cc1);
  propose_and_apply(cc2);
  uint64_t last = storage.LastIndex();
  auto entries = storage.Entries(last - 2, last + 1, kNoLimit);
  ASSERT_EQ(entries->size(), 3u);
  EXPECT_EQ((*entries)[0].data(), cc1.SerializeAsString());
  EXPECT_EQ((*entries)[1].data(), cc1.SerializeAsString());
  EXPECT_EQ((*entries)[2].data(), cc2.SerializeAsString());
  EXPECT_EQ(storage.InitialState().conf_state.nodes_size(), 2);
}

// ---- The Ready contract ----------------------------------------------------------

// A candidate's vote requests wait for its term and vote to be durable; a
// leader's appends may leave before its own entries are persisted.
TEST(RawNodeContract, MessagesSplitByPersistence) {
  MemoryStorage s1;
  auto n1 = Make(NodeConfig(1, {1, 2, 3}), &s1);
  ASSERT_EQ(n1->Campaign(), Error::kOk);
  Ready rd = n1->GetReady();
  EXPECT_TRUE(rd.messages.empty());
  ASSERT_EQ(rd.persisted_messages.size(), 2u);
  for (const auto& m : rd.persisted_messages) EXPECT_EQ(m.msg_type(), eraftpb::MsgRequestVote);
  ASSERT_TRUE(rd.hard_state.has_value());
  EXPECT_EQ(rd.hard_state->vote(), 1u);
  EXPECT_TRUE(rd.must_sync);
  n1->Advance(rd);
}

TEST(RawNodeContract, LeaderAppendsAreSentImmediately) {
  MemoryStorage s1;
  auto n1 = Make(NodeConfig(1, {1, 2, 3}), &s1);
  ASSERT_EQ(n1->Campaign(), Error::kOk);
  Handle(*n1, s1);
  eraftpb::Message vote;
  vote.set_from(2);
  vote.set_to(1);
  vote.set_term(1);
  vote.set_msg_type(eraftpb::MsgRequestVoteResponse);
  ASSERT_EQ(n1->Step(vote), Error::kOk);
  ASSERT_EQ(n1->raft().state(), StateRole::kLeader);
  Ready rd = n1->GetReady();
  ASSERT_EQ(rd.messages.size(), 2u);
  for (const auto& m : rd.messages) EXPECT_EQ(m.msg_type(), eraftpb::MsgAppend);
  EXPECT_TRUE(rd.persisted_messages.empty());
  EXPECT_EQ(LogString(rd.entries), "t1i1");
  n1->Advance(rd);
}

// Only new entries, a snapshot, or a new term or vote need an fsync.
TEST(RawNodeContract, MustSyncOnlyWhenNeeded) {
  MemoryStorage storage;
  storage.Append({MakeEntry(1, 1), MakeEntry(2, 1)});
  eraftpb::HardState hs;
  hs.set_term(1);
  storage.SetHardState(hs);
  auto node = Make(NodeConfig(2, {1, 2}), &storage);
  eraftpb::Message hb;
  hb.set_from(1);
  hb.set_to(2);
  hb.set_term(1);
  hb.set_msg_type(eraftpb::MsgHeartbeat);
  hb.set_commit(2);
  ASSERT_EQ(node->Step(hb), Error::kOk);
  Ready rd = node->GetReady();
  ASSERT_TRUE(rd.hard_state.has_value());
  EXPECT_EQ(rd.hard_state->commit(), 2u);
  EXPECT_FALSE(rd.must_sync);  // commit alone need not be durable
  node->Advance(rd);
}

// Soft and hard state appear only when they change.
TEST(RawNodeContract, StatesOnlyWhenChanged) {
  MemoryStorage storage;
  auto node = Make(NodeConfig(1, {1}), &storage);
  ASSERT_EQ(node->Campaign(), Error::kOk);
  Ready rd = Handle(*node, storage);
  ASSERT_TRUE(rd.soft_state.has_value());
  EXPECT_EQ(rd.soft_state->role, StateRole::kLeader);
  ASSERT_TRUE(rd.hard_state.has_value());
  rd = Handle(*node, storage);  // the empty entry commits
  EXPECT_FALSE(rd.soft_state.has_value());
  ASSERT_TRUE(rd.hard_state.has_value());
  EXPECT_EQ(rd.hard_state->commit(), 1u);
  node->Tick();
  EXPECT_FALSE(node->HasReady());
}

TEST(RawNodeContract, StepRejectsLocalAndUnknownPeers) {
  MemoryStorage storage;
  auto node = Make(NodeConfig(1, {1, 2}), &storage);
  for (auto t : {eraftpb::MsgHup, eraftpb::MsgBeat, eraftpb::MsgPropose, eraftpb::MsgUnreachable,
                 eraftpb::MsgSnapStatus, eraftpb::MsgCheckQuorum}) {
    eraftpb::Message m;
    m.set_msg_type(t);
    m.set_from(2);
    EXPECT_EQ(node->Step(m), Error::kStepLocalMessage) << eraftpb::MessageType_Name(t);
  }
  eraftpb::Message resp;
  resp.set_msg_type(eraftpb::MsgAppendResponse);
  resp.set_from(9);
  resp.set_term(1);
  EXPECT_EQ(node->Step(resp), Error::kStepPeerNotFound);
}

TEST(RawNodeContractDeathTest, OneReadyAtATime) {
  MemoryStorage storage;
  auto node = Make(NodeConfig(1, {1}), &storage);
  ASSERT_EQ(node->Campaign(), Error::kOk);
  Ready rd = node->GetReady();
  EXPECT_FALSE(node->HasReady());  // outstanding until advanced
  EXPECT_DEATH(node->GetReady(), "before Advance");
  node->Advance(rd);
}

// Committed entries can be handed to another thread to apply: they are not
// handed out twice, and a new membership change waits until applied.
TEST(RawNodeContract, AsynchronousApply) {
  MemoryStorage storage;
  auto node = Make(NodeConfig(1, {1}), &storage);
  ASSERT_EQ(node->Campaign(), Error::kOk);
  Stabilize(*node, storage);
  ASSERT_EQ(node->ProposeConfChange(CC(eraftpb::AddLearnerNode, 2)), Error::kOk);
  // Persist and hand out without reporting the apply.
  for (int i = 0; i < 3 && node->HasReady(); ++i) {
    Ready rd = node->GetReady();
    storage.Append(rd.entries);
    if (rd.hard_state) storage.SetHardState(*rd.hard_state);
    node->Advance(rd);
  }
  EXPECT_FALSE(node->HasReady());                // the committed entries were handed out once
  EXPECT_EQ(node->raft().log().applying(), 2u);  // the empty entry (1) and the change (2)
  EXPECT_EQ(node->GetStatus().applied, 1u);
  EXPECT_EQ(node->ProposeConfChange(CC(eraftpb::AddLearnerNode, 3)), Error::kProposalDropped);
  node->ApplyConfChange(CC(eraftpb::AddLearnerNode, 2));
  node->AdvanceApply(2);
  EXPECT_EQ(node->GetStatus().applied, 2u);
  EXPECT_EQ(node->ProposeConfChange(CC(eraftpb::AddLearnerNode, 3)), Error::kOk);
}

TEST(RawNodeContract, CommittedEntriesPerReadyAreBounded) {
  MemoryStorage storage;
  Config c = NodeConfig(1, {1});
  c.max_committed_size_per_ready = 10;
  auto node = Make(c, &storage);
  ASSERT_EQ(node->Campaign(), Error::kOk);
  Stabilize(*node, storage);
  for (int i = 0; i < 5; ++i) ASSERT_EQ(node->Propose("12345"), Error::kOk);
  Handle(*node, storage);  // persists the five entries
  size_t batches = 0, total = 0;
  while (node->HasReady()) {
    Ready rd = Handle(*node, storage);
    if (rd.committed_entries.empty()) continue;
    ++batches;
    total += rd.committed_entries.size();
    EXPECT_LE(rd.committed_entries.size(), 2u);
  }
  EXPECT_EQ(total, 5u);
  EXPECT_GE(batches, 3u);
}

TEST(RawNodeContract, StatusReportsProgressOnLeader) {
  MemoryStorage storage;
  auto node = Make(NodeConfig(1, {1}), &storage);
  RaftStatus s = node->GetStatus();
  EXPECT_EQ(s.soft_state.role, StateRole::kFollower);
  EXPECT_TRUE(s.progress.empty());
  ASSERT_EQ(node->Campaign(), Error::kOk);
  Stabilize(*node, storage);
  s = node->GetStatus();
  EXPECT_EQ(s.id, 1u);
  EXPECT_EQ(s.soft_state.role, StateRole::kLeader);
  EXPECT_EQ(s.soft_state.lead, 1u);
  EXPECT_EQ(s.hard_state.term(), 1u);
  EXPECT_EQ(s.hard_state.commit(), 1u);
  EXPECT_EQ(s.applied, 1u);
  ASSERT_EQ(s.progress.count(1), 1u);
  EXPECT_EQ(s.progress[1].match, 1u);
}

TEST(RawNodeContract, InvalidConfigIsRejected) {
  MemoryStorage storage;
  Config c = NodeConfig(0, {1});
  EXPECT_EQ(RawNode::Create(c, &storage).status().code(), Code::kInvalidArgument);
  c = NodeConfig(1, {1});
  c.election_tick = 1;
  EXPECT_FALSE(RawNode::Create(c, &storage).ok());
  c = NodeConfig(1, {1, 1});
  EXPECT_FALSE(RawNode::Create(c, &storage).ok());
  c = NodeConfig(1, {1});
  c.read_only_option = ReadOnlyOption::kLeaseBased;
  EXPECT_FALSE(RawNode::Create(c, &storage).ok());
}

}  // namespace
}  // namespace tinykv::raft
