// RaftLog: the stable + unstable log, commit, apply and compaction.
#include "raft/raft_log.h"

#include <gtest/gtest.h>

#include "raft/raft_test_util.h"

namespace tinykv::raft {
namespace {

using testutil::MakeEntry;
using testutil::StorageWithTerms;

std::vector<eraftpb::Entry> Ents(std::initializer_list<std::pair<uint64_t, uint64_t>> index_terms) {
  std::vector<eraftpb::Entry> out;
  for (auto [i, t] : index_terms) out.push_back(MakeEntry(i, t));
  return out;
}

TEST(RaftLogTest, FindConflict) {
  auto storage = StorageWithTerms({1, 2, 3});
  RaftLog log(storage.get(), kNoLimit);
  EXPECT_EQ(log.FindConflict({}), 0u);
  EXPECT_EQ(log.FindConflict(Ents({{1, 1}, {2, 2}, {3, 3}})), 0u);  // all match
  EXPECT_EQ(log.FindConflict(Ents({{2, 2}, {3, 3}, {4, 4}})), 4u);  // new entry
  EXPECT_EQ(log.FindConflict(Ents({{2, 2}, {3, 4}})), 3u);          // conflicting term
  EXPECT_EQ(log.FindConflict(Ents({{1, 4}, {2, 4}})), 1u);
}

TEST(RaftLogTest, FindConflictByTerm) {
  auto storage = StorageWithTerms({1, 1, 3, 3, 5});
  RaftLog log(storage.get(), kNoLimit);
  EXPECT_EQ(log.FindConflictByTerm(5, 4), (std::pair<uint64_t, uint64_t>{4, 3}));
  EXPECT_EQ(log.FindConflictByTerm(5, 5), (std::pair<uint64_t, uint64_t>{5, 5}));
  EXPECT_EQ(log.FindConflictByTerm(4, 2), (std::pair<uint64_t, uint64_t>{2, 1}));
  EXPECT_EQ(log.FindConflictByTerm(3, 0), (std::pair<uint64_t, uint64_t>{0, 0}));
}

TEST(RaftLogTest, IsUpToDate) {
  auto storage = StorageWithTerms({1, 2, 3});
  RaftLog log(storage.get(), kNoLimit);
  EXPECT_FALSE(log.IsUpToDate(2, 2));  // lower term
  EXPECT_TRUE(log.IsUpToDate(1, 4));   // higher term, shorter log
  EXPECT_FALSE(log.IsUpToDate(2, 3));  // same term, shorter
  EXPECT_TRUE(log.IsUpToDate(3, 3));   // same
  EXPECT_TRUE(log.IsUpToDate(4, 3));   // same term, longer
}

TEST(RaftLogTest, AppendTruncatesUnstableConflicts) {
  auto storage = StorageWithTerms({1, 2});
  RaftLog log(storage.get(), kNoLimit);
  EXPECT_EQ(log.Append(Ents({{3, 2}})), 3u);
  EXPECT_EQ(log.UnstableEntries().size(), 1u);
  EXPECT_EQ(log.Append(Ents({{2, 3}, {3, 3}})), 3u);  // replaces storage entry 2 and unstable 3
  EXPECT_EQ(log.TermOrZero(2), 3u);
  EXPECT_EQ(log.TermOrZero(1), 1u);
  EXPECT_EQ(log.UnstableEntries().front().index(), 2u);
  EXPECT_EQ(log.persisted(), 1u);  // the stored entry 2 is being replaced
}

TEST(RaftLogTest, MaybeAppendCommitsUpToLastNewEntry) {
  auto storage = StorageWithTerms({1, 2, 3});
  RaftLog log(storage.get(), kNoLimit);
  log.CommitTo(1);
  // Previous entry does not match.
  EXPECT_FALSE(log.MaybeAppend(3, 2, 3, Ents({{4, 4}})).has_value());
  EXPECT_FALSE(log.MaybeAppend(4, 3, 3, Ents({{5, 4}})).has_value());
  // Matching, no new entries: commit = min(leader commit, last new = 3).
  EXPECT_EQ(log.MaybeAppend(3, 3, 5, {}), 3u);
  EXPECT_EQ(log.committed(), 3u);
  // New entries; commit limited to the last new entry.
  EXPECT_EQ(log.MaybeAppend(3, 3, 10, Ents({{4, 4}, {5, 4}})), 5u);
  EXPECT_EQ(log.committed(), 5u);
  // An already-present prefix changes nothing.
  EXPECT_EQ(log.MaybeAppend(3, 3, 5, Ents({{4, 4}})), 4u);
  EXPECT_EQ(log.LastIndex(), 5u);
}

TEST(RaftLogDeathTest, ConflictWithCommittedEntryIsABug) {
  auto storage = StorageWithTerms({1, 2, 3});
  RaftLog log(storage.get(), kNoLimit);
  log.CommitTo(3);
  EXPECT_DEATH((void)log.MaybeAppend(1, 1, 3, Ents({{2, 5}})), "conflicts with committed");
}

TEST(RaftLogTest, CommitNeverDecreasesAndIsBoundedByLastIndex) {
  auto storage = StorageWithTerms({1, 2, 3});
  RaftLog log(storage.get(), kNoLimit);
  log.CommitTo(3);
  log.CommitTo(1);
  EXPECT_EQ(log.committed(), 3u);
  EXPECT_DEATH(log.CommitTo(4), "out of range");
}

TEST(RaftLogTest, MaybeCommitOnlyInTheGivenTerm) {
  auto storage = StorageWithTerms({1, 2, 2});
  RaftLog log(storage.get(), kNoLimit);
  EXPECT_FALSE(log.MaybeCommit(3, 1));
  EXPECT_TRUE(log.MaybeCommit(3, 2));
  EXPECT_EQ(log.committed(), 3u);
  EXPECT_FALSE(log.MaybeCommit(2, 2));  // not above commit
}

TEST(RaftLogTest, StableToIgnoresReplacedEntries) {
  MemoryStorage storage;
  RaftLog log(&storage, kNoLimit);
  log.Append(Ents({{1, 1}, {2, 1}}));
  log.Append(Ents({{2, 2}}));  // replaced before the driver persisted
  log.StableTo(2, 1);          // persisted the old entry 2: ignored
  EXPECT_EQ(log.UnstableEntries().size(), 2u);
  log.StableTo(2, 2);
  EXPECT_TRUE(log.UnstableEntries().empty());
  EXPECT_EQ(log.persisted(), 2u);
}

TEST(RaftLogTest, SliceSpansStorageAndUnstable) {
  auto storage = StorageWithTerms({1, 1, 2});
  RaftLog log(storage.get(), kNoLimit);
  log.Append(Ents({{4, 2}, {5, 3}}));
  auto all = log.Slice(1, 6, kNoLimit);
  ASSERT_TRUE(all.has_value());
  ASSERT_EQ(all->size(), 5u);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ((*all)[i].index(), i + 1);
  EXPECT_EQ(log.Slice(2, 5, kNoLimit)->size(), 3u);
  EXPECT_EQ(log.Slice(4, 6, kNoLimit)->size(), 2u);
  EXPECT_TRUE(log.Slice(3, 3, kNoLimit)->empty());
  EXPECT_EQ(log.Slice(0, 2, kNoLimit).error(), Error::kCompacted);
}

TEST(RaftLogTest, SliceHonoursSizeLimitAcrossTheBoundary) {
  auto storage = std::make_unique<MemoryStorage>();
  storage->Append({MakeEntry(1, 1, "aaaa"), MakeEntry(2, 1, "bbbb")});
  RaftLog log(storage.get(), kNoLimit);
  log.Append({MakeEntry(3, 1, "cccc"), MakeEntry(4, 1, "dddd")});
  EXPECT_EQ(log.Slice(1, 5, 4)->size(), 1u);
  EXPECT_EQ(log.Slice(1, 5, 8)->size(), 2u);
  EXPECT_EQ(log.Slice(1, 5, 12)->size(), 3u);
  EXPECT_EQ(log.Slice(2, 5, 8)->size(), 2u);
  EXPECT_EQ(log.Slice(1, 5, kNoLimit)->size(), 4u);
}

TEST(RaftLogTest, CompactedStorageIsNotHeldInMemory) {
  auto storage = StorageWithTerms({1, 1, 1, 1, 1});
  RaftLog log(storage.get(), kNoLimit);
  log.CommitTo(5);
  EXPECT_EQ(storage->Compact(4), Error::kOk);
  EXPECT_EQ(log.FirstIndex(), 5u);
  EXPECT_EQ(log.Term(3).has_value() ? *log.Term(3) : 99, 0u);  // below the log: term 0
  EXPECT_EQ(log.Slice(3, 5, kNoLimit).error(), Error::kCompacted);
  EXPECT_EQ(log.AllEntries().size(), 1u);
}

TEST(RaftLogTest, PersistedEntriesLeaveMemory) {
  MemoryStorage storage;
  RaftLog log(&storage, kNoLimit);
  std::vector<eraftpb::Entry> batch;
  for (uint64_t i = 1; i <= 1000; ++i) batch.push_back(MakeEntry(i, 1, std::string(100, 'x')));
  log.Append(batch);
  storage.Append(batch);
  log.StableTo(1000, 1);
  EXPECT_TRUE(log.UnstableEntries().empty());
  EXPECT_LE(log.UnstableEntries().capacity(), 64u);  // the buffer was given back
  EXPECT_EQ(log.LastIndex(), 1000u);
}

TEST(RaftLogTest, NextCommittedEntriesRespectApplyingAndLimit) {
  auto storage = std::make_unique<MemoryStorage>();
  std::vector<eraftpb::Entry> ents;
  for (uint64_t i = 1; i <= 5; ++i) ents.push_back(MakeEntry(i, 1, "xx"));
  storage->Append(ents);
  RaftLog log(storage.get(), /*max_applying_bytes=*/4);
  EXPECT_FALSE(log.HasNextCommittedEntries());
  log.CommitTo(5);
  EXPECT_TRUE(log.HasNextCommittedEntries());
  auto first = log.NextCommittedEntries();
  ASSERT_EQ(first.size(), 2u);
  log.ApplyingTo(2);
  auto second = log.NextCommittedEntries();
  ASSERT_EQ(second.size(), 2u);
  EXPECT_EQ(second[0].index(), 3u);
  log.ApplyingTo(5);
  EXPECT_FALSE(log.HasNextCommittedEntries());
  log.AppliedTo(3);
  EXPECT_EQ(log.applied(), 3u);
  EXPECT_DEATH(log.AppliedTo(6), "applied 6 outside");
}

TEST(RaftLogTest, RestoreFromSnapshot) {
  auto storage = StorageWithTerms({1, 1});
  RaftLog log(storage.get(), kNoLimit);
  log.Append(Ents({{3, 2}}));
  eraftpb::Snapshot snap;
  snap.mutable_metadata()->set_index(10);
  snap.mutable_metadata()->set_term(4);
  log.Restore(snap);
  EXPECT_EQ(log.committed(), 10u);
  EXPECT_EQ(log.FirstIndex(), 11u);
  EXPECT_EQ(log.LastIndex(), 10u);
  EXPECT_EQ(log.TermOrZero(10), 4u);
  EXPECT_TRUE(log.UnstableEntries().empty());
  ASSERT_TRUE(log.PendingSnapshot().has_value());
  EXPECT_FALSE(log.HasNextCommittedEntries());  // the snapshot covers them
  log.StableSnapTo(10);
  EXPECT_FALSE(log.PendingSnapshot().has_value());
}

}  // namespace
}  // namespace tinykv::raft
