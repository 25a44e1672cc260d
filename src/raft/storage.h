// Storage: the Raft log and state as the Raft core reads them. Raft never
// writes through this interface: the driver persists what a Ready hands it
// (entries, hard state, snapshot) and then makes it readable here, before it
// calls RawNode::Advance.
//
// Index model: a storage holds a contiguous run of entries
// [FirstIndex(), LastIndex()], preceded by a snapshot (or the empty initial
// state) at index FirstIndex() - 1, whose term Term() also answers.
// LastIndex() may be FirstIndex() - 1 (no entries).
//
// I/O failures are not part of this interface: an implementation on a real
// disk treats a read error as fatal (TKV_CHECK), as etcd and TiKV do.
//
// MemoryStorage is the implementation for tests and the simulator. It is not
// thread-safe: one thread drives a RawNode and its storage.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "common/expected.h"
#include "eraftpb.pb.h"
#include "raft/errors.h"

namespace tinykv::raft {

inline constexpr uint64_t kNoLimit = std::numeric_limits<uint64_t>::max();

// What a node restarts from.
struct RaftState {
  eraftpb::HardState hard_state;
  // Membership as of the last applied configuration change (or snapshot).
  eraftpb::ConfState conf_state;
};

class Storage {
 public:
  virtual ~Storage() = default;

  virtual RaftState InitialState() const = 0;

  // Entries in [lo, hi), at most max_bytes in total (always at least one when
  // lo < hi). Errors: kCompacted if lo < FirstIndex(); kUnavailable if
  // hi > LastIndex() + 1.
  virtual Expected<std::vector<eraftpb::Entry>, Error> Entries(uint64_t lo, uint64_t hi,
                                                               uint64_t max_bytes) const = 0;

  // Term of entry i, for i in [FirstIndex() - 1, LastIndex()].
  // Errors: kCompacted below, kUnavailable above.
  virtual Expected<uint64_t, Error> Term(uint64_t i) const = 0;

  virtual uint64_t FirstIndex() const = 0;
  virtual uint64_t LastIndex() const = 0;

  // The latest snapshot, to send to a follower that is too far behind.
  // Error kSnapshotTemporarilyUnavailable while one is being built. May start
  // building one, hence not const.
  virtual Expected<eraftpb::Snapshot, Error> Snapshot() = 0;
};

class MemoryStorage final : public Storage {
 public:
  // Empty: no entries, a dummy entry at index 0 with term 0.
  MemoryStorage();
  // For a new group: the initial membership.
  explicit MemoryStorage(const eraftpb::ConfState& conf_state);

  RaftState InitialState() const override;
  Expected<std::vector<eraftpb::Entry>, Error> Entries(uint64_t lo, uint64_t hi,
                                                       uint64_t max_bytes) const override;
  Expected<uint64_t, Error> Term(uint64_t i) const override;
  uint64_t FirstIndex() const override;
  uint64_t LastIndex() const override;
  Expected<eraftpb::Snapshot, Error> Snapshot() override;

  void SetHardState(const eraftpb::HardState& hs) { hard_state_ = hs; }
  void SetConfState(const eraftpb::ConfState& cs) { conf_state_ = cs; }

  // Replaces everything with the snapshot. Error kSnapshotOutOfDate if it is
  // not newer than the snapshot held.
  Error ApplySnapshot(const eraftpb::Snapshot& snapshot);

  // Records a snapshot at applied index i (REQUIRES: i <= LastIndex()) with
  // the given membership and data; entries are kept (see Compact).
  // Error kSnapshotOutOfDate if i is not above the current snapshot.
  Expected<eraftpb::Snapshot, Error> CreateSnapshot(uint64_t i, const eraftpb::ConfState& cs,
                                                    std::string data);

  // Drops the entries before compact_index (they must be covered by a
  // snapshot the caller keeps). REQUIRES: compact_index <= LastIndex().
  // Error kCompacted if already compacted that far.
  Error Compact(uint64_t compact_index);

  // Appends entries, replacing any existing entries from entries[0].index on.
  // Entries below FirstIndex() are ignored. REQUIRES: contiguous, and
  // entries[0].index <= LastIndex() + 1.
  void Append(const std::vector<eraftpb::Entry>& entries);

  // Test hook: Snapshot() answers kSnapshotTemporarilyUnavailable while set.
  void SetSnapshotUnavailable(bool unavailable) { snapshot_unavailable_ = unavailable; }

 private:
  eraftpb::HardState hard_state_;
  eraftpb::ConfState conf_state_;
  eraftpb::Snapshot snapshot_;
  // Invariant: never empty; entries_[0] is a dummy at the snapshot's index and
  // term; real entries follow contiguously.
  std::vector<eraftpb::Entry> entries_;
  bool snapshot_unavailable_ = false;
};

// Size used for every byte limit: the payload, as etcd and raft-rs count it.
inline uint64_t EntrySize(const eraftpb::Entry& e) { return e.data().size(); }

// Keeps the longest prefix of `entries` within max_bytes (but at least one).
void LimitSize(std::vector<eraftpb::Entry>& entries, uint64_t max_bytes);

}  // namespace tinykv::raft
