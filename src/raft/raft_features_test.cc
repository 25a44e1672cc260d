// What the library adds to the course: PreVote, CheckQuorum, flow control,
// ReadIndex and learners.
#include <gtest/gtest.h>

#include "raft/raft_test_util.h"

namespace tinykv::raft {
namespace {

using namespace testutil;

std::unique_ptr<TestRaft> NewNode(uint64_t id, std::vector<uint64_t> voters,
                                  const std::function<void(Config&)>& tweak = {}) {
  Config c = MakeConfig(id, std::move(voters));
  if (tweak) tweak(c);
  return std::make_unique<TestRaft>(c);
}

auto PreVote = [](Config& c) { c.pre_vote = true; };
auto CheckQuorum = [](Config& c) { c.check_quorum = true; };
auto PreVoteAndCheckQuorum = [](Config& c) {
  c.pre_vote = true;
  c.check_quorum = true;
};

// Ticks a node of the network n times, delivering what it sends.
void TickNode(Network& net, uint64_t id, int n) {
  for (int i = 0; i < n; ++i) {
    net.Peer(id)->Tick();
    net.Send(net.Peer(id).PersistAndTakeMessages());
  }
}

Message ReadIndexMsg(uint64_t from, uint64_t to, const std::string& ctx) {
  Message m = Msg(from, to, eraftpb::MsgReadIndex);
  m.set_context(ctx);
  return m;
}

// ---- PreVote ----------------------------------------------------------------------

// A node cut off from the group keeps campaigning, but with pre-vote its term
// never rises; when it comes back, the leader is not disturbed.
TEST(RaftPreVote, PartitionedNodeRejoinsWithoutDisruption) {
  Network net = Network::Fresh(3, PreVote);
  net.Send(Hup(1));
  ASSERT_EQ(net.Peer(1)->state(), StateRole::kLeader);
  net.Isolate(3);
  TickNode(net, 3, 200);
  EXPECT_EQ(net.Peer(3)->term(), 1u);
  EXPECT_EQ(net.Peer(3)->state(), StateRole::kPreCandidate);
  net.Recover();
  net.Send(Msg(1, 1, eraftpb::MsgBeat));
  EXPECT_EQ(net.Peer(1)->state(), StateRole::kLeader);
  EXPECT_EQ(net.Peer(1)->term(), 1u);
  EXPECT_EQ(net.Peer(3)->state(), StateRole::kFollower);
  EXPECT_EQ(net.Peer(3)->lead(), 1u);
}

// The same without pre-vote: the returning node's inflated term deposes the
// leader (what pre-vote exists to prevent).
TEST(RaftPreVote, WithoutPreVoteARejoiningNodeDisrupts) {
  Network net = Network::Fresh(3);
  net.Send(Hup(1));
  net.Isolate(3);
  TickNode(net, 3, 200);
  EXPECT_GT(net.Peer(3)->term(), 5u);
  net.Recover();
  net.Send(Msg(1, 1, eraftpb::MsgBeat));
  EXPECT_NE(net.Peer(1)->state(), StateRole::kLeader);
  EXPECT_GT(net.Peer(1)->term(), 5u);
}

// A pre-candidate whose log is behind is refused and returns to follower at
// its unchanged term.
TEST(RaftPreVote, PreCandidateWithStaleLogIsRefused) {
  Network net = Network::Fresh(3, PreVote);
  net.Send(Hup(1));
  net.Isolate(3);
  net.Send(Propose(1, "a"));
  net.Recover();
  // Node 1 is deposed by nobody; make 3 campaign against up-to-date voters.
  net.Ignore(eraftpb::MsgAppend);
  net.Ignore(eraftpb::MsgHeartbeat);
  net.Send(Hup(3));
  EXPECT_EQ(net.Peer(3)->state(), StateRole::kFollower);
  EXPECT_EQ(net.Peer(3)->term(), 1u);
  EXPECT_EQ(net.Peer(1)->state(), StateRole::kLeader);
}

// Both followers pre-vote at once; both win the pre-vote, split the real
// vote; the next campaigner wins.
TEST(RaftPreVote, PreVoteWithSplitVote) {
  Network net = Network::Fresh(3, PreVote);
  net.Send(Hup(1));
  net.Isolate(1);
  net.Send(std::vector<Message>{Hup(2), Hup(3)});
  EXPECT_EQ(net.Peer(2)->term(), 2u);
  EXPECT_EQ(net.Peer(3)->term(), 2u);
  EXPECT_EQ(net.Peer(2)->state(), StateRole::kCandidate);
  EXPECT_EQ(net.Peer(3)->state(), StateRole::kCandidate);
  net.Send(Hup(2));
  EXPECT_EQ(net.Peer(2)->term(), 3u);
  EXPECT_EQ(net.Peer(3)->term(), 3u);
  EXPECT_EQ(net.Peer(2)->state(), StateRole::kLeader);
  EXPECT_EQ(net.Peer(3)->state(), StateRole::kFollower);
}

// Followers that still hear the leader ignore pre-votes; once the leader is
// gone for them, a new one is elected.
TEST(RaftPreVote, PreVoteWithCheckQuorum) {
  Network net = Network::Fresh(3, PreVoteAndCheckQuorum);
  net.Send(Hup(1));
  net.Isolate(1);
  ASSERT_EQ(net.Peer(2)->state(), StateRole::kFollower);
  net.Send(Hup(3));  // node 2 is in its lease: ignored
  EXPECT_EQ(net.Peer(3)->state(), StateRole::kPreCandidate);
  EXPECT_EQ(net.Peer(3)->term(), 1u);
  net.Send(Hup(2));  // node 3 no longer follows a leader: it grants
  EXPECT_EQ(net.Peer(2)->state(), StateRole::kLeader);
  EXPECT_EQ(net.Peer(3)->state(), StateRole::kFollower);
}

// A late heartbeat to a pre-candidate does not depose the leader (compare
// Raft2AA.DisruptiveFollower without pre-vote).
TEST(RaftPreVote, DisruptiveFollowerPreVote) {
  Network net = Network::Fresh(3, PreVoteAndCheckQuorum);
  net.Send(Hup(1));
  net.Isolate(3);
  for (int i = 0; i < 3; ++i) net.Send(Propose(1, "x"));
  net.Recover();
  net.Send(Hup(3));
  EXPECT_EQ(net.Peer(1)->state(), StateRole::kLeader);
  EXPECT_EQ(net.Peer(3)->state(), StateRole::kPreCandidate);
  EXPECT_EQ(net.Peer(3)->term(), 1u);
  net.Send(Msg(1, 3, eraftpb::MsgHeartbeat, net.Peer(1)->term()));
  EXPECT_EQ(net.Peer(1)->state(), StateRole::kLeader);
  EXPECT_EQ(net.Peer(3)->state(), StateRole::kFollower);
}

// A pre-vote response that arrives after the real election began is stale.
TEST(RaftPreVote, StalePreVoteResponseIsIgnored) {
  auto rp = NewNode(1, {1, 2, 3, 4, 5}, PreVote);
  TestRaft& r = *rp;
  (void)r->Step(Hup(1));
  ASSERT_EQ(r->state(), StateRole::kPreCandidate);
  for (uint64_t id : {2, 3}) {
    Message m = Msg(id, 1, eraftpb::MsgRequestPreVoteResponse, 1);
    (void)r->Step(m);
  }
  ASSERT_EQ(r->state(), StateRole::kCandidate);
  ASSERT_EQ(r->term(), 1u);
  // Pre-vote grants from 4 and 5 must not count as votes.
  for (uint64_t id : {4, 5}) (void)r->Step(Msg(id, 1, eraftpb::MsgRequestPreVoteResponse, 1));
  EXPECT_EQ(r->state(), StateRole::kCandidate);
}

// ---- CheckQuorum --------------------------------------------------------------------

TEST(RaftCheckQuorum, LeaderStepsDownWhenQuorumLost) {
  auto rp = NewNode(1, {1, 2, 3}, CheckQuorum);
  TestRaft& r = *rp;
  r->BecomeCandidate();
  r->BecomeLeader();
  for (int i = 0; i < 10 + 1; ++i) r->Tick();
  EXPECT_EQ(r->state(), StateRole::kFollower);
  EXPECT_EQ(r->term(), 1u);
}

TEST(RaftCheckQuorum, LeaderStaysWhileQuorumIsActive) {
  auto rp = NewNode(1, {1, 2, 3}, CheckQuorum);
  TestRaft& r = *rp;
  r->BecomeCandidate();
  r->BecomeLeader();
  for (int i = 0; i < 10 * 3; ++i) {
    (void)r->Step(Msg(2, 1, eraftpb::MsgHeartbeatResponse, r->term()));
    r->Tick();
  }
  EXPECT_EQ(r->state(), StateRole::kLeader);
}

// Followers that heard from the leader within the election timeout refuse to
// vote; once their lease has run out, a new leader can supersede the old one.
TEST(RaftCheckQuorum, LeaderSupersedingWithCheckQuorum) {
  Network net = Network::Fresh(3, CheckQuorum);
  net.Peer(2)->SetRandomizedElectionTimeout(10 + 1);
  for (int i = 0; i < 10; ++i) net.Peer(2)->Tick();
  net.Send(Hup(1));
  ASSERT_EQ(net.Peer(1)->state(), StateRole::kLeader);
  net.Send(Hup(3));
  EXPECT_EQ(net.Peer(3)->state(), StateRole::kCandidate);  // 2 refused: in lease
  for (int i = 0; i < 10; ++i) net.Peer(2)->Tick();
  net.Send(Hup(3));
  EXPECT_EQ(net.Peer(3)->state(), StateRole::kLeader);
}

// A restarted member has forgotten that it heard from a leader. With
// start_in_lease it still refuses, for one election timeout, the votes that
// the leader's lease counts on it refusing; without it, it votes at once.
TEST(RaftCheckQuorum, RestartedNodeHonoursTheLeaseWithStartInLease) {
  for (bool start_in_lease : {false, true}) {
    SCOPED_TRACE(start_in_lease ? "start_in_lease" : "plain restart");
    auto rp = NodeWithVote(2, {1, 2, 3}, 1, 3, [&](Config& c) {
      c.check_quorum = true;
      c.start_in_lease = start_in_lease;
    });
    TestRaft& r = *rp;
    r->SetRandomizedElectionTimeout(20);  // no campaign of its own in this test
    Message vote = Msg(3, 2, eraftpb::MsgRequestVote, 4);
    (void)r->Step(vote);
    auto msgs = r.TakeMessages();
    if (!start_in_lease) {
      ASSERT_EQ(msgs.size(), 1u);
      EXPECT_FALSE(msgs[0].reject());
      EXPECT_EQ(r->term(), 4u);
      continue;
    }
    EXPECT_TRUE(msgs.empty()) << "voted within the lease it may owe a former leader";
    EXPECT_EQ(r->term(), 3u);
    for (int i = 0; i < 9; ++i) r->Tick();
    (void)r->Step(vote);
    EXPECT_TRUE(r.TakeMessages().empty()) << "voted before an election timeout passed";
    r->Tick();  // the tenth tick: the lease it may owe has run out
    (void)r->Step(vote);
    msgs = r.TakeMessages();
    ASSERT_EQ(msgs.size(), 1u);
    EXPECT_FALSE(msgs[0].reject());
    EXPECT_EQ(r->term(), 4u);
  }
}

TEST(RaftCheckQuorum, StartInLeaseNeedsCheckQuorum) {
  Config c = MakeConfig(1, {1, 2, 3});
  c.start_in_lease = true;
  EXPECT_FALSE(c.Validate().ok());
  c.check_quorum = true;
  EXPECT_TRUE(c.Validate().ok());
}

// A candidate stuck at a higher term is freed: its answer to the leader's
// heartbeat carries the higher term and deposes the leader.
TEST(RaftCheckQuorum, FreeStuckCandidateWithCheckQuorum) {
  Network net = Network::Fresh(3, CheckQuorum);
  net.Peer(2)->SetRandomizedElectionTimeout(10 + 1);
  for (int i = 0; i < 10; ++i) net.Peer(2)->Tick();
  net.Send(Hup(1));
  net.Isolate(1);
  net.Send(Hup(3));
  EXPECT_EQ(net.Peer(2)->state(), StateRole::kFollower);
  EXPECT_EQ(net.Peer(3)->state(), StateRole::kCandidate);
  EXPECT_EQ(net.Peer(3)->term(), net.Peer(2)->term() + 1);
  net.Send(Hup(3));
  EXPECT_EQ(net.Peer(3)->term(), net.Peer(2)->term() + 2);
  net.Recover();
  net.Send(Msg(1, 3, eraftpb::MsgHeartbeat, net.Peer(1)->term()));
  EXPECT_EQ(net.Peer(1)->state(), StateRole::kFollower);
  EXPECT_EQ(net.Peer(3)->term(), net.Peer(1)->term());
  net.Send(Hup(3));
  EXPECT_EQ(net.Peer(3)->state(), StateRole::kLeader);
}

// A leader transfer's campaign is not blocked by the voters' leases.
TEST(RaftCheckQuorum, LeaderTransferWithCheckQuorum) {
  Network net = Network::Fresh(3, CheckQuorum);
  for (uint64_t id = 1; id <= 3; ++id) net.Peer(id)->SetRandomizedElectionTimeout(10 + id);
  for (int i = 0; i < 10; ++i) net.Peer(2)->Tick();
  net.Send(Hup(1));
  TestRaft& lead = net.Peer(1);
  ASSERT_EQ(lead->lead(), 1u);
  net.Send(Msg(2, 1, eraftpb::MsgTransferLeader));
  EXPECT_EQ(lead->state(), StateRole::kFollower);
  EXPECT_EQ(lead->lead(), 2u);
  net.Send(Propose(2, ""));
  net.Send(Msg(1, 2, eraftpb::MsgTransferLeader));
  EXPECT_EQ(lead->state(), StateRole::kLeader);
  EXPECT_EQ(lead->lead_transferee(), kNone);
}

// A member added just before a quorum check gets one election timeout of grace.
TEST(RaftCheckQuorum, AddNodeGetsGracePeriod) {
  auto rp = NewNode(1, {1}, CheckQuorum);
  TestRaft& r = *rp;
  r->BecomeCandidate();
  r->BecomeLeader();
  for (int i = 0; i < 10 - 1; ++i) r->Tick();
  eraftpb::ConfChange cc;
  cc.set_change_type(eraftpb::AddNode);
  cc.set_node_id(2);
  r->ApplyConfChange(cc);
  r->Tick();  // reaches the election timeout: a quorum check
  EXPECT_EQ(r->state(), StateRole::kLeader);
  for (int i = 0; i < 10; ++i) r->Tick();
  EXPECT_EQ(r->state(), StateRole::kFollower);
}

// ---- Flow control -------------------------------------------------------------------

// Leader of {1, 2} with follower 2 in replicate state; window of `inflight`.
std::unique_ptr<TestRaft> ReplicatingLeader(size_t inflight) {
  auto rp = NewNode(1, {1, 2}, [inflight](Config& c) { c.max_inflight_msgs = inflight; });
  TestRaft& r = *rp;
  r->BecomeCandidate();
  r->BecomeLeader();
  r->mutable_tracker().Get(2)->BecomeReplicate();
  return rp;
}

TEST(RaftFlowControl, WindowFillsThenPauses) {
  auto rp = ReplicatingLeader(8);
  TestRaft& r = *rp;
  for (int i = 0; i < 8; ++i) {
    ASSERT_EQ(r->Step(Propose(1)), Error::kOk);
    EXPECT_EQ(r.TakeMessages().size(), 1u);
  }
  EXPECT_TRUE(r->tracker().Get(2)->inflights.Full());
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(r->Step(Propose(1)), Error::kOk);
    EXPECT_TRUE(r.TakeMessages().empty());
  }
}

TEST(RaftFlowControl, AcksMoveTheWindowForward) {
  auto rp = ReplicatingLeader(8);
  TestRaft& r = *rp;
  for (int i = 0; i < 8; ++i) ASSERT_EQ(r->Step(Propose(1)), Error::kOk);
  (void)r.TakeMessages();
  const Progress* pr2 = r->tracker().Get(2);
  // The first append held the empty entry (1) and the first proposal (2).
  for (uint64_t acked = 2; acked < 8; ++acked) {
    Message ack = Msg(2, 1, eraftpb::MsgAppendResponse, r->term());
    ack.set_index(acked);
    (void)r->Step(ack);
    (void)r.TakeMessages();
    ASSERT_EQ(r->Step(Propose(1)), Error::kOk);
    EXPECT_EQ(r.TakeMessages().size(), 1u);
    EXPECT_TRUE(pr2->inflights.Full());
    // Older acknowledgements free nothing.
    for (uint64_t old = 0; old < acked; ++old) {
      Message stale = Msg(2, 1, eraftpb::MsgAppendResponse, r->term());
      stale.set_index(old);
      (void)r->Step(stale);
      EXPECT_TRUE(pr2->inflights.Full());
    }
  }
}

// A heartbeat response frees one slot, so a lost append cannot block a
// follower forever.
TEST(RaftFlowControl, HeartbeatResponseFreesOneSlot) {
  auto rp = ReplicatingLeader(8);
  TestRaft& r = *rp;
  for (int i = 0; i < 8; ++i) ASSERT_EQ(r->Step(Propose(1)), Error::kOk);
  (void)r.TakeMessages();
  const Progress* pr2 = r->tracker().Get(2);
  for (int round = 1; round < 5; ++round) {
    ASSERT_TRUE(pr2->inflights.Full());
    for (int i = 0; i < round; ++i) {
      (void)r->Step(Msg(2, 1, eraftpb::MsgHeartbeatResponse, r->term()));
      (void)r.TakeMessages();
      EXPECT_FALSE(pr2->inflights.Full());
    }
    ASSERT_EQ(r->Step(Propose(1)), Error::kOk);
    EXPECT_EQ(r.TakeMessages().size(), 1u);  // one slot
    for (int i = 0; i < 10; ++i) {
      ASSERT_EQ(r->Step(Propose(1)), Error::kOk);
      EXPECT_TRUE(r.TakeMessages().empty());  // and just one
    }
    // One more response sends the proposals that waited, refilling the window.
    (void)r->Step(Msg(2, 1, eraftpb::MsgHeartbeatResponse, r->term()));
    (void)r.TakeMessages();
  }
}

// In probe state one append is in flight at a time; a heartbeat response
// lets the next one go.
TEST(RaftFlowControl, ProbeSendsOneAppendAtATime) {
  auto rp = NewNode(1, {1, 2});
  TestRaft& r = *rp;
  r->BecomeCandidate();
  r->BecomeLeader();
  ASSERT_EQ(r->Step(Propose(1)), Error::kOk);
  auto first = r.TakeMessages();
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].index(), 0u);
  EXPECT_TRUE(r->tracker().Get(2)->probe_sent);
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(r->Step(Propose(1)), Error::kOk);
    EXPECT_TRUE(r.TakeMessages().empty());
  }
  (void)r->Step(Msg(1, 1, eraftpb::MsgBeat));
  auto beats = r.TakeMessages();
  ASSERT_EQ(beats.size(), 1u);
  EXPECT_EQ(beats[0].msg_type(), eraftpb::MsgHeartbeat);
  (void)r->Step(Msg(2, 1, eraftpb::MsgHeartbeatResponse, r->term()));
  auto retry = r.TakeMessages();
  ASSERT_EQ(retry.size(), 1u);
  EXPECT_EQ(retry[0].msg_type(), eraftpb::MsgAppend);
  EXPECT_EQ(retry[0].index(), 0u);
  EXPECT_EQ(retry[0].entries_size(), 12);
  EXPECT_TRUE(r->tracker().Get(2)->probe_sent);
}

