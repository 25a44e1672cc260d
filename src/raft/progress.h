// Replication progress of each member, as the leader sees it, and the
// membership it is tracked for (voters and learners), with the quorum
// arithmetic: commit index, vote tally, quorum activity.
//
// Flow control (etcd raft's design, see docs/raft.md):
//   Probe      the leader does not know where the follower's log ends: it
//              sends one append at a time and waits for the answer.
//   Replicate  the follower is known to be caught up to `match`: appends are
//              sent optimistically, up to max_inflight unacknowledged messages.
//   Snapshot   a snapshot is on its way; nothing else is sent until it is
//              reported done or failed.
// The leader's memory per follower is therefore bounded by the in-flight
// window times the maximum message size, however slow the follower is.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <vector>

#include "eraftpb.pb.h"

namespace tinykv::raft {

// A ring buffer of the last index of each append in flight to one follower.
class Inflights {
 public:
  explicit Inflights(size_t capacity) : buffer_(capacity) {}

  bool Full() const { return count_ == buffer_.size(); }
  size_t Count() const { return count_; }
  // REQUIRES: !Full(), and last_index above every index held.
  void Add(uint64_t last_index);
  // Frees every append whose last index is <= index (they were acknowledged).
  void FreeLE(uint64_t index);
  void FreeFirstOne();
  void Reset() {
    start_ = 0;
    count_ = 0;
  }

 private:
  std::vector<uint64_t> buffer_;
  size_t start_ = 0;
  size_t count_ = 0;
};

enum class ProgressState : unsigned char { kProbe, kReplicate, kSnapshot };
const char* ProgressStateName(ProgressState s);

struct Progress {
  explicit Progress(size_t max_inflight) : inflights(max_inflight) {}

  // Invariant: match < next.
  uint64_t match = 0;  // highest index known to be replicated
  uint64_t next = 1;   // next index to send
  ProgressState state = ProgressState::kProbe;
  // Snapshot state: the index of the snapshot being sent.
  uint64_t pending_snapshot = 0;
  // Heard from since the last quorum check (CheckQuorum), or since added.
  bool recent_active = false;
  // Probe state: an append was sent and its answer is awaited.
  bool probe_sent = false;
  bool is_learner = false;
  Inflights inflights;

  void BecomeProbe();
  void BecomeReplicate();
  void BecomeSnapshot(uint64_t snapshot_index);
  // The follower acknowledged up to n. Returns whether match moved.
  bool MaybeUpdate(uint64_t n);
  // Replicate state: entries up to n were sent.
  void OptimisticUpdate(uint64_t n) { next = n + 1; }
  // The follower rejected an append at `rejected`; `match_hint` is where its
  // log may match. Returns false for a stale rejection.
  bool MaybeDecrTo(uint64_t rejected, uint64_t match_hint);
  // Whether sending to this follower must wait.
  bool IsPaused() const;

 private:
  void ResetState(ProgressState s);
};

enum class VoteResult : unsigned char { kPending, kLost, kWon };

class ProgressTracker {
 public:
  explicit ProgressTracker(size_t max_inflight) : max_inflight_(max_inflight) {}

  // Replaces the membership; every member gets a fresh progress with
  // next = next_index (and match 0).
  void Reset(const eraftpb::ConfState& cs, uint64_t next_index);
  eraftpb::ConfState ToConfState() const;

  // Forgets every member's progress (new term): match 0, next = next_index,
  // except `self`, whose match is self_match.
  void ResetProgress(uint64_t next_index, uint64_t self, uint64_t self_match);
  // Adds a member (voter or learner) with next = next_index.
  void AddMember(uint64_t id, bool learner, uint64_t next_index);
  void PromoteLearner(uint64_t id);
  void RemoveMember(uint64_t id);

  Progress* Get(uint64_t id);
  const Progress* Get(uint64_t id) const;
  bool IsVoter(uint64_t id) const { return voters_.count(id) > 0; }
  bool IsLearner(uint64_t id) const { return learners_.count(id) > 0; }
  const std::set<uint64_t>& voters() const { return voters_; }
  const std::set<uint64_t>& learners() const { return learners_; }
  // Every member in id order, voters and learners.
  std::map<uint64_t, Progress>& progress() { return progress_; }
  const std::map<uint64_t, Progress>& progress() const { return progress_; }
  size_t Quorum() const { return voters_.size() / 2 + 1; }

  // The highest index replicated on a quorum of voters (0 with no voters).
  uint64_t CommittedIndex() const;
  // Whether a quorum of voters was recently active (`self` always counts).
  bool QuorumActive(uint64_t self) const;

  // Elections. Only the first vote of each voter counts.
  void RecordVote(uint64_t id, bool granted);
  void ResetVotes() { votes_.clear(); }
  VoteResult TallyVotes(size_t* granted = nullptr, size_t* rejected = nullptr) const;
  // Whether `acks` (a set of member ids) holds a quorum of voters.
  bool HasQuorum(const std::set<uint64_t>& acks) const;

 private:
  size_t max_inflight_;
  std::set<uint64_t> voters_;
  std::set<uint64_t> learners_;
  std::map<uint64_t, Progress> progress_;
  std::map<uint64_t, bool> votes_;
};

}  // namespace tinykv::raft
