// PeerStorage: one region replica's Raft log and state on the store's engine,
// seen by the Raft core through raft::Storage.
//
// Persisted (meta column family, keys.h):
//   RaftLocalState  hard state + last log index/term, written with the log
//   RaftApplyState  applied index + truncated state, written by the apply
//                   side with the data it covers
//   RegionLocalState the region (range, epoch, peers)
// The raft thread owns this object. Writes are added to a WriteBatch that the
// caller writes (and syncs) before it calls RawNode::Advance; the in-memory
// view changes at once, which is safe because Raft reads a Ready's entries
// through Storage only after Advance.
//
// Recent entries are kept in a bounded cache so that a leader replicating to
// followers rarely reads the engine.
#pragma once

#include <deque>
#include <memory>
#include <optional>

#include "metapb.pb.h"
#include "raft/storage.h"
#include "raft_serverpb.pb.h"
#include "storage/engine.h"

namespace tinykv::raftstore {

// The Raft index and term every region starts at (as in TinyKV): the log
// never starts at 1, so a peer that joins later always receives a snapshot
// (see docs/raft.md, "Creating, restarting, joining").
inline constexpr uint64_t kRaftInitLogIndex = 5;
inline constexpr uint64_t kRaftInitLogTerm = 5;

// Hands a request for a snapshot to whoever builds them (the apply side).
class SnapshotRequester {
 public:
  virtual ~SnapshotRequester() = default;
  virtual void RequestSnapshot(uint64_t region_id) = 0;
};

class PeerStorage final : public raft::Storage {
 public:
  // Loads the peer of `region` from the engine. A region with no peers is
  // an uninitialized peer (created by a message; it waits for a snapshot).
  // Errors: kCorruption when the persisted states contradict each other.
  static Result<std::unique_ptr<PeerStorage>> Open(storage::Engine& engine,
                                                   const metapb::Region& region,
                                                   SnapshotRequester* snapshots);

  // Writes the initial state of a new initialized region (bootstrap or the
  // right half of a split) into `wb`. `voted` is the hard state an
  // uninitialized peer of the region already persisted here (it may have
  // voted in a later term): its term and vote are kept.
  static void WriteInitialState(const metapb::Region& region, storage::WriteBatch& wb,
                                const std::optional<eraftpb::HardState>& voted = std::nullopt);

  // ---- raft::Storage ----
  raft::RaftState InitialState() const override;
  Expected<std::vector<eraftpb::Entry>, raft::Error> Entries(uint64_t lo, uint64_t hi,
                                                             uint64_t max_bytes) const override;
  Expected<uint64_t, raft::Error> Term(uint64_t i) const override;
  uint64_t FirstIndex() const override { return apply_state_.truncated_state().index() + 1; }
  uint64_t LastIndex() const override { return raft_state_.last_index(); }
  Expected<eraftpb::Snapshot, raft::Error> Snapshot() override;

  // ---- Persistence (the raft thread) ----
  // Entries (replacing stored ones from entries[0].index on) and hard state.
  void SaveReadyState(const std::vector<eraftpb::Entry>& entries,
                      const std::optional<eraftpb::HardState>& hs, storage::WriteBatch& wb);
  // Replaces the log, the states and the region's data with a snapshot.
  // `old_region` is the region before (its data is cleared too).
  Status ApplySnapshot(const eraftpb::Snapshot& snapshot, storage::WriteBatch& wb);
  // A snapshot built for this region (from the apply side).
  void OnSnapshotGenerated(eraftpb::Snapshot snapshot);
  // The apply side truncated the log; drops cached entries and returns the
  // range [first, to] of log entries to delete (none when nothing new).
  std::optional<std::pair<uint64_t, uint64_t>> OnCompacted(
      const raft_serverpb::RaftTruncatedState& t);
  // Everything of this peer (log, states, and data of `region` if `clear_data`),
  // for destroying it; the region state is written as Tombstone with
  // `tombstone` as its region and `peer_id` as the replica removed.
  void Destroy(storage::WriteBatch& wb, bool clear_data, const metapb::Region& tombstone,
               uint64_t peer_id);

  const metapb::Region& region() const { return region_; }
  void SetRegion(const metapb::Region& r) { region_ = r; }
  bool IsInitialized() const { return region_.peers_size() > 0; }
  const raft_serverpb::RaftApplyState& apply_state() const { return apply_state_; }
  void SetAppliedIndex(uint64_t applied) { apply_state_.set_applied_index(applied); }
  const raft_serverpb::RaftLocalState& raft_state() const { return raft_state_; }
  uint64_t region_id() const { return region_.id(); }

 private:
  PeerStorage(storage::Engine& engine, const metapb::Region& region, SnapshotRequester* snapshots);
  // The entries in [lo, hi) from the engine.
  std::vector<eraftpb::Entry> ReadEntries(uint64_t lo, uint64_t hi, uint64_t max_bytes) const;

  storage::Engine& engine_;
  metapb::Region region_;
  raft_serverpb::RaftLocalState raft_state_;
  raft_serverpb::RaftApplyState apply_state_;
  SnapshotRequester* snapshots_;
  // A generated snapshot waiting to be sent, and whether one was requested.
  std::optional<eraftpb::Snapshot> generated_;
  uint64_t generated_conf_ver_ = 0;  // of the region in generated_
  bool generating_ = false;
  // Invariant: contiguous, ends at raft_state_.last_index when non-empty.
  std::deque<eraftpb::Entry> cache_;
  size_t cache_bytes_ = 0;
};

// Conf state (voters, learners) of a region's peers.
eraftpb::ConfState ConfStateOf(const metapb::Region& region);

// Deletes the region's user data (every data column family, its key range).
void DeleteRegionData(const metapb::Region& region, storage::WriteBatch& wb);

// Reads and parses a protobuf value from the meta column family.
template <typename Proto>
Result<std::optional<Proto>> ReadMeta(const storage::Snapshot& snap, const std::string& key);
template <typename Proto>
Result<std::optional<Proto>> ReadMeta(storage::Engine& engine, const std::string& key);

// CRC-32 (zlib) of a snapshot's key-value pairs (the checksum in RaftSnapshotData).
uint32_t SnapshotChecksum(const raft_serverpb::RaftSnapshotData& data);

}  // namespace tinykv::raftstore