TEST(RaftFlowControl, SnapshotStatePausesAppends) {
  auto rp = NewNode(1, {1, 2});
  TestRaft& r = *rp;
  r->BecomeCandidate();
  r->BecomeLeader();
  r->mutable_tracker().Get(2)->BecomeSnapshot(10);
  ASSERT_EQ(r->Step(Propose(1)), Error::kOk);
  EXPECT_TRUE(r.TakeMessages().empty());
}

// The snapshot report moves the follower back to probing: after a failure it
// resumes from match, after success from the snapshot; either way it waits
// for the next heartbeat response or append response.
TEST(RaftFlowControl, SnapshotReportResumesProbing) {
  for (bool failed : {true, false}) {
    auto rp = NewNode(1, {1, 2});
    TestRaft& r = *rp;
    r->BecomeCandidate();
    r->BecomeLeader();
    Progress* pr = r->mutable_tracker().Get(2);
    pr->next = 1;
    pr->BecomeSnapshot(11);
    Message report = Msg(2, 1, eraftpb::MsgSnapStatus);
    report.set_reject(failed);
    (void)r->Step(report);
    EXPECT_EQ(pr->state, ProgressState::kProbe);
    EXPECT_EQ(pr->pending_snapshot, 0u);
    EXPECT_EQ(pr->next, failed ? 1u : 12u);
    EXPECT_TRUE(pr->probe_sent);
  }
}

