// RawNode: the Raft library's API. One RawNode is one replica of one Raft
// group; a store drives thousands of them from a few threads. It is not
// thread-safe: one thread at a time per RawNode. See docs/raft.md for the
// full contract and an example driver loop.
//
// Input:  Tick(), Step(message from a peer), Propose(), ProposeConfChange(),
//         ReadIndex(), TransferLeader(), ReportUnreachable(), ReportSnapshot().
// Output: a Ready, taken with GetReady() when HasReady(), then acknowledged
//         with Advance(); AdvanceApply() reports what the state machine applied.
//
// The persistence contract, for each Ready:
//   1. `messages` may be sent at once, before anything is persisted.
//   2. Persist `snapshot` (if any), then `entries` (replacing any stored
//      entries from entries[0].index on) and `hard_state` (if any), and make
//      them readable through the Storage. When must_sync is set, the write
//      must be durable (fsync) before going on.
//   3. Only then send `persisted_messages`.
//   4. Apply `committed_entries` in order (only after step 2: they may include
//      entries of this same Ready). Configuration changes among them are
//      applied with ApplyConfChange().
//   5. Call Advance(ready). Afterwards, when the state machine has applied up
//      to index i (possibly later, on another thread's behalf), call
//      AdvanceApply(i) from the driving thread.
// Steps 2 and 3 of many groups can be batched: one engine write and one
// fsync for all groups' Readys, then every group's persisted_messages.
// Only one Ready is outstanding at a time: GetReady() again only after Advance().
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "raft/raft.h"

namespace tinykv::raft {

// Volatile state, reported when it changes; never persisted.
struct SoftState {
  uint64_t lead = kNone;
  StateRole role = StateRole::kFollower;
  friend bool operator==(const SoftState&, const SoftState&) = default;
};

struct Ready {
  std::optional<SoftState> soft_state;
  // Set when term, vote or commit changed.
  std::optional<eraftpb::HardState> hard_state;
  // Answers to ReadIndex requests: serve each once applied up to its index.
  std::vector<ReadState> read_states;
  // To persist (and make readable through Storage) before persisted_messages.
  std::vector<eraftpb::Entry> entries;
  // A snapshot from the leader, to apply and persist.
  std::optional<eraftpb::Snapshot> snapshot;
  // To apply to the state machine, in order.
  std::vector<eraftpb::Entry> committed_entries;
  // To send now.
  std::vector<eraftpb::Message> messages;
  // To send once entries, hard state and snapshot are durable.
  std::vector<eraftpb::Message> persisted_messages;
  // Whether the persistence of this Ready needs an fsync (new entries, a
  // snapshot, or a change of term or vote). Commit-only changes do not.
  bool must_sync = false;
};

enum class SnapshotStatus : unsigned char { kFinish, kFailure };

struct ProgressStatus {
  uint64_t match = 0;
  uint64_t next = 0;
  ProgressState state = ProgressState::kProbe;
  uint64_t pending_snapshot = 0;
  bool recent_active = false;
  bool is_learner = false;
  size_t inflight = 0;
  bool paused = false;
};

struct RaftStatus {
  uint64_t id = 0;
  eraftpb::HardState hard_state;
  SoftState soft_state;
  uint64_t applied = 0;
  uint64_t lead_transferee = kNone;
  // Leader only: every member's replication progress.
  std::map<uint64_t, ProgressStatus> progress;
};

class RawNode {
 public:
  // Errors: kInvalidArgument for an invalid config.
  static Result<std::unique_ptr<RawNode>> Create(const Config& config, Storage* storage);

  // One logical clock tick. Election and heartbeat timeouts are counted in ticks.
  void Tick();
  // Starts an election now (no-op on a leader).
  Error Campaign();
  // Proposes data to be appended. kProposalDropped unless this node is the
  // leader and accepts it; an accepted proposal may still be lost if
  // leadership changes before it commits (watch committed entries).
  Error Propose(std::string data);
  // Proposes a membership change; one at a time (kProposalDropped while the
  // previous one is not applied).
  Error ProposeConfChange(const eraftpb::ConfChange& cc);
  // Applies a committed membership change; returns the new membership.
  eraftpb::ConfState ApplyConfChange(const eraftpb::ConfChange& cc);
  // A message from a peer. Errors: kStepLocalMessage for local-only types,
  // kStepPeerNotFound for a response from a non-member.
  Error Step(const eraftpb::Message& m);

  bool HasReady() const;
  Ready GetReady();
  void Advance(const Ready& ready);
  // The state machine applied every committed entry up to `applied`.
  void AdvanceApply(uint64_t applied);

  // Leader: tells every follower the commit index now (with whatever else
  // it may send), for a driver that runs with Config::broadcast_commit off
  // but wants one commit known at once. Ignored by other roles.
  void BroadcastCommit();
  // Asks the leader (this node, or forwarded to it) to hand leadership to
  // `transferee`. Ignored for learners, non-members and unknown leaders.
  void TransferLeader(uint64_t transferee);
  // Requests a linearizable read; the answer comes as a ReadState with the
  // same ctx (which must be unique). kProposalDropped when no leader is known.
  Error ReadIndex(std::string ctx);
  // The driver could not deliver a message to `id`.
  void ReportUnreachable(uint64_t id);
  // The driver finished (or failed) sending a snapshot to `id`.
  void ReportSnapshot(uint64_t id, SnapshotStatus status);

  RaftStatus GetStatus() const;

  // The protocol state, for tests and diagnostics.
  const Raft& raft() const { return *raft_; }
  Raft& mutable_raft() { return *raft_; }

 private:
  explicit RawNode(std::unique_ptr<Raft> raft);
  SoftState CurrentSoftState() const { return SoftState{raft_->lead(), raft_->state()}; }

  std::unique_ptr<Raft> raft_;
  SoftState prev_soft_;
  eraftpb::HardState prev_hard_;
  bool ready_outstanding_ = false;
};

}  // namespace tinykv::raft
