// Snapshots (the course's 2C raft scenarios, suite Raft2C), leader transfer
// and membership change (3A, suite Raft3A).
#include <gtest/gtest.h>

#include "raft/raft_test_util.h"

namespace tinykv::raft {
namespace {

using namespace testutil;

eraftpb::Snapshot MakeSnapshot(uint64_t index, uint64_t term, std::vector<uint64_t> voters,
                               std::vector<uint64_t> learners = {}) {
  eraftpb::Snapshot s;
  s.mutable_metadata()->set_index(index);
  s.mutable_metadata()->set_term(term);
  for (auto v : voters) s.mutable_metadata()->mutable_conf_state()->add_nodes(v);
  for (auto l : learners) s.mutable_metadata()->mutable_conf_state()->add_learners(l);
  return s;
}

Message SnapshotMsg(uint64_t from, uint64_t to, uint64_t term, const eraftpb::Snapshot& s) {
  Message m = Msg(from, to, eraftpb::MsgSnapshot, term);
  *m.mutable_snapshot() = s;
  return m;
}

std::unique_ptr<TestRaft> NewNode(uint64_t id, std::vector<uint64_t> voters,
                                  std::unique_ptr<MemoryStorage> s = nullptr) {
  return std::make_unique<TestRaft>(MakeConfig(id, std::move(voters)), std::move(s));
}

std::vector<uint64_t> Voters(const Raft& r) {
  return std::vector<uint64_t>(r.tracker().voters().begin(), r.tracker().voters().end());
}

void ExpectLeaderTransferState(TestRaft& r, StateRole state, uint64_t lead) {
  EXPECT_EQ(r->state(), state);
  EXPECT_EQ(r->lead(), lead);
  EXPECT_EQ(r->lead_transferee(), kNone);
}

// ---- 2C ------------------------------------------------------------------------

// A follower restores a snapshot: log, term and membership come from it.
TEST(Raft2C, RestoreSnapshot) {
  auto rp = NewNode(1, {1, 2});
  TestRaft& r = *rp;
  auto s = MakeSnapshot(11, 11, {1, 2, 3});
  (void)r->Step(SnapshotMsg(2, 1, 11, s));
  EXPECT_EQ(r->log().LastIndex(), 11u);
  EXPECT_EQ(r->log().TermOrZero(11), 11u);
  EXPECT_EQ(r->log().committed(), 11u);
  EXPECT_EQ(Voters(r.r()), (std::vector<uint64_t>{1, 2, 3}));
  ASSERT_TRUE(r->log().PendingSnapshot().has_value());
  // The same snapshot again changes nothing.
  r.Persist();
  (void)r.TakeMessages();
  (void)r->Step(SnapshotMsg(2, 1, 11, s));
  EXPECT_FALSE(r->log().PendingSnapshot().has_value());
}

// A snapshot at or below the commit index is ignored; one whose last entry
// the log already holds only moves commit forward.
TEST(Raft2C, RestoreIgnoreSnapshot) {
  auto storage = StorageWithTerms({1, 1, 1});
  eraftpb::HardState hs;
  hs.set_term(1);
  hs.set_commit(1);
  storage->SetHardState(hs);
  auto rp = NewNode(1, {1, 2}, std::move(storage));
  TestRaft& r = *rp;
  (void)r->Step(SnapshotMsg(2, 1, 1, MakeSnapshot(1, 1, {1, 2})));
  EXPECT_FALSE(r->log().PendingSnapshot().has_value());
  EXPECT_EQ(r->log().committed(), 1u);
  (void)r->Step(SnapshotMsg(2, 1, 1, MakeSnapshot(2, 1, {1, 2})));
  EXPECT_FALSE(r->log().PendingSnapshot().has_value());
  EXPECT_EQ(r->log().committed(), 2u);
  EXPECT_EQ(r->log().LastIndex(), 3u);
}

// A follower whose next entry is compacted away gets exactly one snapshot.
TEST(Raft2C, ProvideSnap) {
  auto storage = std::make_unique<MemoryStorage>();
  ASSERT_EQ(storage->ApplySnapshot(MakeSnapshot(11, 11, {1, 2})), Error::kOk);
  eraftpb::HardState hs;
  hs.set_term(11);
  hs.set_commit(11);
  storage->SetHardState(hs);
  auto rp = NewNode(1, {}, std::move(storage));
  TestRaft& r = *rp;
  r->BecomeCandidate();
  r->BecomeLeader();
  (void)r.TakeMessages();
  Progress* pr = r->mutable_tracker().Get(2);
  pr->next = r->log().FirstIndex();
  Message reject = Msg(2, 1, eraftpb::MsgAppendResponse, r->term());
  reject.set_index(pr->next - 1);
  reject.set_reject(true);
  reject.set_reject_hint(pr->next - 1);
  (void)r->Step(reject);
  auto msgs = r.TakeMessages();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].msg_type(), eraftpb::MsgSnapshot);
  EXPECT_EQ(msgs[0].snapshot().metadata().index(), 11u);
  EXPECT_EQ(r->tracker().Get(2)->state, ProgressState::kSnapshot);
}