// An append response at or past the pending snapshot ends the snapshot state.
TEST(RaftFlowControl, SnapshotAbortedByAppendResponse) {
  auto rp = NewNode(1, {1, 2});
  TestRaft& r = *rp;
  r->BecomeCandidate();
  r->BecomeLeader();
  Progress* pr = r->mutable_tracker().Get(2);
  pr->next = 1;
  pr->BecomeSnapshot(11);
  Message ack = Msg(2, 1, eraftpb::MsgAppendResponse, r->term());
  ack.set_index(11);
  (void)r->Step(ack);
  EXPECT_EQ(pr->pending_snapshot, 0u);
  EXPECT_EQ(pr->state, ProgressState::kReplicate);
  EXPECT_EQ(pr->match, 11u);
}

TEST(RaftFlowControl, MaxSizePerMessage) {
  auto rp = NewNode(1, {1, 2}, [](Config& c) { c.max_size_per_msg = 10; });
  TestRaft& r = *rp;
  r->BecomeCandidate();
  r->BecomeLeader();
  r.Persist();
  for (int i = 0; i < 6; ++i) ASSERT_EQ(r->Step(Propose(1, "12345")), Error::kOk);
  (void)r.TakeMessages();
  // Probe with a heartbeat response: the append carries at most 10 bytes.
  (void)r->Step(Msg(2, 1, eraftpb::MsgHeartbeatResponse, r->term()));
  auto msgs = r.TakeMessages();
  ASSERT_EQ(msgs.size(), 1u);
  uint64_t bytes = 0;
  for (const auto& e : msgs[0].entries()) bytes += e.data().size();
  EXPECT_LE(bytes, 10u);
  EXPECT_GE(msgs[0].entries_size(), 1);
}

