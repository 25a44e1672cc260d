// Log replication: the TinyKV course's 2AB scenarios (suite Raft2AB) and
// Raft paper §5.3-5.4.
#include <gtest/gtest.h>

#include <map>

#include "raft/raft_test_util.h"

namespace tinykv::raft {
namespace {

using namespace testutil;

std::unique_ptr<TestRaft> NewNode(uint64_t id, std::vector<uint64_t> voters,
                                  std::unique_ptr<MemoryStorage> s = nullptr) {
  return std::make_unique<TestRaft>(MakeConfig(id, std::move(voters)), std::move(s));
}

std::vector<uint64_t> Ids(size_t n) {
  std::vector<uint64_t> v;
  for (uint64_t i = 1; i <= n; ++i) v.push_back(i);
  return v;
}

std::vector<Entry> CommittedData(TestRaft& r) {
  std::vector<Entry> out;
  for (auto& e : r.ApplyCommitted()) {
    if (!e.data().empty()) out.push_back(e);
  }
  return out;
}

// §5.3: the leader appends the command and sends it to every follower, with
// the index and term of the entry before it and its commit index.
TEST(Raft2AB, LeaderStartReplication) {
  auto rp = NewNode(1, {1, 2, 3});
  TestRaft& r = *rp;
  r->BecomeCandidate();
  r->BecomeLeader();
  CommitNoopEntry(r);
  uint64_t li = r->log().LastIndex();
  ASSERT_EQ(r->Step(Propose(1, "some data")), Error::kOk);
  EXPECT_EQ(r->log().LastIndex(), li + 1);
  EXPECT_EQ(r->log().committed(), li);
  auto msgs = Sorted(r.TakeMessages());
  ASSERT_EQ(msgs.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const Message& m = msgs[i];
    EXPECT_EQ(m.from(), 1u);
    EXPECT_EQ(m.to(), i + 2);
    EXPECT_EQ(m.msg_type(), eraftpb::MsgAppend);
    EXPECT_EQ(m.term(), 1u);
    EXPECT_EQ(m.index(), li);
    EXPECT_EQ(m.log_term(), 1u);
    EXPECT_EQ(m.commit(), li);
    ASSERT_EQ(m.entries_size(), 1);
    EXPECT_EQ(m.entries(0).index(), li + 1);
    EXPECT_EQ(m.entries(0).term(), 1u);
    EXPECT_EQ(m.entries(0).data(), "some data");
  }
  EXPECT_EQ(LogString(r->log().UnstableEntries()), fmt::format("t1i{}:some data", li + 1));
}

// §5.3: once a majority holds the entry, the leader commits it, hands it out
// for applying, and tells the followers the new commit index.
TEST(Raft2AB, LeaderCommitEntry) {
  auto rp = NewNode(1, {1, 2, 3});
  TestRaft& r = *rp;
  r->BecomeCandidate();
  r->BecomeLeader();
  CommitNoopEntry(r);
  uint64_t li = r->log().LastIndex();
  ASSERT_EQ(r->Step(Propose(1, "some data")), Error::kOk);
  auto appends = r.TakeMessages();
  r.Persist();
  for (const auto& m : appends) (void)r->Step(AcceptAndReply(m));
  EXPECT_EQ(r->log().committed(), li + 1);
  auto committed = r.ApplyCommitted();
  ASSERT_EQ(committed.size(), 1u);
  EXPECT_EQ(committed[0].data(), "some data");
  auto msgs = Sorted(r.TakeMessages());
  ASSERT_EQ(msgs.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(msgs[i].to(), i + 2);
    EXPECT_EQ(msgs[i].msg_type(), eraftpb::MsgAppend);
    EXPECT_EQ(msgs[i].commit(), li + 1);
  }
}

// §5.3: an entry is committed once the leader replicated it on a majority
// (the leader counts once it has persisted it).
TEST(Raft2AB, LeaderAcknowledgeCommit) {
  struct Case {
    size_t size;
    std::set<uint64_t> acceptors;
    bool committed;
  };
  std::vector<Case> cases = {
      {1, {}, true},     {3, {}, false},       {3, {2}, true},
      {3, {2, 3}, true}, {5, {}, false},       {5, {2}, false},
      {5, {2, 3}, true}, {5, {2, 3, 4}, true}, {5, {2, 3, 4, 5}, true},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    auto rp = NewNode(1, Ids(cases[i].size));
    TestRaft& r = *rp;
    r->BecomeCandidate();
    r->BecomeLeader();
    CommitNoopEntry(r);
    uint64_t li = r->log().LastIndex();
    ASSERT_EQ(r->Step(Propose(1, "some data")), Error::kOk);
    auto msgs = r.TakeMessages();
    r.Persist();
    for (const auto& m : msgs) {
      if (cases[i].acceptors.count(m.to())) (void)r->Step(AcceptAndReply(m));
    }
    EXPECT_EQ(r->log().committed() > li, cases[i].committed) << "case " << i;
  }
}

// §5.3: committing an entry commits everything before it, including
// entries of earlier leaders.
TEST(Raft2AB, LeaderCommitPrecedingEntries) {
  for (std::vector<uint64_t> terms : std::vector<std::vector<uint64_t>>{{}, {2}, {1, 2}, {1}}) {
    auto storage = StorageWithTerms(terms);
    eraftpb::HardState hs;
    hs.set_term(2);
    storage->SetHardState(hs);
    auto rp = NewNode(1, {1, 2, 3}, std::move(storage));
    TestRaft& r = *rp;
    r->BecomeCandidate();
    r->BecomeLeader();
    ASSERT_EQ(r->Step(Propose(1, "some data")), Error::kOk);
    auto msgs = r.TakeMessages();
    r.Persist();
    for (const auto& m : msgs) (void)r->Step(AcceptAndReply(m));
    uint64_t li = terms.size();
    std::string want;
    for (size_t i = 0; i < terms.size(); ++i) want += fmt::format("t{}i{} ", terms[i], i + 1);
    want += fmt::format("t3i{} t3i{}:some data", li + 1, li + 2);
    EXPECT_EQ(LogString(r.ApplyCommitted()), want);
  }
}

// §5.3: a follower applies an entry once it learns that it is committed.
TEST(Raft2AB, FollowerCommitEntry) {
  struct Case {
    std::vector<Entry> entries;
    uint64_t commit;
  };
  std::vector<Case> cases = {
      {{MakeEntry(1, 1, "some data")}, 1},
      {{MakeEntry(1, 1, "some data"), MakeEntry(2, 1, "some data2")}, 2},
      {{MakeEntry(1, 1, "some data2"), MakeEntry(2, 1, "some data")}, 2},
      {{MakeEntry(1, 1, "some data"), MakeEntry(2, 1, "some data2")}, 1},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    auto rp = NewNode(1, {1, 2, 3});
    TestRaft& r = *rp;
    r->BecomeFollower(1, 2);
    Message m = Msg(2, 1, eraftpb::MsgAppend, 1);
    m.set_commit(cases[i].commit);
    for (const auto& e : cases[i].entries) *m.add_entries() = e;
    (void)r->Step(m);
    EXPECT_EQ(r->log().committed(), cases[i].commit) << "case " << i;
    std::vector<Entry> want(cases[i].entries.begin(), cases[i].entries.begin() + cases[i].commit);
    EXPECT_EQ(LogString(r.ApplyCommitted()), LogString(want)) << "case " << i;
  }
}

// §5.3: a follower refuses an append whose previous entry it does not hold
// (missing, or with another term), hinting where it may match.
TEST(Raft2AB, FollowerCheckMessageTypeMsgAppend) {
  struct Case {
    uint64_t log_term, index;
    uint64_t windex;
    bool wreject;
    uint64_t wreject_hint;
  };
  std::vector<Case> cases = {
      {0, 0, 1, false, 0},                       // match with the committed entries
      {1, 1, 1, false, 0}, {2, 2, 2, false, 0},  // match with an uncommitted entry
      {1, 2, 2, true, 1},                        // unmatched term at index 2
      {3, 3, 3, true, 2},                        // index 3 does not exist
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    auto storage = StorageWithTerms({1, 2});
    eraftpb::HardState hs;
    hs.set_term(2);
    hs.set_commit(1);
    storage->SetHardState(hs);
    auto rp = NewNode(1, {1, 2, 3}, std::move(storage));
    TestRaft& r = *rp;
    r->BecomeFollower(2, 2);
    (void)r.TakeMessages();
    Message m = Msg(2, 1, eraftpb::MsgAppend, 2);
    m.set_log_term(cases[i].log_term);
    m.set_index(cases[i].index);
    (void)r->Step(m);
    auto msgs = r.TakeMessages();
    ASSERT_EQ(msgs.size(), 1u) << "case " << i;
    EXPECT_EQ(msgs[0].msg_type(), eraftpb::MsgAppendResponse);
    EXPECT_EQ(msgs[0].term(), 2u);
    EXPECT_EQ(msgs[0].index(), cases[i].windex) << "case " << i;
    EXPECT_EQ(msgs[0].reject(), cases[i].wreject) << "case " << i;
    if (cases[i].wreject) {
      EXPECT_EQ(msgs[0].reject_hint(), cases[i].wreject_hint) << "case " << i;
    }
  }
}

// §5.3: a follower deletes conflicting entries and everything after them,
// then appends what it does not have.
TEST(Raft2AB, FollowerAppendEntries) {
  struct Case {
    uint64_t index, log_term;
    std::vector<Entry> entries;
    std::string want_log;
    std::string want_unstable;
  };
  std::vector<Case> cases = {
      {2, 2, {MakeEntry(3, 3)}, "t1i1 t2i2 t3i3", "t3i3"},
      {1, 1, {MakeEntry(2, 3), MakeEntry(3, 4)}, "t1i1 t3i2 t4i3", "t3i2 t4i3"},
      {0, 0, {MakeEntry(1, 1)}, "t1i1 t2i2", ""},
      {0, 0, {MakeEntry(1, 3)}, "t3i1", "t3i1"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    auto rp = NodeWithLog(1, {1, 2, 3}, {1, 2});
    TestRaft& r = *rp;
    r->BecomeFollower(2, 2);
    Message m = Msg(2, 1, eraftpb::MsgAppend, 2);
    m.set_log_term(cases[i].log_term);
    m.set_index(cases[i].index);
    for (const auto& e : cases[i].entries) *m.add_entries() = e;
    (void)r->Step(m);
    EXPECT_EQ(LogString(r->log().AllEntries()), cases[i].want_log) << "case " << i;
    EXPECT_EQ(LogString(r->log().UnstableEntries()), cases[i].want_unstable) << "case " << i;
  }
}

// §5.3, figure 7: whatever a follower's log holds, the leader makes it equal
// to its own.
TEST(Raft2AB, LeaderSyncFollowerLog) {
  std::vector<uint64_t> lead = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6};
  std::vector<std::vector<uint64_t>> followers = {
      {1, 1, 1, 4, 4, 5, 5, 6, 6},
      {1, 1, 1, 4},
      {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6},
      {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7},
      {1, 1, 1, 4, 4, 4, 4},
      {1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3},
  };
  constexpr uint64_t term = 8;
  for (size_t i = 0; i < followers.size(); ++i) {
    auto lead_storage = StorageWithTerms(lead);
    eraftpb::HardState lhs;
    lhs.set_term(term);
    lhs.set_commit(lead.size());
    lead_storage->SetHardState(lhs);
    auto follower_storage = StorageWithTerms(followers[i]);
    eraftpb::HardState fhs;
    fhs.set_term(term - 1);
    follower_storage->SetHardState(fhs);
    // A third node is needed: the follower may have a longer log, and then
    // the leader needs the third vote.
    Network net = Network::Of(NewNode(1, {1, 2, 3}, std::move(lead_storage)),
                              NewNode(2, {1, 2, 3}, std::move(follower_storage)), Network::Hole());
    net.Send(Hup(1));
    // The election happens in the term after the loaded one.
    Message vote = Msg(3, 1, eraftpb::MsgRequestVoteResponse, term + 1);
    net.Send(vote);
    net.Send(Propose(1, ""));
    ASSERT_EQ(net.Peer(1)->state(), StateRole::kLeader) << "case " << i;
    EXPECT_EQ(LogString(AllEntries(net.Peer(1))), LogString(AllEntries(net.Peer(2))))
        << "case " << i;
  }
}

// §5.4.1: a vote request carries the index and term of the last entry.
TEST(Raft2AB, VoteRequest) {
  struct Case {
    std::vector<Entry> entries;
    uint64_t wterm;
  };
  std::vector<Case> cases = {{{MakeEntry(1, 1)}, 2}, {{MakeEntry(1, 1), MakeEntry(2, 2)}, 3}};
  for (size_t j = 0; j < cases.size(); ++j) {
    auto rp = NewNode(1, {1, 2, 3});
    TestRaft& r = *rp;
    Message m = Msg(2, 1, eraftpb::MsgAppend, cases[j].wterm - 1);
    for (const auto& e : cases[j].entries) *m.add_entries() = e;
    (void)r->Step(m);
    r.Persist();
    (void)r.TakeMessages();
    for (int i = 1; i < 10 * 2; ++i) r->Tick();
    auto msgs = Sorted(r.TakeMessages());
    ASSERT_EQ(msgs.size(), 2u) << "case " << j;
    for (size_t i = 0; i < 2; ++i) {
      EXPECT_EQ(msgs[i].msg_type(), eraftpb::MsgRequestVote);
      EXPECT_EQ(msgs[i].to(), i + 2);
      EXPECT_EQ(msgs[i].term(), cases[j].wterm);
      EXPECT_EQ(msgs[i].index(), cases[j].entries.back().index());
      EXPECT_EQ(msgs[i].log_term(), cases[j].entries.back().term());
    }
  }
}

// §5.4.1: a voter denies its vote to a candidate whose log is less up to date.
TEST(Raft2AB, Voter) {
  struct Case {
    std::vector<uint64_t> terms;
    uint64_t log_term, index;
    bool wreject;
  };
  std::vector<Case> cases = {
      // same log term
      {{1}, 1, 1, false},
      {{1}, 1, 2, false},
      {{1, 1}, 1, 1, true},
      // candidate higher log term
      {{1}, 2, 1, false},
      {{1}, 2, 2, false},
      {{1, 1}, 2, 1, false},
      // voter higher log term
      {{2}, 1, 1, true},
      {{2}, 1, 2, true},
      {{2, 1}, 1, 1, true},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    auto rp = NewNode(1, {1, 2}, StorageWithTerms(cases[i].terms));
    TestRaft& r = *rp;
    Message m = Msg(2, 1, eraftpb::MsgRequestVote, 3);
    m.set_log_term(cases[i].log_term);
    m.set_index(cases[i].index);
    (void)r->Step(m);
    auto msgs = r.TakeMessages();
    ASSERT_EQ(msgs.size(), 1u);
    EXPECT_EQ(msgs[0].msg_type(), eraftpb::MsgRequestVoteResponse);
    EXPECT_EQ(msgs[0].reject(), cases[i].wreject) << "case " << i;
  }
}

// §5.4.2: a leader commits by counting replicas only for entries of its own
// term.
TEST(Raft2AB, LeaderOnlyCommitsLogFromCurrentTerm) {
  struct Case {
    uint64_t index, wcommit;
  };
  for (Case c : std::vector<Case>{{1, 0}, {2, 0}, {3, 3}}) {
    auto storage = StorageWithTerms({1, 2});
    eraftpb::HardState hs;
    hs.set_term(2);
    storage->SetHardState(hs);
    auto rp = NewNode(1, {1, 2}, std::move(storage));
    TestRaft& r = *rp;
    r->BecomeCandidate();  // term 3
    r->BecomeLeader();
    (void)r.TakeMessages();
    ASSERT_EQ(r->Step(Propose(1, "")), Error::kOk);
    r.Persist();
    Message ack = Msg(2, 1, eraftpb::MsgAppendResponse, r->term());
    ack.set_index(c.index);
    (void)r->Step(ack);
    EXPECT_EQ(r->log().committed(), c.wcommit) << "ack at " << c.index;
  }
}

// The leader's own progress follows what it has persisted.
TEST(Raft2AB, ProgressLeader) {
  auto rp = NewNode(1, {1, 2});
  TestRaft& r = *rp;
  r->BecomeCandidate();
  r->BecomeLeader();
  r.Persist();
  for (uint64_t i = 0; i < 5; ++i) {
    const Progress* self = r->tracker().Get(1);
    EXPECT_EQ(self->match, i + 1);
    EXPECT_EQ(self->next, i + 2);
    ASSERT_EQ(r->Step(Propose(1, "foo")), Error::kOk);
    EXPECT_EQ(r->tracker().Get(1)->match, i + 1);  // not yet persisted
    r.Persist();
  }
}

// A candidate with an older log loses; the winner's log (terms 1 and 3)
// replaces the newer but uncommitted entries elsewhere.
TEST(Raft2AB, LeaderElectionOverwriteNewerLogs) {
  std::vector<uint64_t> ids = Ids(5);
  Network net = Network::Of(NodeWithLog(1, ids, {1}),     // won the first election
                            NodeWithLog(2, ids, {1}),     // got the log from node 1
                            NodeWithLog(3, ids, {2}),     // won the second election
                            NodeWithVote(4, ids, 3, 2),   // voted, got no log
                            NodeWithVote(5, ids, 3, 2));  // voted, got no log
  // Node 1 campaigns and fails: a quorum knows about term 2. Its term rises to 2.
  net.Send(Hup(1));
  EXPECT_EQ(net.Peer(1)->state(), StateRole::kFollower);
  EXPECT_EQ(net.Peer(1)->term(), 2u);
  // Again, with a higher term: this time it wins.
  net.Send(Hup(1));
  EXPECT_EQ(net.Peer(1)->state(), StateRole::kLeader);
  EXPECT_EQ(net.Peer(1)->term(), 3u);
  for (uint64_t id : ids) {
    EXPECT_EQ(LogString(AllEntries(net.Peer(id))), "t1i1 t3i2") << "node " << id;
  }
}

TEST(Raft2AB, LogReplication) {
  struct Case {
    std::vector<Message> msgs;
    uint64_t wcommitted;
  };
  std::vector<Case> cases;
  cases.push_back({{Propose(1, "somedata")}, 2});
  cases.push_back({{Propose(1, "somedata"), Hup(2), Propose(2, "somedata2")}, 4});
  for (size_t i = 0; i < cases.size(); ++i) {
    Network net = Network::Fresh(3);
    net.Send(Hup(1));
    for (const auto& m : cases[i].msgs) net.Send(m);
    for (uint64_t id : net.Ids()) {
      TestRaft& p = net.Peer(id);
      EXPECT_EQ(p->log().committed(), cases[i].wcommitted) << "case " << i << " node " << id;
      std::vector<std::string> got, want;
      for (const auto& e : CommittedData(p)) got.push_back(e.data());
      for (const auto& m : cases[i].msgs) {
        if (m.msg_type() == eraftpb::MsgPropose) want.push_back(m.entries(0).data());
      }
      EXPECT_EQ(got, want) << "case " << i << " node " << id;
    }
  }
}

TEST(Raft2AB, SingleNodeCommit) {
  Network net = Network::Fresh(1);
  net.Send(Hup(1));
  net.Send(Propose(1, "some data"));
  net.Send(Propose(1, "some data"));
  EXPECT_EQ(net.Peer(1)->log().committed(), 3u);
}

// Entries of an old term are committed by the next leader's first entry.
TEST(Raft2AB, CommitWithoutNewTermEntry) {
  Network net = Network::Fresh(5);
  net.Send(Hup(1));
  // Node 1 can reach only node 2: its proposals cannot commit.
  net.Cut(1, 3);
  net.Cut(1, 4);
  net.Cut(1, 5);
  net.Send(Propose(1, "some data"));
  net.Send(Propose(1, "some data"));
  EXPECT_EQ(net.Peer(1)->log().committed(), 1u);
  net.Recover();
  // Node 2 (which has the entries) is elected at term 2; its empty entry
  // commits everything before it.
  net.Send(Hup(2));
  EXPECT_EQ(net.Peer(2)->state(), StateRole::kLeader);
  EXPECT_EQ(net.Peer(1)->log().committed(), 4u);
}

// An isolated follower catches up when its heartbeat response shows the
// leader that it is behind.
TEST(Raft2AB, CommitWithHeartbeat) {
  Network net = Network::Fresh(5);
  net.Send(Hup(1));
  net.Isolate(5);
  net.Send(Propose(1, "a"));
  net.Send(Propose(1, "b"));
  EXPECT_EQ(net.Peer(5)->log().committed(), 1u);
  net.Recover();
  net.Send(Msg(1, 1, eraftpb::MsgBeat));
  EXPECT_EQ(net.Peer(5)->log().committed(), 3u);
}

TEST(Raft2AB, DuelingCandidates) {
  Network net = Network::Fresh(3);
  net.Cut(1, 3);
  net.Send(Hup(1));
  net.Send(Hup(3));
  // 1 wins with votes from 1 and 2; 3 has its own vote and a rejection.
  EXPECT_EQ(net.Peer(1)->state(), StateRole::kLeader);
  EXPECT_EQ(net.Peer(3)->state(), StateRole::kCandidate);
  net.Recover();
  // 3 campaigns again with a higher term and disrupts the leader, but both 1
  // and 2 reject it: its log is shorter. Everyone ends a follower at term 2.
  net.Send(Hup(3));
  struct Want {
    StateRole state;
    uint64_t term;
    std::string log;
    uint64_t committed;
  };
  std::map<uint64_t, Want> want = {{1, {StateRole::kFollower, 2, "t1i1", 1}},
                                   {2, {StateRole::kFollower, 2, "t1i1", 1}},
                                   {3, {StateRole::kFollower, 2, "", 0}}};
  for (auto& [id, w] : want) {
    EXPECT_EQ(net.Peer(id)->state(), w.state) << "node " << id;
    EXPECT_EQ(net.Peer(id)->term(), w.term) << "node " << id;
    EXPECT_EQ(LogString(AllEntries(net.Peer(id))), w.log) << "node " << id;
    EXPECT_EQ(net.Peer(id)->log().committed(), w.committed) << "node " << id;
  }
}

TEST(Raft2AB, CandidateConcede) {
  Network net = Network::Fresh(3);
  net.Isolate(1);
  net.Send(Hup(1));
  net.Send(Hup(3));
  net.Recover();
  // The leader's heartbeat makes the isolated candidate concede.
  net.Send(Msg(3, 3, eraftpb::MsgBeat));
  net.Send(Propose(3, "force follower"));
  net.Send(Msg(3, 3, eraftpb::MsgBeat));  // flush out the commit
  EXPECT_EQ(net.Peer(1)->state(), StateRole::kFollower);
  EXPECT_EQ(net.Peer(1)->term(), 1u);
  for (uint64_t id : net.Ids()) {
    EXPECT_EQ(LogString(AllEntries(net.Peer(id))), "t1i1 t1i2:force follower") << "node " << id;
    EXPECT_EQ(net.Peer(id)->log().committed(), 2u) << "node " << id;
  }
}

// An append from an old leader (lower term) is ignored.
TEST(Raft2AB, OldMessages) {
  Network net = Network::Fresh(3);
  // Make 1 the leader at term 3.
  net.Send(Hup(1));
  net.Send(Hup(2));
  net.Send(Hup(1));
  // An old leader of term 2 tries to make progress.
  Message stale = Msg(2, 1, eraftpb::MsgAppend, 2);
  *stale.add_entries() = MakeEntry(3, 2);
  net.Send(stale);
  net.Send(Propose(1, "somedata"));
  for (uint64_t id : net.Ids()) {
    EXPECT_EQ(LogString(AllEntries(net.Peer(id))), "t1i1 t2i2 t3i3 t3i4:somedata") << "node " << id;
    EXPECT_EQ(net.Peer(id)->log().committed(), 4u);
  }
}

// A proposal commits only where a quorum can be reached.
TEST(Raft2AB, Proposal) {
  struct Case {
    Network net;
    bool success;
  };
  std::vector<Case> cases;
  cases.push_back({Network::Of(nullptr, nullptr, nullptr), true});
  cases.push_back({Network::Of(nullptr, nullptr, Network::Hole()), true});
  cases.push_back({Network::Of(nullptr, Network::Hole(), Network::Hole()), false});
  cases.push_back({Network::Of(nullptr, Network::Hole(), Network::Hole(), nullptr), false});
  cases.push_back({Network::Of(nullptr, Network::Hole(), Network::Hole(), nullptr, nullptr), true});
  for (size_t i = 0; i < cases.size(); ++i) {
    Network& net = cases[i].net;
    net.Send(Hup(1));
    net.Send(Propose(1, "somedata"));
    for (uint64_t id : net.Ids()) {
      if (net.IsHole(id)) continue;
      std::string want = cases[i].success ? "t1i1 t1i2:somedata" : "";
      EXPECT_EQ(LogString(AllEntries(net.Peer(id))), want) << "case " << i << " node " << id;
      EXPECT_EQ(net.Peer(id)->log().committed(), cases[i].success ? 2u : 0u);
    }
    EXPECT_EQ(net.Peer(1)->term(), 1u);
  }
}

// A proposal on a node that is not the leader is dropped, not forwarded.
TEST(Raft2AB, ProposalWithoutLeaderIsDropped) {
  auto rp = NewNode(1, {1, 2, 3});
  TestRaft& r = *rp;
  EXPECT_EQ(r->Step(Propose(1)), Error::kProposalDropped);
  r->BecomeFollower(1, 2);
  EXPECT_EQ(r->Step(Propose(1)), Error::kProposalDropped);
  r->BecomeCandidate();
  EXPECT_EQ(r->Step(Propose(1)), Error::kProposalDropped);
  EXPECT_EQ(r->log().LastIndex(), 0u);
}

// The follower side of an append: resulting last index, commit and rejection.
TEST(Raft2AB, HandleMessageTypeMsgAppend) {
  struct Case {
    uint64_t log_term, index, commit;
    std::vector<Entry> entries;
    uint64_t windex, wcommit;
    bool wreject;
  };
  std::vector<Case> cases = {
      // The previous entry does not match, or does not exist.
      {3, 2, 3, {}, 2, 0, true},
      {3, 3, 3, {}, 2, 0, true},
      // It matches: append what is new; commit = min(leader commit, last new index).
      {1, 1, 1, {}, 2, 1, false},
      {0, 0, 1, {MakeEntry(1, 2)}, 1, 1, false},
      {2, 2, 3, {MakeEntry(3, 2), MakeEntry(4, 2)}, 4, 3, false},
      {2, 2, 4, {MakeEntry(3, 2)}, 3, 3, false},
      {1, 1, 4, {MakeEntry(2, 2)}, 2, 2, false},
      {1, 1, 3, {}, 2, 1, false},
      {1, 1, 3, {MakeEntry(2, 2)}, 2, 2, false},
      {2, 2, 3, {}, 2, 2, false},
      {2, 2, 4, {}, 2, 2, false},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    auto rp = NodeWithLog(1, {1}, {1, 2});
    TestRaft& r = *rp;
    r->BecomeFollower(2, kNone);
    Message m = Msg(2, 1, eraftpb::MsgAppend, 2);
    m.set_log_term(cases[i].log_term);
    m.set_index(cases[i].index);
    m.set_commit(cases[i].commit);
    for (const auto& e : cases[i].entries) *m.add_entries() = e;
    (void)r->Step(m);
    EXPECT_EQ(r->log().LastIndex(), cases[i].windex) << "case " << i;
    EXPECT_EQ(r->log().committed(), cases[i].wcommit) << "case " << i;
    auto msgs = r.TakeMessages();
    ASSERT_EQ(msgs.size(), 1u) << "case " << i;
    EXPECT_EQ(msgs[0].reject(), cases[i].wreject) << "case " << i;
  }
}

// Vote decisions for every combination of log position, prior vote and role.
TEST(Raft2AB, RecvMessageTypeMsgRequestVote) {
  struct Case {
    StateRole state;
    uint64_t index, log_term, vote_for;
    bool wreject;
  };
  std::vector<Case> cases = {
      {StateRole::kFollower, 0, 0, kNone, true},  {StateRole::kFollower, 0, 1, kNone, true},
      {StateRole::kFollower, 0, 2, kNone, true},  {StateRole::kFollower, 0, 3, kNone, false},
      {StateRole::kFollower, 1, 0, kNone, true},  {StateRole::kFollower, 1, 1, kNone, true},
      {StateRole::kFollower, 1, 2, kNone, true},  {StateRole::kFollower, 1, 3, kNone, false},
      {StateRole::kFollower, 2, 0, kNone, true},  {StateRole::kFollower, 2, 1, kNone, true},
      {StateRole::kFollower, 2, 2, kNone, false}, {StateRole::kFollower, 2, 3, kNone, false},
      {StateRole::kFollower, 3, 0, kNone, true},  {StateRole::kFollower, 3, 1, kNone, true},
      {StateRole::kFollower, 3, 2, kNone, false}, {StateRole::kFollower, 3, 3, kNone, false},
      {StateRole::kFollower, 3, 2, 2, false},     {StateRole::kFollower, 3, 2, 1, true},
      {StateRole::kLeader, 3, 3, 1, true},        {StateRole::kPreCandidate, 3, 3, 1, true},
      {StateRole::kCandidate, 3, 3, 1, true},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    // The voter's log is [t2i1, t2i2]. Both sides are at the same term, so
    // that only the logs and the prior vote decide.
    uint64_t term = std::max<uint64_t>(2, c.log_term);
    auto storage = StorageWithTerms({2, 2});
    eraftpb::HardState hs;
    // Followers and pre-candidates hold the case's term and vote; candidates
    // and leaders reach the term by campaigning (and vote for themselves).
    bool keeps_vote = c.state == StateRole::kFollower || c.state == StateRole::kPreCandidate;
    hs.set_term(keeps_vote ? term : term - 1);
    hs.set_vote(keeps_vote ? c.vote_for : kNone);
    storage->SetHardState(hs);
    auto rp = NewNode(1, {1}, std::move(storage));
    TestRaft& r = *rp;
    if (c.state == StateRole::kPreCandidate) {
      r->BecomePreCandidate();
    } else if (c.state != StateRole::kFollower) {
      r->BecomeCandidate();  // term - 1 -> term, votes for itself
      if (c.state == StateRole::kLeader) r->BecomeLeader();
    }
    (void)r.TakeMessages();
    ASSERT_EQ(r->term(), term) << "case " << i;
    Message m = Msg(2, 1, eraftpb::MsgRequestVote, term);
    m.set_index(c.index);
    m.set_log_term(c.log_term);
    (void)r->Step(m);
    auto msgs = r.TakeMessages();
    ASSERT_EQ(msgs.size(), 1u) << "case " << i;
    EXPECT_EQ(msgs[0].msg_type(), eraftpb::MsgRequestVoteResponse);
    EXPECT_EQ(msgs[0].reject(), c.wreject) << "case " << i;
  }
}

// Any server steps down to follower on a message with a higher term; only an
// append tells it who leads.
TEST(Raft2AB, AllServerStepdown) {
  struct Case {
    StateRole state;
    uint64_t windex;
  };
  for (Case c : std::vector<Case>{{StateRole::kFollower, 0},
                                  {StateRole::kPreCandidate, 0},
                                  {StateRole::kCandidate, 0},
                                  {StateRole::kLeader, 1}}) {
    for (MessageType type : {eraftpb::MsgRequestVote, eraftpb::MsgAppend}) {
      auto rp = NewNode(1, {1, 2, 3});
      TestRaft& r = *rp;
      switch (c.state) {
        case StateRole::kFollower:
          r->BecomeFollower(1, kNone);
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
      Message m = Msg(2, 1, type, 3);
      m.set_log_term(3);
      (void)r->Step(m);
      EXPECT_EQ(r->state(), StateRole::kFollower) << StateRoleName(c.state);
      EXPECT_EQ(r->term(), 3u);
      EXPECT_EQ(r->log().LastIndex(), c.windex);
      EXPECT_EQ(r->log().AllEntries().size(), c.windex);
      EXPECT_EQ(r->lead(), type == eraftpb::MsgRequestVote ? kNone : 2u);
    }
  }
}

// Heartbeats never raise a follower's commit beyond what the leader knows it
// holds: an old leader cut off with uncommitted entries never commits them.
TEST(Raft2AB, HeartbeatUpdateCommit) {
  Network net = Network::Fresh(3);
  net.Send(Hup(1));
  net.Isolate(1);
  net.Send(Propose(1, "lost"));
  net.Send(Propose(1, "lost"));
  EXPECT_EQ(net.Peer(1)->log().committed(), 1u);
  net.Recover();
  net.Isolate(1);
  net.Send(Hup(2));
  net.Send(Propose(2, "kept"));
  EXPECT_EQ(net.Peer(2)->log().committed(), 3u);
  net.Recover();
  // Only heartbeats flow: the old leader learns the new term, but its commit
  // cannot move past what node 2 knows it shares.
  net.Ignore(eraftpb::MsgAppend);
  net.Send(Msg(2, 2, eraftpb::MsgBeat));
  EXPECT_EQ(net.Peer(1)->state(), StateRole::kFollower);
  EXPECT_EQ(net.Peer(1)->log().committed(), 1u);
  // Appends repair its log; then it commits the new leader's entries only.
  net.Recover();
  net.Send(Msg(2, 2, eraftpb::MsgBeat));
  EXPECT_EQ(net.Peer(1)->log().committed(), 3u);
  EXPECT_EQ(LogString(AllEntries(net.Peer(1))), "t1i1 t2i2 t2i3:kept");
}

// In replicate state the leader sends optimistically and moves next at once;
// in probe state it waits for the answer.
TEST(Raft2AB, LeaderIncreaseNext) {
  struct Case {
    ProgressState state;
    uint64_t next, wnext;
  };
  // previous entries (3) + empty entry + proposal + 1
  for (Case c : std::vector<Case>{{ProgressState::kReplicate, 2, 3 + 1 + 1 + 1},
                                  {ProgressState::kProbe, 2, 2}}) {
    auto rp = NodeWithLog(1, {1, 2}, {1, 1, 1});
    TestRaft& r = *rp;
    r->BecomeCandidate();
    r->BecomeLeader();
    Progress* pr = r->mutable_tracker().Get(2);
    if (c.state == ProgressState::kReplicate) pr->BecomeReplicate();
    pr->next = c.next;
    ASSERT_EQ(r->Step(Propose(1, "somedata")), Error::kOk);
    EXPECT_EQ(r->tracker().Get(2)->next, c.wnext) << ProgressStateName(c.state);
  }
}

// With broadcast_commit off, a commit sends nothing by itself: the new
// commit index goes with the next append, and a heartbeat carries it to a
// follower with nothing new to append.
TEST(Raft2AB, WithoutBroadcastCommitTheCommitTravelsWithTheNextAppendOrHeartbeat) {
  Config cfg = MakeConfig(1, {1, 2, 3});
  cfg.broadcast_commit = false;
  TestRaft r(cfg);
  r->BecomeCandidate();
  r->BecomeLeader();
  CommitNoopEntry(r);  // the followers now take appends without probing
  uint64_t li = r->log().LastIndex();
  EXPECT_EQ(r->log().committed(), li);

  ASSERT_EQ(r->Step(Propose(1, "a")), Error::kOk);
  auto appends = Sorted(r.TakeMessages());
  ASSERT_EQ(appends.size(), 2u);
  for (const auto& m : appends) {
    EXPECT_EQ(m.msg_type(), eraftpb::MsgAppend);
    EXPECT_EQ(m.commit(), li) << "the earlier commit rides on the next append";
  }
  r.Persist();
  for (const auto& m : appends) (void)r->Step(AcceptAndReply(m));
  EXPECT_EQ(r->log().committed(), li + 1);
  EXPECT_EQ(r.ApplyCommitted().size(), 1u) << "the leader applies at once";
  EXPECT_TRUE(r.TakeMessages().empty()) << "no commit-only appends";

  (void)r->Step(Msg(1, 1, eraftpb::MsgBeat));
  auto beats = Sorted(r.TakeMessages());
  ASSERT_EQ(beats.size(), 2u);
  for (const auto& m : beats) {
    EXPECT_EQ(m.msg_type(), eraftpb::MsgHeartbeat);
    EXPECT_EQ(m.commit(), li + 1);
  }
}

// Without broadcast_commit, followers lag the leader's commit until the
// next heartbeat, then end with the same committed log.
TEST(Raft2AB, WithoutBroadcastCommitFollowersCommitAfterAHeartbeat) {
  Network net = Network::Fresh(3, [](Config& c) { c.broadcast_commit = false; });
  net.Send(Hup(1));
  net.Send(Propose(1, "a"));
  net.Send(Propose(1, "b"));
  uint64_t last = net.Peer(1)->log().LastIndex();
  EXPECT_EQ(net.Peer(1)->log().committed(), last);
  EXPECT_LT(net.Peer(2)->log().committed(), last) << "the last commit is not sent on its own";
  net.Send(Msg(1, 1, eraftpb::MsgBeat));
  for (uint64_t id : {2, 3}) EXPECT_EQ(net.Peer(id)->log().committed(), last) << id;
}

}  // namespace
}  // namespace tinykv::raft