TEST(Raft2C, RestoreFromSnapMsg) {
  auto rp = NewNode(2, {1, 2});
  TestRaft& r = *rp;
  (void)r->Step(SnapshotMsg(1, 2, 2, MakeSnapshot(11, 11, {1, 2})));
  EXPECT_EQ(r->lead(), 1u);
  EXPECT_EQ(r->term(), 2u);
}

// Membership after a snapshot is exactly the snapshot's, whatever it was before.
TEST(Raft2C, RestoreFromSnapWithOverlapingPeersMsg) {
  auto rp = NewNode(2, {1, 2, 3});
  TestRaft& r = *rp;
  (void)r->Step(SnapshotMsg(1, 2, 2, MakeSnapshot(11, 11, {2, 3, 4, 5}, {6})));
  EXPECT_EQ(Voters(r.r()), (std::vector<uint64_t>{2, 3, 4, 5}));
  EXPECT_TRUE(r->tracker().IsLearner(6));
  EXPECT_EQ(r->tracker().Get(1), nullptr);
}

// A node isolated while the leader compacted its log catches up by snapshot.
TEST(Raft2C, SlowNodeRestore) {
  Network net = Network::Fresh(3);
  net.Send(Hup(1));
  net.Isolate(3);
  for (int j = 0; j <= 100; ++j) net.Send(Propose(1, ""));
  TestRaft& lead = net.Peer(1);
  lead.ApplyCommitted();
  ASSERT_TRUE(lead.storage()
                  .CreateSnapshot(lead->log().applied(), lead->tracker().ToConfState(), "")
                  .has_value());
  ASSERT_EQ(lead.storage().Compact(lead->log().applied()), Error::kOk);
  net.Recover();
  // Heartbeats let the leader see node 3 again; then it sends the snapshot.
  for (int i = 0; i < 10 && !lead->tracker().Get(3)->recent_active; ++i)
    net.Send(Msg(1, 1, eraftpb::MsgBeat));
  net.Send(Propose(1, ""));
  net.Send(Propose(1, ""));
  EXPECT_EQ(net.Peer(3)->log().committed(), lead->log().committed());
  EXPECT_EQ(LogString(AllEntries(net.Peer(3))).empty(), false);
  EXPECT_GE(net.Peer(3).storage().FirstIndex(), 100u);  // installed from the snapshot
}

// ---- 3A: membership --------------------------------------------------------------

eraftpb::ConfChange CC(eraftpb::ConfChangeType type, uint64_t id) {
  eraftpb::ConfChange cc;
  cc.set_change_type(type);
  cc.set_node_id(id);
  return cc;
}