// Proposals are dropped while too much is uncommitted, and accepted again
// once committed entries are handed out.
TEST(RaftFlowControl, UncommittedEntryLimit) {
  constexpr uint64_t kEntry = 10;
  auto rp = NewNode(1, {1, 2, 3}, [](Config& c) { c.max_uncommitted_size = 3 * kEntry; });
  TestRaft& r = *rp;
  r->BecomeCandidate();
  r->BecomeLeader();
  std::string data(kEntry, 'x');
  for (int i = 0; i < 3; ++i) EXPECT_EQ(r->Step(Propose(1, data)), Error::kOk);
  EXPECT_EQ(r->Step(Propose(1, data)), Error::kProposalDropped);
  EXPECT_EQ(r->uncommitted_size(), 3 * kEntry);
  // Commit and hand out everything (the followers acknowledge every append).
  r.Persist();
  for (auto msgs = r.TakeMessages(); !msgs.empty(); msgs = r.TakeMessages()) {
    for (auto& m : msgs) {
      if (m.msg_type() == eraftpb::MsgAppend) (void)r->Step(AcceptAndReply(m));
    }
  }
  ASSERT_EQ(r->log().committed(), 4u);
  auto entries = r->mutable_log().NextCommittedEntries();
  uint64_t bytes = 0;
  for (const auto& e : entries) bytes += EntrySize(e);
  r->OnApplying(entries.back().index(), bytes);
  EXPECT_EQ(r->uncommitted_size(), 0u);
  EXPECT_EQ(r->Step(Propose(1, data)), Error::kOk);
  // A single entry larger than the limit is accepted when nothing is uncommitted.
  auto rp2 = NewNode(1, {1, 2, 3}, [](Config& c) { c.max_uncommitted_size = 3 * kEntry; });
  TestRaft& r2 = *rp2;
  r2->BecomeCandidate();
  r2->BecomeLeader();
  EXPECT_EQ(r2->Step(Propose(1, std::string(10 * kEntry, 'y'))), Error::kOk);
  EXPECT_EQ(r2->Step(Propose(1, "z")), Error::kProposalDropped);
}

