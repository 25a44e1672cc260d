#include "raft/progress.h"

#include <algorithm>

#include "common/check.h"

namespace tinykv::raft {

void Inflights::Add(uint64_t last_index) {
  TKV_CHECK(!Full(), "cannot add into a full inflights");
  buffer_[(start_ + count_) % buffer_.size()] = last_index;
  ++count_;
}

void Inflights::FreeLE(uint64_t index) {
  while (count_ > 0 && buffer_[start_] <= index) {
    start_ = (start_ + 1) % buffer_.size();
    --count_;
  }
  if (count_ == 0) start_ = 0;
}

void Inflights::FreeFirstOne() {
  if (count_ == 0) return;
  start_ = (start_ + 1) % buffer_.size();
  --count_;
}

const char* ProgressStateName(ProgressState s) {
  switch (s) {
    case ProgressState::kProbe:
      return "probe";
    case ProgressState::kReplicate:
      return "replicate";
    case ProgressState::kSnapshot:
      return "snapshot";
  }
  return "?";
}

void Progress::ResetState(ProgressState s) {
  probe_sent = false;
  pending_snapshot = 0;
  state = s;
  inflights.Reset();
}

void Progress::BecomeProbe() {
  // After a snapshot, resume from after it (the follower has at least that).
  if (state == ProgressState::kSnapshot) {
    uint64_t pending = pending_snapshot;
    ResetState(ProgressState::kProbe);
    next = std::max(match + 1, pending + 1);
  } else {
    ResetState(ProgressState::kProbe);
    next = match + 1;
  }
}

void Progress::BecomeReplicate() {
  ResetState(ProgressState::kReplicate);
  next = match + 1;
}

void Progress::BecomeSnapshot(uint64_t snapshot_index) {
  ResetState(ProgressState::kSnapshot);
  pending_snapshot = snapshot_index;
}

bool Progress::MaybeUpdate(uint64_t n) {
  bool updated = false;
  if (match < n) {
    match = n;
    updated = true;
    probe_sent = false;
  }
  next = std::max(next, n + 1);
  return updated;
}

bool Progress::MaybeDecrTo(uint64_t rejected, uint64_t match_hint) {
  if (state == ProgressState::kReplicate) {
    // A rejection at or below match is an old message arriving late.
    if (rejected <= match) return false;
    next = match + 1;
    return true;
  }
  // In probe state only the answer to the probe in flight counts.
  if (next - 1 != rejected) return false;
  next = std::max(std::min(rejected, match_hint + 1), match + 1);
  probe_sent = false;
  return true;
}

bool Progress::IsPaused() const {
  switch (state) {
    case ProgressState::kProbe:
      return probe_sent;
    case ProgressState::kReplicate:
      return inflights.Full();
    case ProgressState::kSnapshot:
      return true;
  }
  return true;
}

void ProgressTracker::Reset(const eraftpb::ConfState& cs, uint64_t next_index) {
  voters_.clear();
  learners_.clear();
  progress_.clear();
  votes_.clear();
  for (uint64_t id : cs.nodes()) AddMember(id, false, next_index);
  for (uint64_t id : cs.learners()) {
    if (!IsVoter(id)) AddMember(id, true, next_index);
  }
}

eraftpb::ConfState ProgressTracker::ToConfState() const {
  eraftpb::ConfState cs;
  for (uint64_t id : voters_) cs.add_nodes(id);
  for (uint64_t id : learners_) cs.add_learners(id);
  return cs;
}

void ProgressTracker::ResetProgress(uint64_t next_index, uint64_t self, uint64_t self_match) {
  for (auto& [id, pr] : progress_) {
    bool learner = pr.is_learner;
    pr = Progress(max_inflight_);
    pr.next = next_index;
    pr.is_learner = learner;
    if (id == self) pr.match = self_match;
  }
}

void ProgressTracker::AddMember(uint64_t id, bool learner, uint64_t next_index) {
  TKV_CHECK(progress_.count(id) == 0, "member {} already exists", id);
  (learner ? learners_ : voters_).insert(id);
  Progress pr(max_inflight_);
  pr.next = next_index;
  pr.is_learner = learner;
  // A new member gets one election timeout of grace before CheckQuorum
  // counts it as inactive.
  pr.recent_active = true;
  progress_.emplace(id, std::move(pr));
}

void ProgressTracker::PromoteLearner(uint64_t id) {
  TKV_CHECK(learners_.erase(id) == 1, "{} is not a learner", id);
  voters_.insert(id);
  progress_.at(id).is_learner = false;
}

void ProgressTracker::RemoveMember(uint64_t id) {
  voters_.erase(id);
  learners_.erase(id);
  progress_.erase(id);
  votes_.erase(id);
}

Progress* ProgressTracker::Get(uint64_t id) {
  auto it = progress_.find(id);
  return it == progress_.end() ? nullptr : &it->second;
}

const Progress* ProgressTracker::Get(uint64_t id) const {
  auto it = progress_.find(id);
  return it == progress_.end() ? nullptr : &it->second;
}

uint64_t ProgressTracker::CommittedIndex() const {
  if (voters_.empty()) return 0;
  std::vector<uint64_t> matches;
  matches.reserve(voters_.size());
  for (uint64_t id : voters_) matches.push_back(progress_.at(id).match);
  // The quorum-th highest match is held by a quorum.
  std::sort(matches.begin(), matches.end(), std::greater<>());
  return matches[Quorum() - 1];
}

bool ProgressTracker::QuorumActive(uint64_t self) const {
  size_t active = 0;
  for (uint64_t id : voters_) {
    if (id == self || progress_.at(id).recent_active) ++active;
  }
  return active >= Quorum();
}

void ProgressTracker::RecordVote(uint64_t id, bool granted) { votes_.emplace(id, granted); }

VoteResult ProgressTracker::TallyVotes(size_t* granted_out, size_t* rejected_out) const {
  size_t granted = 0, rejected = 0;
  for (uint64_t id : voters_) {
    auto it = votes_.find(id);
    if (it == votes_.end()) continue;
    (it->second ? granted : rejected)++;
  }
  if (granted_out) *granted_out = granted;
  if (rejected_out) *rejected_out = rejected;
  if (voters_.empty())
    return VoteResult::kWon;  // an empty configuration wins trivially, as in etcd
  if (granted >= Quorum()) return VoteResult::kWon;
  if (voters_.size() - rejected < Quorum()) return VoteResult::kLost;  // too few left to win
  return VoteResult::kPending;
}

bool ProgressTracker::HasQuorum(const std::set<uint64_t>& acks) const {
  size_t n = 0;
  for (uint64_t id : voters_) n += acks.count(id);
  return n >= Quorum();
}

}  // namespace tinykv::raft