TEST(Raft3A, AddNode) {
  auto rp = NewNode(1, {1});
  TestRaft& r = *rp;
  auto cs = r->ApplyConfChange(CC(eraftpb::AddNode, 2));
  EXPECT_EQ(Voters(r.r()), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(cs.nodes_size(), 2);
}

TEST(Raft3A, RemoveNode) {
  auto rp = NewNode(1, {1, 2});
  TestRaft& r = *rp;
  r->ApplyConfChange(CC(eraftpb::RemoveNode, 2));
  EXPECT_EQ(Voters(r.r()), (std::vector<uint64_t>{1}));
  r->ApplyConfChange(CC(eraftpb::RemoveNode, 1));  // down to empty
  EXPECT_TRUE(Voters(r.r()).empty());
}

// Removing a node shrinks the quorum: an entry waiting for it commits.
TEST(Raft3A, CommitAfterRemoveNode) {
  auto rp = NewNode(1, {1, 2});
  TestRaft& r = *rp;
  r->BecomeCandidate();
  r->BecomeLeader();
  Message prop = Msg(1, 1, eraftpb::MsgPropose);
  eraftpb::Entry* e = prop.add_entries();
  e->set_entry_type(eraftpb::EntryConfChange);
  e->set_data(CC(eraftpb::RemoveNode, 2).SerializeAsString());
  ASSERT_EQ(r->Step(prop), Error::kOk);
  r.Persist();
  EXPECT_TRUE(r.ApplyCommitted().empty());  // nothing commits without node 2
  uint64_t cc_index = r->log().LastIndex();
  ASSERT_EQ(r->Step(Propose(1, "hello")), Error::kOk);
  r.Persist();
  Message ack = Msg(2, 1, eraftpb::MsgAppendResponse, r->term());
  ack.set_index(cc_index);
  (void)r->Step(ack);
  auto ents = r.ApplyCommitted();
  ASSERT_EQ(ents.size(), 2u);
  EXPECT_EQ(ents[0].entry_type(), eraftpb::EntryNormal);
  EXPECT_TRUE(ents[0].data().empty());
  EXPECT_EQ(ents[1].entry_type(), eraftpb::EntryConfChange);
  r->ApplyConfChange(CC(eraftpb::RemoveNode, 2));
  ents = r.ApplyCommitted();
  ASSERT_EQ(ents.size(), 1u);
  EXPECT_EQ(ents[0].data(), "hello");
}

// ---- 3A: leader transfer ---------------------------------------------------------

TEST(Raft3A, LeaderTransferToUpToDateNode) {
  Network net = Network::Fresh(3);
  net.Send(Hup(1));
  TestRaft& lead = net.Peer(1);
  ASSERT_EQ(lead->lead(), 1u);
  net.Send(Msg(2, 1, eraftpb::MsgTransferLeader));
  ExpectLeaderTransferState(lead, StateRole::kFollower, 2);
  // After some replication, back to 1.
  net.Send(Propose(2, ""));
  net.Send(Msg(1, 2, eraftpb::MsgTransferLeader));
  ExpectLeaderTransferState(lead, StateRole::kLeader, 1);
}

// The same, with the requests handed to followers, which forward them.
TEST(Raft3A, LeaderTransferToUpToDateNodeFromFollower) {
  Network net = Network::Fresh(3);
  net.Send(Hup(1));
  TestRaft& lead = net.Peer(1);
  net.Send(Msg(2, 2, eraftpb::MsgTransferLeader));
  ExpectLeaderTransferState(lead, StateRole::kFollower, 2);
  net.Send(Propose(2, ""));
  net.Send(Msg(1, 1, eraftpb::MsgTransferLeader));
  ExpectLeaderTransferState(lead, StateRole::kLeader, 1);
}

// A target that lacks entries is caught up first, then takes over.
TEST(Raft3A, LeaderTransferToSlowFollower) {
  Network net = Network::Fresh(3);
  net.Send(Hup(1));
  net.Isolate(3);
  net.Send(Propose(1, ""));
  net.Recover();
  TestRaft& lead = net.Peer(1);
  EXPECT_EQ(lead->tracker().Get(3)->match, 1u);
  net.Send(Msg(3, 1, eraftpb::MsgTransferLeader));
  ExpectLeaderTransferState(lead, StateRole::kFollower, 3);
}

// A target that needs a snapshot gets it; the transfer completes once the
// target acknowledges it.
TEST(Raft3A, LeaderTransferAfterSnapshot) {
  Network net = Network::Fresh(3);
  net.Send(Hup(1));
  net.Isolate(3);
  net.Send(Propose(1, ""));
  TestRaft& lead = net.Peer(1);
  lead.ApplyCommitted();
  ASSERT_TRUE(lead.storage()
                  .CreateSnapshot(lead->log().applied(), lead->tracker().ToConfState(), "")
                  .has_value());
  ASSERT_EQ(lead.storage().Compact(lead->log().applied()), Error::kOk);
  net.Recover();
  EXPECT_EQ(lead->tracker().Get(3)->match, 1u);
  std::optional<Message> held;
  net.SetHook([&](const Message& m) {
    if (m.msg_type() == eraftpb::MsgAppendResponse && m.from() == 3 && !m.reject() && !held) {
      held = m;  // the snapshot's acknowledgement
      return false;
    }
    return true;
  });
  net.Send(Msg(3, 1, eraftpb::MsgTransferLeader));
  EXPECT_EQ(lead->state(), StateRole::kLeader);
  EXPECT_EQ(lead->lead_transferee(), 3u);
  ASSERT_TRUE(held.has_value());
  EXPECT_FALSE(net.Peer(3)->log().PendingSnapshot().has_value());  // persisted
  net.SetHook({});
  net.Send(*held);
  ExpectLeaderTransferState(lead, StateRole::kFollower, 3);
}

TEST(Raft3A, LeaderTransferToSelf) {
  Network net = Network::Fresh(3);
  net.Send(Hup(1));
  net.Send(Msg(1, 1, eraftpb::MsgTransferLeader));
  ExpectLeaderTransferState(net.Peer(1), StateRole::kLeader, 1);
}

TEST(Raft3A, LeaderTransferToNonExistingNode) {
  Network net = Network::Fresh(3);
  net.Send(Hup(1));
  net.Send(Msg(4, 1, eraftpb::MsgTransferLeader));
  ExpectLeaderTransferState(net.Peer(1), StateRole::kLeader, 1);
}

// An election by another node wins over a pending transfer.
TEST(Raft3A, LeaderTransferReceiveHigherTermVote) {
  Network net = Network::Fresh(3);
  net.Send(Hup(1));
  net.Isolate(3);
  TestRaft& lead = net.Peer(1);
  net.Send(Msg(3, 1, eraftpb::MsgTransferLeader));
  EXPECT_EQ(lead->lead_transferee(), 3u);
  net.Send(Hup(2));
  ExpectLeaderTransferState(lead, StateRole::kFollower, 2);
}

TEST(Raft3A, LeaderTransferRemoveNode) {
  Network net = Network::Fresh(3);
  net.Send(Hup(1));
  net.Ignore(eraftpb::MsgTimeoutNow);
  TestRaft& lead = net.Peer(1);
  net.Send(Msg(3, 1, eraftpb::MsgTransferLeader));
  EXPECT_EQ(lead->lead_transferee(), 3u);
  lead->ApplyConfChange(CC(eraftpb::RemoveNode, 3));
  ExpectLeaderTransferState(lead, StateRole::kLeader, 1);
}

TEST(Raft3A, LeaderTransferBack) {
  Network net = Network::Fresh(3);
  net.Send(Hup(1));
  net.Isolate(3);
  TestRaft& lead = net.Peer(1);
  net.Send(Msg(3, 1, eraftpb::MsgTransferLeader));
  EXPECT_EQ(lead->lead_transferee(), 3u);
  net.Send(Msg(1, 1, eraftpb::MsgTransferLeader));  // back to self: cancels
  ExpectLeaderTransferState(lead, StateRole::kLeader, 1);
}

TEST(Raft3A, LeaderTransferSecondTransferToAnotherNode) {
  Network net = Network::Fresh(3);
  net.Send(Hup(1));
  net.Isolate(3);
  TestRaft& lead = net.Peer(1);
  net.Send(Msg(3, 1, eraftpb::MsgTransferLeader));
  EXPECT_EQ(lead->lead_transferee(), 3u);
  net.Send(Msg(2, 1, eraftpb::MsgTransferLeader));
  ExpectLeaderTransferState(lead, StateRole::kFollower, 2);
}

// A node that is not a member ignores TimeoutNow and cannot be elected.
TEST(Raft3A, TransferNonMember) {
  auto rp = NewNode(1, {2, 3, 4});
  TestRaft& r = *rp;
  (void)r->Step(Msg(2, 1, eraftpb::MsgTimeoutNow, 1));
  (void)r->Step(Msg(2, 1, eraftpb::MsgRequestVoteResponse, 1));
  (void)r->Step(Msg(3, 1, eraftpb::MsgRequestVoteResponse, 1));
  EXPECT_EQ(r->state(), StateRole::kFollower);
}

// Proposals are dropped while a transfer is in progress.
TEST(Raft3A, LeaderTransferIgnoreProposal) {
  Network net = Network::Fresh(3);
  net.Send(Hup(1));
  net.Isolate(3);
  TestRaft& lead = net.Peer(1);
  net.Send(Msg(3, 1, eraftpb::MsgTransferLeader));
  EXPECT_EQ(lead->lead_transferee(), 3u);
  EXPECT_EQ(lead->Step(Propose(1, "x")), Error::kProposalDropped);
  EXPECT_EQ(lead->tracker().Get(1)->match, 1u);
}

// A transfer that does not finish within an election timeout is abandoned.
TEST(Raft3A, LeaderTransferTimeout) {
  Network net = Network::Fresh(3);
  net.Send(Hup(1));
  net.Isolate(3);
  TestRaft& lead = net.Peer(1);
  net.Send(Msg(3, 1, eraftpb::MsgTransferLeader));
  EXPECT_EQ(lead->lead_transferee(), 3u);
  for (int i = 0; i < 9; ++i) lead->Tick();
  EXPECT_EQ(lead->lead_transferee(), 3u);
  lead->Tick();
  ExpectLeaderTransferState(lead, StateRole::kLeader, 1);
  EXPECT_EQ(lead->Step(Propose(1, "x")), Error::kOk);
}

// Only one membership change may be pending: the next waits until the
// previous one is applied.
TEST(Raft3A, OnePendingConfChangeAtATime) {
  auto rp = NewNode(1, {1, 2});
  TestRaft& r = *rp;
  r->BecomeCandidate();
  r->BecomeLeader();
  auto cc_msg = [](uint64_t node) {
    Message m = Msg(1, 1, eraftpb::MsgPropose);
    eraftpb::Entry* e = m.add_entries();
    e->set_entry_type(eraftpb::EntryConfChange);
    e->set_data(CC(eraftpb::AddNode, node).SerializeAsString());
    return m;
  };
  // Not before the entries of earlier terms (here: none but the empty entry's
  // predecessors) are applied; the first is accepted, the second dropped.
  EXPECT_EQ(r->Step(cc_msg(3)), Error::kOk);
  EXPECT_EQ(r->Step(cc_msg(4)), Error::kProposalDropped);
  r.Persist();
  for (auto& m : r.TakeMessages()) {
    if (m.msg_type() == eraftpb::MsgAppend) (void)r->Step(AcceptAndReply(m));
  }
  auto applied = r.ApplyCommitted();
  ASSERT_EQ(applied.size(), 2u);
  r->ApplyConfChange(CC(eraftpb::AddNode, 3));
  EXPECT_EQ(r->Step(cc_msg(4)), Error::kOk);
}

// A new leader may not propose a membership change before what earlier
// leaders left behind is applied.
TEST(Raft3A, NewLeaderWaitsForEarlierEntriesBeforeConfChange) {
  auto storage = StorageWithTerms({1, 1});
  eraftpb::HardState hs;
  hs.set_term(1);
  storage->SetHardState(hs);
  auto rp = NewNode(1, {1, 2}, std::move(storage));
  TestRaft& r = *rp;
  r->BecomeCandidate();
  r->BecomeLeader();
  EXPECT_EQ(r->pending_conf_index(), 2u);
  Message m = Msg(1, 1, eraftpb::MsgPropose);
  m.add_entries()->set_entry_type(eraftpb::EntryConfChange);
  EXPECT_EQ(r->Step(m), Error::kProposalDropped);
}

}  // namespace
}  // namespace tinykv::raft
