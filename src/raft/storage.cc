#include "raft/storage.h"

#include "common/check.h"

namespace tinykv::raft {

void LimitSize(std::vector<eraftpb::Entry>& entries, uint64_t max_bytes) {
  if (entries.empty() || max_bytes == kNoLimit) return;
  uint64_t size = EntrySize(entries[0]);
  size_t keep = 1;
  for (; keep < entries.size(); ++keep) {
    size += EntrySize(entries[keep]);
    if (size > max_bytes) break;
  }
  entries.resize(keep);
}

MemoryStorage::MemoryStorage() : entries_(1) {}

MemoryStorage::MemoryStorage(const eraftpb::ConfState& conf_state) : MemoryStorage() {
  conf_state_ = conf_state;
}

RaftState MemoryStorage::InitialState() const { return RaftState{hard_state_, conf_state_}; }

uint64_t MemoryStorage::FirstIndex() const { return entries_[0].index() + 1; }

uint64_t MemoryStorage::LastIndex() const { return entries_[0].index() + entries_.size() - 1; }

Expected<std::vector<eraftpb::Entry>, Error> MemoryStorage::Entries(uint64_t lo, uint64_t hi,
                                                                    uint64_t max_bytes) const {
  uint64_t offset = entries_[0].index();
  if (lo <= offset) return Unexpected{Error::kCompacted};
  if (hi > LastIndex() + 1) return Unexpected{Error::kUnavailable};
  TKV_CHECK(lo <= hi, "Entries({}, {})", lo, hi);
  std::vector<eraftpb::Entry> out(entries_.begin() + (lo - offset),
                                  entries_.begin() + (hi - offset));
  LimitSize(out, max_bytes);
  return out;
}

Expected<uint64_t, Error> MemoryStorage::Term(uint64_t i) const {
  uint64_t offset = entries_[0].index();
  if (i < offset) return Unexpected{Error::kCompacted};
  if (i - offset >= entries_.size()) return Unexpected{Error::kUnavailable};
  return entries_[i - offset].term();
}

Expected<eraftpb::Snapshot, Error> MemoryStorage::Snapshot() {
  if (snapshot_unavailable_) return Unexpected{Error::kSnapshotTemporarilyUnavailable};
  return snapshot_;
}

Error MemoryStorage::ApplySnapshot(const eraftpb::Snapshot& snapshot) {
  if (snapshot.metadata().index() <= snapshot_.metadata().index()) return Error::kSnapshotOutOfDate;
  snapshot_ = snapshot;
  conf_state_ = snapshot.metadata().conf_state();
  entries_.assign(1, eraftpb::Entry());
  entries_[0].set_index(snapshot.metadata().index());
  entries_[0].set_term(snapshot.metadata().term());
  return Error::kOk;
}

Expected<eraftpb::Snapshot, Error> MemoryStorage::CreateSnapshot(uint64_t i,
                                                                 const eraftpb::ConfState& cs,
                                                                 std::string data) {
  if (i <= snapshot_.metadata().index()) return Unexpected{Error::kSnapshotOutOfDate};
  TKV_CHECK(i <= LastIndex(), "snapshot {} is out of bound lastindex({})", i, LastIndex());
  uint64_t offset = entries_[0].index();
  snapshot_.mutable_metadata()->set_index(i);
  snapshot_.mutable_metadata()->set_term(entries_[i - offset].term());
  *snapshot_.mutable_metadata()->mutable_conf_state() = cs;
  snapshot_.set_data(std::move(data));
  return snapshot_;
}

Error MemoryStorage::Compact(uint64_t compact_index) {
  uint64_t offset = entries_[0].index();
  if (compact_index <= offset) return Error::kCompacted;
  TKV_CHECK(compact_index <= LastIndex(), "compact {} is out of bound lastindex({})", compact_index,
            LastIndex());
  size_t i = compact_index - offset;
  eraftpb::Entry dummy;
  dummy.set_index(entries_[i].index());
  dummy.set_term(entries_[i].term());
  std::vector<eraftpb::Entry> rest;
  rest.reserve(entries_.size() - i);
  rest.push_back(std::move(dummy));
  for (size_t j = i + 1; j < entries_.size(); ++j) rest.push_back(std::move(entries_[j]));
  entries_ = std::move(rest);
  return Error::kOk;
}

void MemoryStorage::Append(const std::vector<eraftpb::Entry>& entries) {
  if (entries.empty()) return;
  uint64_t first = FirstIndex();
  uint64_t last = entries.back().index();
  if (last < first) return;  // all compacted
  size_t skip = entries[0].index() < first ? first - entries[0].index() : 0;
  uint64_t start = entries[skip].index();
  TKV_CHECK(start <= LastIndex() + 1, "missing log entry [last: {}, append at: {}]", LastIndex(),
            start);
  entries_.resize(start - entries_[0].index());  // drop the conflicting tail
  for (size_t j = skip; j < entries.size(); ++j) {
    TKV_CHECK(entries[j].index() == entries_.back().index() + 1, "non-contiguous append");
    entries_.push_back(entries[j]);
  }
}

}  // namespace tinykv::raft