TEST(RaftFlowControl, UnreachableFollowerGoesBackToProbe) {
  auto rp = ReplicatingLeader(8);
  TestRaft& r = *rp;
  (void)r->Step(Msg(2, 1, eraftpb::MsgUnreachable));
  EXPECT_EQ(r->tracker().Get(2)->state, ProgressState::kProbe);
}

// A follower that never answers costs the leader a bounded number of
// outstanding appends, however many proposals go through the others.
TEST(RaftFlowControl, SlowFollowerCostsBoundedMessages) {
  constexpr size_t kWindow = 4;
  Network net = Network::Fresh(3, [](Config& c) {
    c.max_inflight_msgs = kWindow;
    c.max_size_per_msg = 64;
  });
  net.Send(Hup(1));
  size_t entries_to_3 = 0;
  bool three_answers = true;
  net.SetHook([&](const Message& m) {
    if (m.to() == 3 && m.msg_type() == eraftpb::MsgAppend) entries_to_3 += m.entries_size();
    if (m.from() == 3) return three_answers;
    return true;
  });
  net.Send(Propose(1, "warm"));
  three_answers = false;  // node 3 goes silent
  entries_to_3 = 0;
  for (int i = 0; i < 500; ++i) net.Send(Propose(1, std::string(16, 'p')));
  EXPECT_EQ(net.Peer(1)->log().committed(), 502u);  // 1 and 2 commit everything
  // At most a window of appends of at most 64 bytes (4 entries) each.
  EXPECT_LE(entries_to_3, kWindow * 4);
  EXPECT_TRUE(net.Peer(1)->tracker().Get(3)->inflights.Full());
}

