// RaftLog: the Raft core's view of the log: the entries in Storage (durable)
// followed by the unstable tail (appended, not yet persisted by the driver),
// plus the commit, applying and applied indexes.
//
// Only the unstable tail lives in this object's memory; everything else is
// read from Storage on demand, so compacting the storage frees it.
//
// Invariants:
//   applied <= applying <= committed <= LastIndex()
//   persisted <= LastIndex(); entries up to `persisted` are in Storage
#pragma once

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "raft/storage.h"

namespace tinykv::raft {

// Entries (and possibly a snapshot) that the driver has not persisted yet.
class Unstable {
 public:
  explicit Unstable(uint64_t offset) : offset_(offset) {}

  // Index of the first entry that could be here: after a pending snapshot.
  std::optional<uint64_t> MaybeFirstIndex() const;
  std::optional<uint64_t> MaybeLastIndex() const;
  std::optional<uint64_t> MaybeTerm(uint64_t i) const;

  // The driver persisted entries up to (i, t). Ignored if the entry at i was
  // replaced meanwhile (its term is no longer t).
  void StableTo(uint64_t i, uint64_t t);
  // The driver persisted the pending snapshot at index i.
  void StableSnapTo(uint64_t i);
  void Restore(const eraftpb::Snapshot& snapshot);
  // Appends, first truncating whatever conflicts with entries[0].index.
  void TruncateAndAppend(const std::vector<eraftpb::Entry>& entries);
  // Entries in [lo, hi). REQUIRES: offset <= lo <= hi <= offset + size.
  std::vector<eraftpb::Entry> Slice(uint64_t lo, uint64_t hi) const;

  const std::vector<eraftpb::Entry>& entries() const { return entries_; }
  const std::optional<eraftpb::Snapshot>& snapshot() const { return snapshot_; }
  uint64_t offset() const { return offset_; }

 private:
  std::optional<eraftpb::Snapshot> snapshot_;
  std::vector<eraftpb::Entry> entries_;
  // Index of entries_[0].
  uint64_t offset_;
};

class RaftLog {
 public:
  // `storage` must outlive the log. max_applying_bytes bounds the committed
  // entries handed out per Ready.
  RaftLog(Storage* storage, uint64_t max_applying_bytes);

  uint64_t committed() const { return committed_; }
  uint64_t applying() const { return applying_; }
  uint64_t applied() const { return applied_; }
  uint64_t persisted() const { return persisted_; }

  uint64_t FirstIndex() const;
  uint64_t LastIndex() const;
  uint64_t LastTerm() const;
  // Term of entry i; 0 when i is outside [FirstIndex() - 1, LastIndex()].
  // Error kCompacted when storage compacted it away.
  Expected<uint64_t, Error> Term(uint64_t i) const;
  // Term(i), with compaction and out-of-range reading as 0.
  uint64_t TermOrZero(uint64_t i) const;
  bool MatchTerm(uint64_t i, uint64_t t) const;

  // Raft §5.4.1: a log ending at (last_index, term) is at least as up to date
  // as this one.
  bool IsUpToDate(uint64_t last_index, uint64_t term) const;

  // The index of the first entry of `entries` that is missing here or has a
  // different term, or 0 if all match.
  uint64_t FindConflict(const std::vector<eraftpb::Entry>& entries) const;
  // The largest index <= index whose term is <= term, with that term (used to
  // skip a whole divergent term when a follower rejects an append).
  std::pair<uint64_t, uint64_t> FindConflictByTerm(uint64_t index, uint64_t term) const;

  // Follower side of an append whose previous entry is (index, log_term):
  // on match, appends what is new and commits up to min(committed, last new
  // index); returns the last new index. nullopt when the previous entry does
  // not match.
  std::optional<uint64_t> MaybeAppend(uint64_t index, uint64_t log_term, uint64_t committed,
                                      const std::vector<eraftpb::Entry>& entries);
  // Appends to the unstable tail (truncating a conflicting suffix); returns
  // the new last index. REQUIRES: entries[0].index > committed.
  uint64_t Append(const std::vector<eraftpb::Entry>& entries);

  // Raises the commit index. REQUIRES: to_commit <= LastIndex().
  void CommitTo(uint64_t to_commit);
  // Leader: commits max_index if it is in `term` (Raft §5.4.2).
  bool MaybeCommit(uint64_t max_index, uint64_t term);
  // The driver took the committed entries up to `index` for applying.
  void ApplyingTo(uint64_t index);
  // The driver finished applying up to `index`. REQUIRES: index <= applying.
  void AppliedTo(uint64_t index);
  void StableTo(uint64_t i, uint64_t t);
  void StableSnapTo(uint64_t i);

  // Entries in [lo, LastIndex()], at most max_bytes (at least one).
  Expected<std::vector<eraftpb::Entry>, Error> Entries(uint64_t lo, uint64_t max_bytes) const;
  // Entries in [lo, hi), at most max_bytes (at least one). Error kCompacted
  // when lo is below FirstIndex().
  Expected<std::vector<eraftpb::Entry>, Error> Slice(uint64_t lo, uint64_t hi,
                                                     uint64_t max_bytes) const;

  bool HasNextCommittedEntries() const;
  // Committed entries after `applying`, up to max_applying_bytes.
  std::vector<eraftpb::Entry> NextCommittedEntries() const;

  const std::vector<eraftpb::Entry>& UnstableEntries() const { return unstable_.entries(); }
  const std::optional<eraftpb::Snapshot>& PendingSnapshot() const { return unstable_.snapshot(); }
  // The snapshot to send to a follower: the pending one, or Storage's.
  Expected<eraftpb::Snapshot, Error> Snapshot() const;

  // Replaces the log with a snapshot (follower side). Commit moves to its index.
  void Restore(const eraftpb::Snapshot& snapshot);

  // Every entry from FirstIndex() on, storage and unstable (tests only).
  std::vector<eraftpb::Entry> AllEntries() const;

 private:
  Storage* storage_;
  Unstable unstable_;
  uint64_t committed_;
  uint64_t applying_;
  uint64_t applied_;
  uint64_t persisted_;
  const uint64_t max_applying_bytes_;
};

}  // namespace tinykv::raft
