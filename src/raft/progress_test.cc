// Flow control and quorum arithmetic.
#include "raft/progress.h"

#include <gtest/gtest.h>

namespace tinykv::raft {
namespace {

TEST(InflightsTest, AddFreeAndWrap) {
  Inflights in(4);
  for (uint64_t i = 1; i <= 4; ++i) in.Add(i * 10);
  EXPECT_TRUE(in.Full());
  in.FreeLE(25);
  EXPECT_EQ(in.Count(), 2u);
  in.Add(50);
  in.Add(60);  // wraps around the ring
  EXPECT_TRUE(in.Full());
  in.FreeLE(55);
  EXPECT_EQ(in.Count(), 1u);
  in.FreeFirstOne();
  EXPECT_EQ(in.Count(), 0u);
  in.FreeFirstOne();  // harmless when empty
  EXPECT_EQ(in.Count(), 0u);
}

TEST(InflightsDeathTest, AddToFullIsABug) {
  Inflights in(1);
  in.Add(1);
  EXPECT_DEATH(in.Add(2), "full inflights");
}

TEST(ProgressTest, MaybeUpdateMovesMatchAndNext) {
  Progress p(4);
  p.match = 3;
  p.next = 5;
  EXPECT_FALSE(p.MaybeUpdate(2));  // stale
  EXPECT_EQ(p.next, 5u);
  EXPECT_FALSE(p.MaybeUpdate(3));
  EXPECT_TRUE(p.MaybeUpdate(4));
  EXPECT_EQ(p.match, 4u);
  EXPECT_EQ(p.next, 5u);
  EXPECT_TRUE(p.MaybeUpdate(6));
  EXPECT_EQ(p.next, 7u);
}

TEST(ProgressTest, MaybeDecrToInReplicateState) {
  Progress p(4);
  p.BecomeReplicate();
  p.match = 5;
  p.next = 10;
  EXPECT_FALSE(p.MaybeDecrTo(5, 5));  // rejection at or below match: stale
  EXPECT_TRUE(p.MaybeDecrTo(9, 9));
  EXPECT_EQ(p.next, 6u);  // back to match + 1
}

TEST(ProgressTest, MaybeDecrToInProbeStateUsesTheHint) {
  Progress p(4);
  p.match = 0;
  p.next = 10;
  EXPECT_FALSE(p.MaybeDecrTo(5, 5));  // not the probe in flight
  EXPECT_TRUE(p.MaybeDecrTo(9, 3));
  EXPECT_EQ(p.next, 4u);  // hint + 1
  EXPECT_TRUE(p.MaybeDecrTo(3, 7));
  EXPECT_EQ(p.next, 3u);  // never above the rejected index
  p.probe_sent = true;
  EXPECT_TRUE(p.MaybeDecrTo(2, 0));
  EXPECT_EQ(p.next, 1u);  // at least match + 1
  EXPECT_FALSE(p.probe_sent);
}

TEST(ProgressTest, PausedPerState) {
  Progress p(2);
  EXPECT_FALSE(p.IsPaused());
  p.probe_sent = true;
  EXPECT_TRUE(p.IsPaused());
  p.BecomeReplicate();
  EXPECT_FALSE(p.IsPaused());
  p.inflights.Add(1);
  p.inflights.Add(2);
  EXPECT_TRUE(p.IsPaused());
  p.BecomeSnapshot(10);
  EXPECT_TRUE(p.IsPaused());
}

TEST(ProgressTest, ProbeAfterSnapshotResumesAfterIt) {
  Progress p(2);
  p.match = 1;
  p.BecomeSnapshot(10);
  p.BecomeProbe();
  EXPECT_EQ(p.next, 11u);
  EXPECT_EQ(p.pending_snapshot, 0u);
}

eraftpb::ConfState Conf(std::vector<uint64_t> voters, std::vector<uint64_t> learners = {}) {
  eraftpb::ConfState cs;
  for (auto v : voters) cs.add_nodes(v);
  for (auto l : learners) cs.add_learners(l);
  return cs;
}

TEST(ProgressTrackerTest, CommittedIndexIsTheQuorumMatch) {
  ProgressTracker t(4);
  t.Reset(Conf({1, 2, 3, 4, 5}, {6}), 1);
  uint64_t matches[] = {5, 3, 9, 1, 4};
  for (uint64_t id = 1; id <= 5; ++id) t.Get(id)->match = matches[id - 1];
  t.Get(6)->match = 100;  // learners never count
  EXPECT_EQ(t.CommittedIndex(), 4u);
  ProgressTracker empty(4);
  EXPECT_EQ(empty.CommittedIndex(), 0u);
}

TEST(ProgressTrackerTest, TallyVotes) {
  ProgressTracker t(4);
  t.Reset(Conf({1, 2, 3}, {4}), 1);
  t.RecordVote(1, true);
  EXPECT_EQ(t.TallyVotes(), VoteResult::kPending);
  t.RecordVote(4, true);  // a learner's vote does not count
  EXPECT_EQ(t.TallyVotes(), VoteResult::kPending);
  t.RecordVote(2, false);
  EXPECT_EQ(t.TallyVotes(), VoteResult::kPending);
  t.RecordVote(2, true);  // only the first answer counts
  t.RecordVote(3, false);
  EXPECT_EQ(t.TallyVotes(), VoteResult::kLost);
  t.ResetVotes();
  t.RecordVote(1, true);
  t.RecordVote(3, true);
  EXPECT_EQ(t.TallyVotes(), VoteResult::kWon);
}

TEST(ProgressTrackerTest, QuorumActiveCountsSelfAndVotersOnly) {
  ProgressTracker t(4);
  t.Reset(Conf({1, 2, 3}, {4}), 1);
  for (auto& [id, pr] : t.progress()) pr.recent_active = false;
  EXPECT_FALSE(t.QuorumActive(1));
  t.Get(4)->recent_active = true;
  EXPECT_FALSE(t.QuorumActive(1));
  t.Get(2)->recent_active = true;
  EXPECT_TRUE(t.QuorumActive(1));
}

TEST(ProgressTrackerTest, MembershipChanges) {
  ProgressTracker t(4);
  t.Reset(Conf({1}), 5);
  t.AddMember(2, true, 5);
  EXPECT_TRUE(t.IsLearner(2));
  EXPECT_EQ(t.Quorum(), 1u);
  t.PromoteLearner(2);
  EXPECT_TRUE(t.IsVoter(2));
  EXPECT_EQ(t.Quorum(), 2u);
  t.RemoveMember(1);
  EXPECT_EQ(t.ToConfState().nodes_size(), 1);
  EXPECT_EQ(t.Get(1), nullptr);
}

}  // namespace
}  // namespace tinykv::raft