// A follower with a long divergent tail is repaired in a few round trips:
// rejections hint past the whole divergent term.
TEST(RaftFlowControl, RejectHintSkipsDivergentTerm) {
  std::vector<uint64_t> lead_terms(10, 1), follower_terms(10, 1);
  lead_terms.insert(lead_terms.end(), 100, 5);
  follower_terms.insert(follower_terms.end(), 100, 3);
  auto lead_storage = StorageWithTerms(lead_terms);
  eraftpb::HardState lhs;
  lhs.set_term(5);
  lead_storage->SetHardState(lhs);
  auto follower_storage = StorageWithTerms(follower_terms);
  eraftpb::HardState fhs;
  fhs.set_term(5);
  follower_storage->SetHardState(fhs);
  Network net =
      Network::Of(std::make_unique<TestRaft>(MakeConfig(1, {1, 2, 3}), std::move(lead_storage)),
                  std::make_unique<TestRaft>(MakeConfig(2, {1, 2, 3}), std::move(follower_storage)),
                  NodeWithLog(3, {1, 2, 3}, lead_terms));
  int rejections = 0;
  net.SetHook([&](const Message& m) {
    if (m.from() == 2 && m.msg_type() == eraftpb::MsgAppendResponse && m.reject()) ++rejections;
    return true;
  });
  net.Send(Hup(1));
  ASSERT_EQ(net.Peer(1)->state(), StateRole::kLeader);
  EXPECT_EQ(LogString(AllEntries(net.Peer(2))), LogString(AllEntries(net.Peer(1))));
  EXPECT_LE(rejections, 2);
}

// ---- ReadIndex ----------------------------------------------------------------------

// Safe reads: the leader confirms with a heartbeat quorum; followers forward.
TEST(RaftReadIndex, SafeReadsFromLeaderAndFollowers) {
  Network net = Network::Fresh(3);
  net.Send(Hup(1));
  for (int i = 0; i < 5; ++i) net.Send(Propose(1, "x"));
  uint64_t committed = net.Peer(1)->log().committed();
  for (uint64_t id : {1, 2, 3}) {
    std::string ctx = "ctx" + std::to_string(id);
    net.Send(ReadIndexMsg(id, id, ctx));
    auto rs = net.Peer(id)->TakeReadStates();
    ASSERT_EQ(rs.size(), 1u) << "node " << id;
    EXPECT_EQ(rs[0].index, committed);
    EXPECT_EQ(rs[0].request_ctx, ctx);
  }
}

// A leader cut off from the others cannot confirm a read.
TEST(RaftReadIndex, IsolatedLeaderServesNoRead) {
  Network net = Network::Fresh(3);
  net.Send(Hup(1));
  net.Isolate(1);
  net.Send(ReadIndexMsg(1, 1, "ctx"));
  EXPECT_TRUE(net.Peer(1)->TakeReadStates().empty());
  EXPECT_EQ(net.Peer(1)->read_only().PendingCount(), 1u);
  net.Recover();
  net.Send(Msg(1, 1, eraftpb::MsgBeat));  // the next heartbeat round confirms it
  EXPECT_EQ(net.Peer(1)->TakeReadStates().size(), 1u);
}

TEST(RaftReadIndex, LeaseBasedReadsAnswerAtOnce) {
  Network net = Network::Fresh(3, [](Config& c) {
    c.check_quorum = true;
    c.read_only_option = ReadOnlyOption::kLeaseBased;
  });
  net.Send(Hup(1));
  net.Send(Propose(1, "x"));
  net.Isolate(1);  // no heartbeat round needed
  net.Send(ReadIndexMsg(1, 1, "lease"));
  auto rs = net.Peer(1)->TakeReadStates();
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].index, net.Peer(1)->log().committed());
}

