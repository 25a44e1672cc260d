// Leader election: the TinyKV course's 2AA scenarios (suite Raft2AA, test names
// after the originals without "Test" and "2AA") and Raft paper §5.2.
#include <gtest/gtest.h>

#include <map>

#include "raft/raft_test_util.h"

namespace tinykv::raft {
namespace {

using namespace testutil;

std::unique_ptr<TestRaft> NewNode(uint64_t id, std::vector<uint64_t> voters, int election = 10,
                                  int heartbeat = 1) {
  return std::make_unique<TestRaft>(MakeConfig(id, std::move(voters), election, heartbeat));
}

// Test bodies use `TestRaft& r = *rp` and then r->... for the Raft itself.

std::vector<uint64_t> Ids(size_t n) {
  std::vector<uint64_t> v;
  for (uint64_t i = 1; i <= n; ++i) v.push_back(i);
  return v;
}

void ExpectMsg(const Message& m, uint64_t from, uint64_t to, MessageType type, uint64_t term) {
  EXPECT_EQ(m.from(), from) << MsgString(m);
  EXPECT_EQ(m.to(), to) << MsgString(m);
  EXPECT_EQ(m.msg_type(), type) << MsgString(m);
  EXPECT_EQ(m.term(), term) << MsgString(m);
}

// §5.1: a server that sees a higher term adopts it; a candidate or leader
// reverts to follower.
void UpdateTermFromMessage(StateRole state) {
  auto rp = NewNode(1, {1, 2, 3});
  TestRaft& r = *rp;
  switch (state) {
    case StateRole::kFollower:
      r->BecomeFollower(1, 2);
      break;
    case StateRole::kCandidate:
      r->BecomeCandidate();
      break;
    case StateRole::kLeader:
      r->BecomeCandidate();
      r->BecomeLeader();
      break;
    default:
      FAIL();
  }
  (void)r->Step(Msg(2, 1, eraftpb::MsgAppend, 2));
  EXPECT_EQ(r->term(), 2u);
  EXPECT_EQ(r->state(), StateRole::kFollower);
}

TEST(Raft2AA, FollowerUpdateTermFromMessage) { UpdateTermFromMessage(StateRole::kFollower); }
TEST(Raft2AA, CandidateUpdateTermFromMessage) { UpdateTermFromMessage(StateRole::kCandidate); }
TEST(Raft2AA, LeaderUpdateTermFromMessage) { UpdateTermFromMessage(StateRole::kLeader); }

// §5.2: servers start up as followers, at term 0.
TEST(Raft2AA, StartAsFollower) {
  auto rp = NewNode(1, {1, 2, 3});
  TestRaft& r = *rp;
  EXPECT_EQ(r->state(), StateRole::kFollower);
  EXPECT_EQ(r->term(), 0u);
}

// §5.2: a leader sends heartbeats (empty, separate from appends) every
// heartbeat interval.
TEST(Raft2AA, LeaderBcastBeat) {
  auto rp = NewNode(1, {1, 2, 3}, 10, 1);
  TestRaft& r = *rp;
  r->BecomeCandidate();
  r->BecomeLeader();
  for (int i = 0; i < 10; ++i) ASSERT_EQ(r->Step(Propose(1, "x")), Error::kOk);
  (void)r->TakeMessages();
  r->Tick();
  auto msgs = Sorted(r.TakeMessages());
  ASSERT_EQ(msgs.size(), 2u);
  ExpectMsg(msgs[0], 1, 2, eraftpb::MsgHeartbeat, 1);
  ExpectMsg(msgs[1], 1, 3, eraftpb::MsgHeartbeat, 1);
  for (const auto& m : msgs) {
    EXPECT_EQ(m.entries_size(), 0);
    EXPECT_EQ(m.commit(), 0u);  // never more than the follower is known to hold
  }
}

// §5.2: a follower (or candidate) that hears nothing for an election timeout
// starts an election: new term, votes for itself, asks every other server.
void NonleaderStartElection(StateRole state) {
  constexpr int et = 10;
  auto rp = NewNode(1, {1, 2, 3}, et);
  TestRaft& r = *rp;
  if (state == StateRole::kFollower) {
    r->BecomeFollower(1, 2);
  } else {
    r->BecomeCandidate();
  }
  for (int i = 1; i < 2 * et; ++i) r->Tick();
  EXPECT_EQ(r->term(), 2u);
  EXPECT_EQ(r->state(), StateRole::kCandidate);
  EXPECT_EQ(r->vote(), 1u);
  auto msgs = Sorted(r.TakeMessages());
  ASSERT_EQ(msgs.size(), 2u);
  ExpectMsg(msgs[0], 1, 2, eraftpb::MsgRequestVote, 2);
  ExpectMsg(msgs[1], 1, 3, eraftpb::MsgRequestVote, 2);
}

TEST(Raft2AA, FollowerStartElection) { NonleaderStartElection(StateRole::kFollower); }
TEST(Raft2AA, CandidateStartNewElection) { NonleaderStartElection(StateRole::kCandidate); }

// §5.2: a candidate wins with votes from a majority, loses (back to follower)
// with denials from a majority, and otherwise keeps waiting.
TEST(Raft2AA, LeaderElectionInOneRoundRPC) {
  struct Case {
    size_t size;
    std::map<uint64_t, bool> votes;
    StateRole state;
  };
  std::vector<Case> cases = {
      {1, {}, StateRole::kLeader},
      {3, {{2, true}, {3, true}}, StateRole::kLeader},
      {3, {{2, true}}, StateRole::kLeader},
      {5, {{2, true}, {3, true}, {4, true}, {5, true}}, StateRole::kLeader},
      {5, {{2, true}, {3, true}, {4, true}}, StateRole::kLeader},
      {5, {{2, true}, {3, true}}, StateRole::kLeader},
      {3, {{2, false}, {3, false}}, StateRole::kFollower},
      {5, {{2, false}, {3, false}, {4, false}, {5, false}}, StateRole::kFollower},
      {5, {{2, true}, {3, false}, {4, false}, {5, false}}, StateRole::kFollower},
      {3, {}, StateRole::kCandidate},
      {5, {{2, true}}, StateRole::kCandidate},
      {5, {{2, false}, {3, false}}, StateRole::kCandidate},
      {5, {}, StateRole::kCandidate},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    auto rp = NewNode(1, Ids(cases[i].size));
    TestRaft& r = *rp;
    (void)r->Step(Hup(1));
    for (auto [id, granted] : cases[i].votes) {
      Message m = Msg(id, 1, eraftpb::MsgRequestVoteResponse, r->term());
      m.set_reject(!granted);
      (void)r->Step(m);
    }
    EXPECT_EQ(r->state(), cases[i].state) << "case " << i;
    EXPECT_EQ(r->term(), 1u) << "case " << i;
  }
}

// §5.2: one vote per term, first come first served.
TEST(Raft2AA, FollowerVote) {
  struct Case {
    uint64_t vote, candidate;
    bool reject;
  };
  for (auto c : std::vector<Case>{{kNone, 2, false},
                                  {kNone, 3, false},
                                  {2, 2, false},
                                  {3, 3, false},
                                  {2, 3, true},
                                  {3, 2, true}}) {
    auto rp = NodeWithVote(1, {1, 2, 3}, c.vote, 1);
    TestRaft& r = *rp;
    (void)r->Step(Msg(c.candidate, 1, eraftpb::MsgRequestVote, 1));
    auto msgs = r.TakeMessages();
    ASSERT_EQ(msgs.size(), 1u);
    ExpectMsg(msgs[0], 1, c.candidate, eraftpb::MsgRequestVoteResponse, 1);
    EXPECT_EQ(msgs[0].reject(), c.reject) << "vote " << c.vote << " candidate " << c.candidate;
  }
}

// §5.2: a candidate that hears from a leader of at least its term steps down.
TEST(Raft2AA, CandidateFallback) {
  for (uint64_t term : {1, 2}) {
    auto rp = NewNode(1, {1, 2, 3});
    TestRaft& r = *rp;
    (void)r->Step(Hup(1));
    ASSERT_EQ(r->state(), StateRole::kCandidate);
    (void)r->Step(Msg(2, 1, eraftpb::MsgAppend, term));
    EXPECT_EQ(r->state(), StateRole::kFollower);
    EXPECT_EQ(r->term(), term);
  }
}

// §5.2: election timeouts are randomized in [et, 2et), and every value occurs.
void NonleaderElectionTimeoutRandomized(StateRole state) {
  constexpr int et = 10;
  auto rp = NewNode(1, {1, 2, 3}, et);
  TestRaft& r = *rp;
  std::set<int> timeouts;
  for (int round = 0; round < 50 * et; ++round) {
    if (state == StateRole::kFollower) {
      r->BecomeFollower(r->term() + 1, 2);
    } else {
      r->BecomeCandidate();
    }
    int time = 0;
    while (r.TakeMessages().empty()) {
      r->Tick();
      ++time;
    }
    timeouts.insert(time);
  }
  for (int d = et; d < 2 * et; ++d)
    EXPECT_TRUE(timeouts.count(d)) << "timeout " << d << " never happened";
  EXPECT_GE(*timeouts.begin(), et);
  EXPECT_LT(*timeouts.rbegin(), 2 * et);
}

TEST(Raft2AA, FollowerElectionTimeoutRandomized) {
  NonleaderElectionTimeoutRandomized(StateRole::kFollower);
}
TEST(Raft2AA, CandidateElectionTimeoutRandomized) {
  NonleaderElectionTimeoutRandomized(StateRole::kCandidate);
}

// §5.2: randomization makes it rare that several servers time out at once.
void NonleadersElectionTimeoutNonconflict(StateRole state) {
  constexpr int et = 10;
  constexpr size_t size = 5;
  std::vector<std::unique_ptr<TestRaft>> rs;
  for (uint64_t id = 1; id <= size; ++id) rs.push_back(NewNode(id, Ids(size), et));
  int conflicts = 0;
  for (int round = 0; round < 1000; ++round) {
    for (auto& rp : rs) {
      TestRaft& r = *rp;
      if (state == StateRole::kFollower) {
        r->BecomeFollower(r->term() + 1, kNone);
      } else {
        r->BecomeCandidate();
      }
    }
    int timed_out = 0;
    while (timed_out == 0) {
      for (auto& rp : rs) {
        TestRaft& r = *rp;
        r->Tick();
        if (!r.TakeMessages().empty()) ++timed_out;
      }
    }
    if (timed_out > 1) ++conflicts;
  }
  EXPECT_LE(conflicts / 1000.0, 0.3);
}

TEST(Raft2AA, FollowersElectionTimeoutNonconflict) {
  NonleadersElectionTimeoutNonconflict(StateRole::kFollower);
}
TEST(Raft2AA, CandidatesElectionTimeoutNonconflict) {
  NonleadersElectionTimeoutNonconflict(StateRole::kCandidate);
}

void LeaderElection(bool pre_vote) {
  auto tweak = [pre_vote](Config& c) { c.pre_vote = pre_vote; };
  StateRole cand_state = pre_vote ? StateRole::kPreCandidate : StateRole::kCandidate;
  uint64_t cand_term = pre_vote ? 0 : 1;
  struct Case {
    Network net;
    StateRole state;
    uint64_t term;
  };
  std::vector<Case> cases;
  cases.push_back({Network::OfWith(tweak, nullptr, nullptr, nullptr), StateRole::kLeader, 1});
  cases.push_back(
      {Network::OfWith(tweak, nullptr, nullptr, Network::Hole()), StateRole::kLeader, 1});
  cases.push_back(
      {Network::OfWith(tweak, nullptr, Network::Hole(), Network::Hole()), cand_state, cand_term});
  cases.push_back({Network::OfWith(tweak, nullptr, Network::Hole(), Network::Hole(), nullptr),
                   cand_state, cand_term});
  cases.push_back(
      {Network::OfWith(tweak, nullptr, Network::Hole(), Network::Hole(), nullptr, nullptr),
       StateRole::kLeader, 1});
  // Three logs further along than node 1's, in the same term, so that
  // rejections come back instead of the votes being ignored.
  std::vector<uint64_t> five = Ids(5);
  cases.push_back({Network::OfWith(tweak, nullptr, NodeWithLog(2, five, {1}, tweak),
                                   NodeWithLog(3, five, {1}, tweak),
                                   NodeWithLog(4, five, {1, 1}, tweak), nullptr),
                   StateRole::kFollower, 1});
  for (size_t i = 0; i < cases.size(); ++i) {
    cases[i].net.Send(Hup(1));
    EXPECT_EQ(cases[i].net.Peer(1)->state(), cases[i].state) << "case " << i;
    EXPECT_EQ(cases[i].net.Peer(1)->term(), cases[i].term) << "case " << i;
  }
}

TEST(Raft2AA, LeaderElection) { LeaderElection(false); }
TEST(RaftPreVote, LeaderElectionWithPreVote) { LeaderElection(true); }

// Each node campaigns in turn and wins: the log is always replicated enough.
void LeaderCycle(bool pre_vote) {
  Network net = Network::Fresh(3, [pre_vote](Config& c) { c.pre_vote = pre_vote; });
  for (uint64_t campaigner = 1; campaigner <= 3; ++campaigner) {
    net.Send(Hup(campaigner));
    for (uint64_t id : net.Ids()) {
      EXPECT_EQ(net.Peer(id)->state(), id == campaigner ? StateRole::kLeader : StateRole::kFollower)
          << "campaigner " << campaigner << " node " << id;
    }
  }
}

TEST(Raft2AA, LeaderCycle) { LeaderCycle(false); }
TEST(RaftPreVote, LeaderCycleWithPreVote) { LeaderCycle(true); }

// A vote request for a higher term is granted from any state: the voter
// becomes a follower at that term. A pre-vote changes nothing.
void VoteFromAnyState(MessageType vote_type) {
  for (StateRole st : {StateRole::kFollower, StateRole::kPreCandidate, StateRole::kCandidate,
                       StateRole::kLeader}) {
    auto rp = NodeWithVote(1, {1, 2, 3}, kNone, 1);
    TestRaft& r = *rp;
    switch (st) {
      case StateRole::kFollower:
        r->BecomeFollower(r->term(), 3);
        break;
      case StateRole::kPreCandidate:
        r->BecomePreCandidate();
        break;
      case StateRole::kCandidate:
        r->BecomeCandidate();
        break;
      case StateRole::kLeader:
        r->BecomeCandidate();
        r->BecomeLeader();
        break;
    }
    (void)r.TakeMessages();
    uint64_t orig_term = r->term();
    uint64_t new_term = orig_term + 1;
    Message m = Msg(2, 1, vote_type, new_term);
    m.set_log_term(new_term);
    m.set_index(42);
    ASSERT_EQ(r->Step(m), Error::kOk);
    auto msgs = r.TakeMessages();
    ASSERT_EQ(msgs.size(), 1u) << StateRoleName(st);
    EXPECT_EQ(msgs[0].msg_type(), vote_type == eraftpb::MsgRequestVote
                                      ? eraftpb::MsgRequestVoteResponse
                                      : eraftpb::MsgRequestPreVoteResponse);
    EXPECT_FALSE(msgs[0].reject()) << StateRoleName(st);
    if (vote_type == eraftpb::MsgRequestVote) {
      EXPECT_EQ(r->state(), StateRole::kFollower);
      EXPECT_EQ(r->term(), new_term);
      EXPECT_EQ(r->vote(), 2u);
    } else {
      EXPECT_EQ(r->state(), st);
      EXPECT_EQ(r->term(), orig_term);
      EXPECT_TRUE(r->vote() == kNone || r->vote() == 1u);
    }
  }
}

TEST(Raft2AA, VoteFromAnyState) { VoteFromAnyState(eraftpb::MsgRequestVote); }
TEST(RaftPreVote, PreVoteFromAnyState) { VoteFromAnyState(eraftpb::MsgRequestPreVote); }

TEST(Raft2AA, SingleNodeCandidate) {
  Network net = Network::Fresh(1);
  net.Send(Hup(1));
  EXPECT_EQ(net.Peer(1)->state(), StateRole::kLeader);
}

// An isolated candidate with a higher term reverts to follower, taking the
// leader's term, when the leader's heartbeat or append reaches it.
void CandidateResetTerm(MessageType type) {
  Network net = Network::Fresh(3);
  net.Send(Hup(1));
  ASSERT_EQ(net.Peer(1)->state(), StateRole::kLeader);
  ASSERT_EQ(net.Peer(2)->state(), StateRole::kFollower);
  ASSERT_EQ(net.Peer(3)->state(), StateRole::kFollower);
  // Isolate 3 and raise the term of the others.
  net.Isolate(3);
  net.Send(Hup(2));
  net.Send(Hup(1));
  ASSERT_EQ(net.Peer(1)->state(), StateRole::kLeader);
  ASSERT_EQ(net.Peer(2)->state(), StateRole::kFollower);
  // Node 3 times out and campaigns alone.
  TestRaft& c = net.Peer(3);
  for (int i = 0; i < c->randomized_election_timeout(); ++i) c->Tick();
  (void)c.TakeMessages();
  ASSERT_EQ(c->state(), StateRole::kCandidate);
  net.Recover();
  net.Send(Msg(1, 3, type, net.Peer(1)->term()));
  EXPECT_EQ(c->state(), StateRole::kFollower);
  EXPECT_EQ(c->term(), net.Peer(1)->term());
}

TEST(Raft2AA, CandidateResetTermMessageTypeMsgHeartbeat) {
  CandidateResetTerm(eraftpb::MsgHeartbeat);
}
TEST(Raft2AA, CandidateResetTermMessageTypeMsgAppend) { CandidateResetTerm(eraftpb::MsgAppend); }

// A follower whose heartbeat arrived late campaigns; the leader's delayed
// heartbeat (lower term) gets an answer with the higher term, and the leader
// steps down, so that the group can move on.
TEST(Raft2AA, DisruptiveFollower) {
  auto tweak = [](Config& c) { c.check_quorum = true; };
  Network net = Network::OfWith(tweak, NodeWithVote(1, {1, 2, 3}, kNone, 1, tweak),
                                NodeWithVote(2, {1, 2, 3}, kNone, 1, tweak),
                                NodeWithVote(3, {1, 2, 3}, kNone, 1, tweak));
  net.Send(Hup(1));
  TestRaft& n1 = net.Peer(1);
  TestRaft& n2 = net.Peer(2);
  TestRaft& n3 = net.Peer(3);
  ASSERT_EQ(n1->state(), StateRole::kLeader);
  ASSERT_EQ(n2->state(), StateRole::kFollower);
  ASSERT_EQ(n3->state(), StateRole::kFollower);
  n3->SetRandomizedElectionTimeout(10 + 2);
  for (int i = 0; i < 10 + 2; ++i) n3->Tick();  // the leader's heartbeat is late
  EXPECT_EQ(n1->state(), StateRole::kLeader);
  EXPECT_EQ(n2->state(), StateRole::kFollower);
  EXPECT_EQ(n3->state(), StateRole::kCandidate);
  EXPECT_EQ(n1->term(), 2u);
  EXPECT_EQ(n2->term(), 2u);
  EXPECT_EQ(n3->term(), 3u);
  // The delayed heartbeat arrives with the lower term.
  net.Send(Msg(1, 3, eraftpb::MsgHeartbeat, n1->term()));
  EXPECT_EQ(n1->state(), StateRole::kFollower);
  EXPECT_EQ(n2->state(), StateRole::kFollower);
  EXPECT_EQ(n3->state(), StateRole::kCandidate);
  EXPECT_EQ(n1->term(), 3u);
  EXPECT_EQ(n2->term(), 2u);
  EXPECT_EQ(n3->term(), 3u);
}

// Only a leader answers MsgBeat (with heartbeats).
TEST(Raft2AA, RecvMessageTypeMsgBeat) {
  for (StateRole st : {StateRole::kLeader, StateRole::kCandidate, StateRole::kFollower}) {
    auto rp = NodeWithLog(1, {1, 2, 3}, {1, 1});
    TestRaft& r = *rp;
    if (st != StateRole::kFollower) r->BecomeCandidate();
    if (st == StateRole::kLeader) r->BecomeLeader();
    (void)r.TakeMessages();
    (void)r->Step(Msg(1, 1, eraftpb::MsgBeat));
    auto msgs = r.TakeMessages();
    EXPECT_EQ(msgs.size(), st == StateRole::kLeader ? 2u : 0u) << StateRoleName(st);
    for (const auto& m : msgs) EXPECT_EQ(m.msg_type(), eraftpb::MsgHeartbeat);
  }
}

void CampaignWhileLeader(bool pre_vote) {
  Config c = MakeConfig(1, {1});
  c.pre_vote = pre_vote;
  TestRaft r(c);
  ASSERT_EQ(r->state(), StateRole::kFollower);
  (void)r->Step(Hup(1));
  ASSERT_EQ(r->state(), StateRole::kLeader);
  uint64_t term = r->term();
  (void)r->Step(Hup(1));
  EXPECT_EQ(r->state(), StateRole::kLeader);
  EXPECT_EQ(r->term(), term);
}

TEST(Raft2AA, CampaignWhileLeader) { CampaignWhileLeader(false); }
TEST(RaftPreVote, CampaignWhileLeaderWithPreVote) { CampaignWhileLeader(true); }

// Elections split until term 3 (everyone votes for itself); once the network
// heals, the next campaigner wins at term 4.
TEST(Raft2AA, SplitVote) {
  Network net = Network::Fresh(3);
  for (int round = 0; round < 3; ++round) {
    for (uint64_t id : net.Ids()) net.Isolate(id);
    for (uint64_t id : net.Ids()) net.Send(Hup(id));
    net.Recover();
  }
  for (uint64_t id : net.Ids()) {
    ASSERT_EQ(net.Peer(id)->state(), StateRole::kCandidate);
    ASSERT_EQ(net.Peer(id)->term(), 3u);
    ASSERT_EQ(net.Peer(id)->vote(), id);
  }
  net.Send(Hup(2));
  EXPECT_EQ(net.Peer(2)->state(), StateRole::kLeader);
  EXPECT_EQ(net.Peer(2)->term(), 4u);
  EXPECT_EQ(net.Peer(1)->state(), StateRole::kFollower);
  EXPECT_EQ(net.Peer(3)->state(), StateRole::kFollower);
}

}  // namespace
}  // namespace tinykv::raft
