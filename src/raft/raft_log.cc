#include "raft/raft_log.h"

#include <algorithm>

#include "common/check.h"

namespace tinykv::raft {

// ---- Unstable ------------------------------------------------------------------

std::optional<uint64_t> Unstable::MaybeFirstIndex() const {
  if (snapshot_) return snapshot_->metadata().index() + 1;
  return std::nullopt;
}

std::optional<uint64_t> Unstable::MaybeLastIndex() const {
  if (!entries_.empty()) return offset_ + entries_.size() - 1;
  if (snapshot_) return snapshot_->metadata().index();
  return std::nullopt;
}

std::optional<uint64_t> Unstable::MaybeTerm(uint64_t i) const {
  if (i < offset_) {
    if (snapshot_ && snapshot_->metadata().index() == i) return snapshot_->metadata().term();
    return std::nullopt;
  }
  auto last = MaybeLastIndex();
  if (!last || i > *last) return std::nullopt;
  return entries_[i - offset_].term();
}

void Unstable::StableTo(uint64_t i, uint64_t t) {
  auto term = MaybeTerm(i);
  if (!term || *term != t || i < offset_) return;
  entries_.erase(entries_.begin(), entries_.begin() + (i + 1 - offset_));
  offset_ = i + 1;
  // Give memory back when the vector is mostly empty, so that a burst of
  // appends does not pin its peak size for the life of the group.
  if (entries_.capacity() > 64 && entries_.size() < entries_.capacity() / 4)
    entries_.shrink_to_fit();
}

void Unstable::StableSnapTo(uint64_t i) {
  if (snapshot_ && snapshot_->metadata().index() == i) snapshot_.reset();
}

void Unstable::Restore(const eraftpb::Snapshot& snapshot) {
  offset_ = snapshot.metadata().index() + 1;
  entries_.clear();
  snapshot_ = snapshot;
}

void Unstable::TruncateAndAppend(const std::vector<eraftpb::Entry>& entries) {
  if (entries.empty()) return;
  uint64_t after = entries[0].index();
  if (after == offset_ + entries_.size()) {
    // Directly after what we hold.
  } else if (after <= offset_) {
    // Replaces everything unstable; the driver will overwrite storage from `after`.
    offset_ = after;
    entries_.clear();
  } else {
    entries_.resize(after - offset_);
  }
  entries_.insert(entries_.end(), entries.begin(), entries.end());
}

std::vector<eraftpb::Entry> Unstable::Slice(uint64_t lo, uint64_t hi) const {
  TKV_CHECK(offset_ <= lo && lo <= hi && hi <= offset_ + entries_.size(),
            "unstable slice [{}, {}) out of bound [{}, {}]", lo, hi, offset_,
            offset_ + entries_.size());
  return std::vector<eraftpb::Entry>(entries_.begin() + (lo - offset_),
                                     entries_.begin() + (hi - offset_));
}

// ---- RaftLog -------------------------------------------------------------------

RaftLog::RaftLog(Storage* storage, uint64_t max_applying_bytes)
    : storage_(storage),
      unstable_(storage->LastIndex() + 1),
      committed_(storage->FirstIndex() - 1),
      applying_(storage->FirstIndex() - 1),
      applied_(storage->FirstIndex() - 1),
      persisted_(storage->LastIndex()),
      max_applying_bytes_(max_applying_bytes) {}

uint64_t RaftLog::FirstIndex() const {
  if (auto i = unstable_.MaybeFirstIndex()) return *i;
  return storage_->FirstIndex();
}

uint64_t RaftLog::LastIndex() const {
  if (auto i = unstable_.MaybeLastIndex()) return *i;
  return storage_->LastIndex();
}

uint64_t RaftLog::LastTerm() const {
  auto t = Term(LastIndex());
  TKV_CHECK(t.has_value(), "unexpected error getting the last term: {}", ErrorName(t.error()));
  return *t;
}

Expected<uint64_t, Error> RaftLog::Term(uint64_t i) const {
  // The valid range is [dummy index, last index].
  uint64_t dummy = FirstIndex() - 1;
  if (i < dummy || i > LastIndex()) return uint64_t{0};
  if (auto t = unstable_.MaybeTerm(i)) return *t;
  auto t = storage_->Term(i);
  if (t.has_value()) return *t;
  TKV_CHECK(t.error() == Error::kCompacted || t.error() == Error::kUnavailable,
            "storage Term({}): {}", i, ErrorName(t.error()));
  return t;
}

uint64_t RaftLog::TermOrZero(uint64_t i) const {
  auto t = Term(i);
  return t.has_value() ? *t : 0;
}

bool RaftLog::MatchTerm(uint64_t i, uint64_t t) const {
  auto term = Term(i);
  return term.has_value() && *term == t;
}

bool RaftLog::IsUpToDate(uint64_t last_index, uint64_t term) const {
  uint64_t my_term = LastTerm();
  return term > my_term || (term == my_term && last_index >= LastIndex());
}

uint64_t RaftLog::FindConflict(const std::vector<eraftpb::Entry>& entries) const {
  for (const auto& e : entries) {
    if (!MatchTerm(e.index(), e.term())) return e.index();
  }
  return 0;
}

std::pair<uint64_t, uint64_t> RaftLog::FindConflictByTerm(uint64_t index, uint64_t term) const {
  for (; index > 0; --index) {
    auto t = Term(index);
    if (!t.has_value()) return {index, 0};  // compacted: cannot look further back
    if (*t <= term) return {index, *t};
  }
  return {0, 0};
}

std::optional<uint64_t> RaftLog::MaybeAppend(uint64_t index, uint64_t log_term, uint64_t committed,
                                             const std::vector<eraftpb::Entry>& entries) {
  if (!MatchTerm(index, log_term)) return std::nullopt;
  uint64_t last_new = index + entries.size();
  uint64_t conflict = FindConflict(entries);
  if (conflict != 0) {
    TKV_CHECK(conflict > committed_, "entry {} conflicts with committed entry [committed({})]",
              conflict, committed_);
    std::vector<eraftpb::Entry> rest(entries.begin() + (conflict - index - 1), entries.end());
    Append(rest);
  }
  CommitTo(std::min(committed, last_new));
  return last_new;
}

uint64_t RaftLog::Append(const std::vector<eraftpb::Entry>& entries) {
  if (entries.empty()) return LastIndex();
  uint64_t after = entries[0].index() - 1;
  TKV_CHECK(after >= committed_, "after({}) is out of range [committed({})]", after, committed_);
  unstable_.TruncateAndAppend(entries);
  persisted_ = std::min(persisted_, after);
  return LastIndex();
}

void RaftLog::CommitTo(uint64_t to_commit) {
  if (committed_ >= to_commit) return;  // never decreases
  TKV_CHECK(to_commit <= LastIndex(),
            "commit {} is out of range [last index {}]; was the log corrupted, truncated or lost?",
            to_commit, LastIndex());
  committed_ = to_commit;
}

bool RaftLog::MaybeCommit(uint64_t max_index, uint64_t term) {
  if (max_index > committed_ && TermOrZero(max_index) == term) {
    CommitTo(max_index);
    return true;
  }
  return false;
}

void RaftLog::ApplyingTo(uint64_t index) {
  TKV_CHECK(index <= committed_ && index >= applying_, "applying {} outside [{}, {}]", index,
            applying_, committed_);
  applying_ = index;
}

void RaftLog::AppliedTo(uint64_t index) {
  if (index == 0) return;
  TKV_CHECK(index <= applying_ && index >= applied_, "applied {} outside [{}, applying {}]", index,
            applied_, applying_);
  applied_ = index;
}

void RaftLog::StableTo(uint64_t i, uint64_t t) {
  // Ignored if entry i was replaced since the driver took it.
  if (!MatchTerm(i, t)) return;
  unstable_.StableTo(i, t);
  persisted_ = std::max(persisted_, i);
}

void RaftLog::StableSnapTo(uint64_t i) {
  unstable_.StableSnapTo(i);
  persisted_ = std::max(persisted_, i);
}

Expected<std::vector<eraftpb::Entry>, Error> RaftLog::Entries(uint64_t lo,
                                                              uint64_t max_bytes) const {
  if (lo > LastIndex()) return std::vector<eraftpb::Entry>();
  return Slice(lo, LastIndex() + 1, max_bytes);
}

Expected<std::vector<eraftpb::Entry>, Error> RaftLog::Slice(uint64_t lo, uint64_t hi,
                                                            uint64_t max_bytes) const {
  TKV_CHECK(lo <= hi, "invalid slice {} > {}", lo, hi);
  if (lo < FirstIndex()) return Unexpected{Error::kCompacted};
  TKV_CHECK(hi <= LastIndex() + 1, "slice[{},{}) out of bound [{},{}]", lo, hi, FirstIndex(),
            LastIndex());
  std::vector<eraftpb::Entry> out;
  if (lo == hi) return out;
  uint64_t offset = unstable_.offset();
  if (lo < offset) {
    auto stored = storage_->Entries(lo, std::min(hi, offset), max_bytes);
    if (!stored.has_value()) {
      if (stored.error() == Error::kCompacted) return stored;
      TKV_PANIC("storage Entries[{}, {}): {}", lo, std::min(hi, offset), ErrorName(stored.error()));
    }
    out = std::move(stored).value();
    // Storage stopped early (size limit): nothing from the unstable tail.
    if (out.size() < std::min(hi, offset) - lo) return out;
  }
  if (hi > offset) {
    auto tail = unstable_.Slice(std::max(lo, offset), hi);
    out.insert(out.end(), std::make_move_iterator(tail.begin()),
               std::make_move_iterator(tail.end()));
  }
  LimitSize(out, max_bytes);
  return out;
}

bool RaftLog::HasNextCommittedEntries() const {
  return committed_ + 1 > std::max(applying_ + 1, FirstIndex());
}

std::vector<eraftpb::Entry> RaftLog::NextCommittedEntries() const {
  uint64_t lo = std::max(applying_ + 1, FirstIndex());
  if (committed_ + 1 <= lo) return {};
  auto entries = Slice(lo, committed_ + 1, max_applying_bytes_);
  TKV_CHECK(entries.has_value(), "unexpected error getting unapplied entries: {}",
            ErrorName(entries.error()));
  return std::move(entries).value();
}

Expected<eraftpb::Snapshot, Error> RaftLog::Snapshot() const {
  if (unstable_.snapshot()) return *unstable_.snapshot();
  return storage_->Snapshot();
}

void RaftLog::Restore(const eraftpb::Snapshot& snapshot) {
  committed_ = snapshot.metadata().index();
  unstable_.Restore(snapshot);
  // Entries at and below the snapshot are covered by it; nothing after it is
  // known to be durable until the snapshot is.
  persisted_ = std::min(persisted_, snapshot.metadata().index());
  applying_ = std::max(applying_, snapshot.metadata().index());
}

std::vector<eraftpb::Entry> RaftLog::AllEntries() const {
  auto entries = Entries(FirstIndex(), kNoLimit);
  TKV_CHECK(entries.has_value());
  return std::move(entries).value();
}

}  // namespace tinykv::raft