// A new leader answers no read until an entry of its own term commits; the
// held request is then answered with the new commit index.
TEST(RaftReadIndex, NewLeaderDefersReadsUntilItCommits) {
  auto make = [](uint64_t id, uint64_t committed, uint64_t compact) {
    auto storage = StorageWithTerms({1, 1});
    eraftpb::HardState hs;
    hs.set_term(1);
    hs.set_commit(committed);
    storage->SetHardState(hs);
    if (compact) {
      EXPECT_EQ(storage->Compact(compact), Error::kOk);
    }
    Config c = MakeConfig(id, {1, 2, 3});
    c.applied = committed;
    return std::make_unique<TestRaft>(c, std::move(storage));
  };
  Network net = Network::Of(make(1, 1, 0), make(2, 2, 2), make(3, 2, 2));
  net.Ignore(eraftpb::MsgAppend);  // node 1 cannot commit in its term
  net.Send(Hup(1));
  TestRaft& lead = net.Peer(1);
  ASSERT_EQ(lead->state(), StateRole::kLeader);
  net.Send(ReadIndexMsg(1, 1, "ctx"));
  EXPECT_TRUE(lead->TakeReadStates().empty());
  net.Recover();
  lead->Tick();  // heartbeats, delivered with the next send
  net.Send(Propose(1, ""));
  EXPECT_EQ(lead->log().committed(), 4u);
  EXPECT_EQ(lead->log().TermOrZero(lead->log().committed()), lead->term());
  auto rs = lead->TakeReadStates();
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].index, 4u);
  EXPECT_EQ(rs[0].request_ctx, "ctx");
  net.Send(ReadIndexMsg(1, 1, "ctx2"));
  EXPECT_EQ(lead->TakeReadStates().size(), 1u);
}

TEST(RaftReadIndex, SingleVoterAnswersAfterItsFirstCommit) {
  auto rp = NewNode(1, {1});
  TestRaft& r = *rp;
  (void)r->Step(Hup(1));
  ASSERT_EQ(r->state(), StateRole::kLeader);
  (void)r->Step(ReadIndexMsg(1, 1, "early"));
  EXPECT_TRUE(r->TakeReadStates().empty());  // the empty entry is not persisted yet
  r.Persist();
  auto rs = r->TakeReadStates();
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].index, 1u);
  (void)r->Step(ReadIndexMsg(1, 1, "later"));
  EXPECT_EQ(r->TakeReadStates().size(), 1u);
}

// One quorum acknowledgement answers every request queued before it.
TEST(RaftReadIndex, AcknowledgementReleasesEarlierRequests) {
  auto rp = NewNode(1, {1, 2, 3});
  TestRaft& r = *rp;
  r->BecomeCandidate();
  r->BecomeLeader();
  CommitNoopEntry(r);
  for (std::string ctx : {"a", "b", "c"}) (void)r->Step(ReadIndexMsg(1, 1, ctx));
  (void)r.TakeMessages();
  EXPECT_EQ(r->read_only().PendingCount(), 3u);
  Message ack = Msg(2, 1, eraftpb::MsgHeartbeatResponse, r->term());
  ack.set_context("b");
  (void)r->Step(ack);
  auto rs = r->TakeReadStates();
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].request_ctx, "a");
  EXPECT_EQ(rs[1].request_ctx, "b");
  EXPECT_EQ(r->read_only().PendingCount(), 1u);
}

// A read waiting for a member's acknowledgement is answered when that member
// is removed and the leader's own acknowledgement is a quorum.
TEST(RaftReadIndex, RemovingTheSilentMemberReleasesWaitingReads) {
  auto rp = NewNode(1, {1, 2});
  TestRaft& r = *rp;
  r->BecomeCandidate();
  r->BecomeLeader();
  CommitNoopEntry(r);
  (void)r->Step(ReadIndexMsg(1, 1, "waiting"));
  (void)r.TakeMessages();
  EXPECT_TRUE(r->TakeReadStates().empty());
  eraftpb::ConfChange cc;
  cc.set_change_type(eraftpb::RemoveNode);
  cc.set_node_id(2);
  (void)r->ApplyConfChange(cc);
  auto rs = r->TakeReadStates();
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].request_ctx, "waiting");
  EXPECT_EQ(r->read_only().PendingCount(), 0u);
}

TEST(RaftReadIndex, NoLeaderDropsTheRequest) {
  auto rp = NewNode(1, {1, 2, 3});
  TestRaft& r = *rp;
  EXPECT_EQ(r->Step(ReadIndexMsg(1, 1, "x")), Error::kProposalDropped);
  r->BecomeCandidate();
  EXPECT_EQ(r->Step(ReadIndexMsg(1, 1, "x")), Error::kProposalDropped);
}

// ---- Learners -----------------------------------------------------------------------

std::unique_ptr<TestRaft> LearnerNode(uint64_t id, std::vector<uint64_t> voters,
                                      std::vector<uint64_t> learners) {
  Config c = MakeConfig(id, std::move(voters));
  c.learners = std::move(learners);
  return std::make_unique<TestRaft>(c);
}

TEST(RaftLearner, LearnerDoesNotCampaign) {
  auto rp = LearnerNode(2, {1}, {2});
  TestRaft& r = *rp;
  EXPECT_TRUE(r->is_learner());
  for (int i = 0; i < 100; ++i) r->Tick();
  EXPECT_EQ(r->state(), StateRole::kFollower);
  EXPECT_TRUE(r.TakeMessages().empty());
  (void)r->Step(Hup(2));
  EXPECT_EQ(r->state(), StateRole::kFollower);
}

