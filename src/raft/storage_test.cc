// MemoryStorage: the reference Storage used by tests and the simulator.
#include "raft/storage.h"

#include <gtest/gtest.h>

#include "raft/raft_test_util.h"

namespace tinykv::raft {
namespace {

using testutil::MakeEntry;

// A storage holding a snapshot at (3, 3) and entries 4 (term 4) and 5 (term 5).
MemoryStorage Sample() {
  MemoryStorage s;
  eraftpb::Snapshot snap;
  snap.mutable_metadata()->set_index(3);
  snap.mutable_metadata()->set_term(3);
  EXPECT_EQ(s.ApplySnapshot(snap), Error::kOk);
  s.Append({MakeEntry(4, 4), MakeEntry(5, 5)});
  return s;
}

TEST(MemoryStorageTest, TermAcrossTheRange) {
  MemoryStorage s = Sample();
  EXPECT_EQ(s.Term(2).error(), Error::kCompacted);
  EXPECT_EQ(*s.Term(3), 3u);  // the snapshot's term
  EXPECT_EQ(*s.Term(4), 4u);
  EXPECT_EQ(*s.Term(5), 5u);
  EXPECT_EQ(s.Term(6).error(), Error::kUnavailable);
}

TEST(MemoryStorageTest, FirstAndLastIndex) {
  MemoryStorage s = Sample();
  EXPECT_EQ(s.FirstIndex(), 4u);
  EXPECT_EQ(s.LastIndex(), 5u);
  s.Append({MakeEntry(6, 5)});
  EXPECT_EQ(s.LastIndex(), 6u);
  MemoryStorage empty;
  EXPECT_EQ(empty.FirstIndex(), 1u);
  EXPECT_EQ(empty.LastIndex(), 0u);
}

TEST(MemoryStorageTest, EntriesWithBoundsAndSizeLimit) {
  MemoryStorage s;
  s.Append({MakeEntry(1, 1, "aaaa"), MakeEntry(2, 1, "bbbb"), MakeEntry(3, 2, "cccc")});
  EXPECT_EQ(s.Entries(0, 2, kNoLimit).error(), Error::kCompacted);
  EXPECT_EQ(s.Entries(1, 5, kNoLimit).error(), Error::kUnavailable);
  EXPECT_EQ(s.Entries(1, 4, kNoLimit)->size(), 3u);
  EXPECT_EQ(s.Entries(1, 4, 8)->size(), 2u);
  EXPECT_EQ(s.Entries(1, 4, 7)->size(), 1u);
  EXPECT_EQ(s.Entries(1, 4, 0)->size(), 1u);  // at least one entry
  EXPECT_TRUE(s.Entries(2, 2, kNoLimit)->empty());
}

TEST(MemoryStorageTest, CompactDropsEntriesAndKeepsTheBoundaryTerm) {
  MemoryStorage s = Sample();
  s.Append({MakeEntry(6, 6)});
  EXPECT_EQ(s.Compact(3), Error::kCompacted);  // nothing new to drop
  EXPECT_EQ(s.Compact(5), Error::kOk);
  EXPECT_EQ(s.FirstIndex(), 6u);
  EXPECT_EQ(*s.Term(5), 5u);
  EXPECT_EQ(s.Term(4).error(), Error::kCompacted);
  EXPECT_EQ(s.LastIndex(), 6u);
}

TEST(MemoryStorageTest, CreateSnapshotRecordsIndexTermAndMembership) {
  MemoryStorage s = Sample();
  eraftpb::ConfState cs;
  cs.add_nodes(1);
  cs.add_nodes(2);
  auto snap = s.CreateSnapshot(5, cs, "data");
  ASSERT_TRUE(snap.has_value());
  EXPECT_EQ(snap->metadata().index(), 5u);
  EXPECT_EQ(snap->metadata().term(), 5u);
  EXPECT_EQ(snap->data(), "data");
  EXPECT_EQ(snap->metadata().conf_state().nodes_size(), 2);
  EXPECT_EQ(s.CreateSnapshot(4, cs, "").error(), Error::kSnapshotOutOfDate);
  EXPECT_EQ(s.Snapshot()->metadata().index(), 5u);
}

TEST(MemoryStorageTest, AppendTruncatesConflictsAndIgnoresCompacted) {
  MemoryStorage s = Sample();
  s.Append({MakeEntry(5, 6), MakeEntry(6, 6)});  // replaces 5
  EXPECT_EQ(*s.Term(5), 6u);
  EXPECT_EQ(s.LastIndex(), 6u);
  s.Append({MakeEntry(2, 3), MakeEntry(3, 3), MakeEntry(4, 4), MakeEntry(5, 7)});  // 2, 3 compacted
  EXPECT_EQ(*s.Term(4), 4u);
  EXPECT_EQ(*s.Term(5), 7u);
  EXPECT_EQ(s.LastIndex(), 5u);  // 6 was after the conflict: gone
  s.Append({MakeEntry(6, 7)});
  EXPECT_EQ(s.LastIndex(), 6u);
}

TEST(MemoryStorageTest, ApplySnapshotReplacesEverythingUnlessOlder) {
  MemoryStorage s = Sample();
  eraftpb::Snapshot newer;
  newer.mutable_metadata()->set_index(10);
  newer.mutable_metadata()->set_term(8);
  newer.mutable_metadata()->mutable_conf_state()->add_nodes(7);
  EXPECT_EQ(s.ApplySnapshot(newer), Error::kOk);
  EXPECT_EQ(s.FirstIndex(), 11u);
  EXPECT_EQ(s.LastIndex(), 10u);
  EXPECT_EQ(*s.Term(10), 8u);
  EXPECT_EQ(s.InitialState().conf_state.nodes(0), 7u);
  eraftpb::Snapshot older;
  older.mutable_metadata()->set_index(4);
  EXPECT_EQ(s.ApplySnapshot(older), Error::kSnapshotOutOfDate);
}

TEST(MemoryStorageTest, SnapshotCanBeTemporarilyUnavailable) {
  MemoryStorage s = Sample();
  s.SetSnapshotUnavailable(true);
  EXPECT_EQ(s.Snapshot().error(), Error::kSnapshotTemporarilyUnavailable);
  s.SetSnapshotUnavailable(false);
  EXPECT_TRUE(s.Snapshot().has_value());
}

}  // namespace
}  // namespace tinykv::raft