TEST(RaftLearner, LearnerReceivesTheLogButDoesNotCountForCommit) {
  Network net = Network::Of(LearnerNode(1, {1}, {2}), LearnerNode(2, {1}, {2}));
  net.Send(Hup(1));
  ASSERT_EQ(net.Peer(1)->state(), StateRole::kLeader);
  net.Isolate(2);
  net.Send(Propose(1, "a"));
  EXPECT_EQ(net.Peer(1)->log().committed(), 2u);  // the learner is not needed
  net.Recover();
  net.Send(Propose(1, "b"));
  EXPECT_EQ(net.Peer(2)->log().committed(), 3u);
  EXPECT_EQ(LogString(AllEntries(net.Peer(2))), "t1i1 t1i2:a t1i3:b");
  EXPECT_EQ(net.Peer(1)->tracker().Get(2)->match, 3u);
}

TEST(RaftLearner, LearnerVotesDoNotCount) {
  auto rp = LearnerNode(1, {1, 2, 3}, {4, 5});
  TestRaft& r = *rp;
  (void)r->Step(Hup(1));
  for (uint64_t id : {4, 5}) (void)r->Step(Msg(id, 1, eraftpb::MsgRequestVoteResponse, 1));
  EXPECT_EQ(r->state(), StateRole::kCandidate);
  auto msgs = r.TakeMessages();
  for (const auto& m : msgs) EXPECT_NE(m.to(), 4u);  // learners are not asked
  (void)r->Step(Msg(2, 1, eraftpb::MsgRequestVoteResponse, 1));
  EXPECT_EQ(r->state(), StateRole::kLeader);
}

// A learner promoted by a membership change can then be elected.
TEST(RaftLearner, LearnerPromotion) {
  Network net = Network::Of(LearnerNode(1, {1}, {2}), LearnerNode(2, {1}, {2}));
  net.Send(Hup(1));
  net.Send(Msg(1, 1, eraftpb::MsgBeat));
  eraftpb::ConfChange cc;
  cc.set_change_type(eraftpb::AddNode);
  cc.set_node_id(2);
  net.Peer(1)->ApplyConfChange(cc);
  net.Peer(2)->ApplyConfChange(cc);
  EXPECT_FALSE(net.Peer(2)->is_learner());
  net.Send(Hup(2));
  EXPECT_EQ(net.Peer(1)->state(), StateRole::kFollower);
  EXPECT_EQ(net.Peer(2)->state(), StateRole::kLeader);
}

TEST(RaftLearner, AddAndRemoveLearner) {
  auto rp = NewNode(1, {1});
  TestRaft& r = *rp;
  eraftpb::ConfChange cc;
  cc.set_change_type(eraftpb::AddLearnerNode);
  cc.set_node_id(2);
  auto cs = r->ApplyConfChange(cc);
  ASSERT_EQ(cs.learners_size(), 1);
  EXPECT_EQ(cs.learners(0), 2u);
  EXPECT_TRUE(r->tracker().Get(2)->is_learner);
  EXPECT_EQ(r->tracker().Quorum(), 1u);
  cc.set_change_type(eraftpb::RemoveNode);
  cs = r->ApplyConfChange(cc);
  EXPECT_EQ(cs.learners_size(), 0);
  EXPECT_EQ(r->tracker().Get(2), nullptr);
}

TEST(RaftLearner, VoterCannotBecomeLearner) {
  auto rp = NewNode(1, {1, 2});
  TestRaft& r = *rp;
  eraftpb::ConfChange cc;
  cc.set_change_type(eraftpb::AddLearnerNode);
  cc.set_node_id(2);
  auto cs = r->ApplyConfChange(cc);
  EXPECT_EQ(cs.nodes_size(), 2);
  EXPECT_EQ(cs.learners_size(), 0);
}

TEST(RaftLearner, RestoreSnapshotWithLearners) {
  auto rp = NewNode(3, {1, 2});
  TestRaft& r = *rp;
  eraftpb::Snapshot s;
  s.mutable_metadata()->set_index(11);
  s.mutable_metadata()->set_term(11);
  s.mutable_metadata()->mutable_conf_state()->add_nodes(1);
  s.mutable_metadata()->mutable_conf_state()->add_nodes(2);
  s.mutable_metadata()->mutable_conf_state()->add_learners(3);
  Message m = Msg(1, 3, eraftpb::MsgSnapshot, 11);
  *m.mutable_snapshot() = s;
  (void)r->Step(m);
  EXPECT_EQ(r->log().LastIndex(), 11u);
  EXPECT_TRUE(r->is_learner());
  EXPECT_TRUE(r->tracker().IsLearner(3));
  EXPECT_FALSE(r->Promotable());
}

// A learner's heartbeat acknowledgement does not confirm a read.
TEST(RaftLearner, LearnerAcksDoNotConfirmReads) {
  auto rp = LearnerNode(1, {1, 2, 3}, {4});
  TestRaft& r = *rp;
  r->BecomeCandidate();
  r->BecomeLeader();
  CommitNoopEntry(r);
  (void)r->Step(ReadIndexMsg(1, 1, "r"));
  Message ack = Msg(4, 1, eraftpb::MsgHeartbeatResponse, r->term());
  ack.set_context("r");
  (void)r->Step(ack);
  EXPECT_TRUE(r->TakeReadStates().empty());
  ack.set_from(2);
  (void)r->Step(ack);
  EXPECT_EQ(r->TakeReadStates().size(), 1u);
}

}  // namespace
}  // namespace tinykv::raft
