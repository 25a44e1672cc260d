#include "raftstore/peer_storage.h"

#include <fmt/format.h>
#include <zlib.h>

#include "common/check.h"
#include "raftstore/keys.h"

namespace tinykv::raftstore {

using raft::Error;
using storage::Cf;

namespace {

constexpr size_t kCacheMaxEntries = 1024;
constexpr size_t kCacheMaxBytes = 8u << 20;

template <typename Proto>
Result<std::optional<Proto>> ParseValue(Result<std::optional<std::string>> raw,
                                        const std::string& what) {
  if (!raw.ok()) return raw.status();
  if (!raw->has_value()) return std::optional<Proto>();
  Proto p;
  if (!p.ParseFromString(**raw)) return Status::Corruption("cannot parse " + what);
  return std::optional<Proto>(std::move(p));
}

}  // namespace

template <typename Proto>
Result<std::optional<Proto>> ReadMeta(const storage::Snapshot& snap, const std::string& key) {
  return ParseValue<Proto>(snap.Get(Cf::kMeta, key), Proto::descriptor()->name());
}

template <typename Proto>
Result<std::optional<Proto>> ReadMeta(storage::Engine& engine, const std::string& key) {
  return ParseValue<Proto>(engine.Get(Cf::kMeta, key), Proto::descriptor()->name());
}

template Result<std::optional<raft_serverpb::RaftLocalState>> ReadMeta(storage::Engine&,
                                                                       const std::string&);
template Result<std::optional<raft_serverpb::RaftApplyState>> ReadMeta(storage::Engine&,
                                                                       const std::string&);
template Result<std::optional<raft_serverpb::RegionLocalState>> ReadMeta(storage::Engine&,
                                                                         const std::string&);
template Result<std::optional<metapb::Region>> ReadMeta(storage::Engine&, const std::string&);
template Result<std::optional<raft_serverpb::StoreIdent>> ReadMeta(storage::Engine&,
                                                                   const std::string&);
template Result<std::optional<raft_serverpb::RaftApplyState>> ReadMeta(const storage::Snapshot&,
                                                                       const std::string&);
template Result<std::optional<raft_serverpb::RegionLocalState>> ReadMeta(const storage::Snapshot&,
                                                                         const std::string&);

eraftpb::ConfState ConfStateOf(const metapb::Region& region) {
  eraftpb::ConfState cs;
  for (const auto& p : region.peers()) {
    if (p.role() == metapb::Learner) {
      cs.add_learners(p.id());
    } else {
      cs.add_nodes(p.id());
    }
  }
  return cs;
}

void DeleteRegionData(const metapb::Region& region, storage::WriteBatch& wb) {
  for (Cf cf : storage::kDataCfs) {
    if (region.end_key().empty()) {
      wb.DeleteFrom(cf, region.start_key());  // the range reaches +infinity
    } else {
      wb.DeleteRange(cf, region.start_key(), region.end_key());
    }
  }
}

uint32_t SnapshotChecksum(const raft_serverpb::RaftSnapshotData& data) {
  uLong crc = crc32(0L, Z_NULL, 0);
  auto add = [&](const std::string& s) {
    uint32_t n = static_cast<uint32_t>(s.size());
    crc = crc32(crc, reinterpret_cast<const Bytef*>(&n), sizeof n);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(s.data()), static_cast<uInt>(s.size()));
  };
  for (const auto& cf : data.cfs()) {
    add(cf.cf());
    for (const auto& kv : cf.kvs()) {
      add(kv.key());
      add(kv.value());
    }
  }
  return static_cast<uint32_t>(crc);
}

PeerStorage::PeerStorage(storage::Engine& engine, const metapb::Region& region,
                         SnapshotRequester* snapshots)
    : engine_(engine), region_(region), snapshots_(snapshots) {}

void PeerStorage::WriteInitialState(const metapb::Region& region, storage::WriteBatch& wb,
                                    const std::optional<eraftpb::HardState>& voted) {
  raft_serverpb::RaftLocalState rs;
  rs.mutable_hard_state()->set_term(kRaftInitLogTerm);
  rs.mutable_hard_state()->set_commit(kRaftInitLogIndex);
  if (voted && voted->term() > kRaftInitLogTerm) {
    rs.mutable_hard_state()->set_term(voted->term());
    rs.mutable_hard_state()->set_vote(voted->vote());
  }
  rs.set_last_index(kRaftInitLogIndex);
  rs.set_last_term(kRaftInitLogTerm);
  raft_serverpb::RaftApplyState as;
  as.set_applied_index(kRaftInitLogIndex);
  as.mutable_truncated_state()->set_index(kRaftInitLogIndex);
  as.mutable_truncated_state()->set_term(kRaftInitLogTerm);
  raft_serverpb::RegionLocalState region_state;
  region_state.set_state(raft_serverpb::Normal);
  *region_state.mutable_region() = region;
  wb.Put(Cf::kMeta, keys::RaftStateKey(region.id()), rs.SerializeAsString());
  wb.Put(Cf::kMeta, keys::ApplyStateKey(region.id()), as.SerializeAsString());
  wb.Put(Cf::kMeta, keys::RegionStateKey(region.id()), region_state.SerializeAsString());
}

Result<std::unique_ptr<PeerStorage>> PeerStorage::Open(storage::Engine& engine,
                                                       const metapb::Region& region,
                                                       SnapshotRequester* snapshots) {
  std::unique_ptr<PeerStorage> ps(new PeerStorage(engine, region, snapshots));
  TKV_ASSIGN_OR_RETURN(
      auto rs, ReadMeta<raft_serverpb::RaftLocalState>(engine, keys::RaftStateKey(region.id())));
  TKV_ASSIGN_OR_RETURN(
      auto as, ReadMeta<raft_serverpb::RaftApplyState>(engine, keys::ApplyStateKey(region.id())));
  if (rs) ps->raft_state_ = *rs;
  if (as) ps->apply_state_ = *as;
  if (!ps->IsInitialized()) {
    // An uninitialized replica has no log, but what it voted for was saved
    // and must be kept across restarts (it is not loaded at start, having no
    // region state, and comes back on the next message).
    if (as || (rs && (rs->last_index() != 0 || rs->hard_state().commit() != 0))) {
      return Status::Corruption(
          fmt::format("uninitialized region {} has a log or an apply state (apply state {}, "
                      "last index {}, commit {})",
                      region.id(), as.has_value(), rs ? rs->last_index() : 0,
                      rs ? rs->hard_state().commit() : 0));
    }
    return ps;
  }
  if (!rs || !as)
    return Status::Corruption(fmt::format("region {} lacks its Raft or apply state", region.id()));
  const auto& t = as->truncated_state();
  uint64_t applied = as->applied_index();
  uint64_t last = rs->last_index();
  uint64_t commit = rs->hard_state().commit();
  if (!(t.index() <= applied && applied <= commit && commit <= last)) {
    return Status::Corruption(
        fmt::format("region {}: inconsistent state truncated {} applied {} commit {} last {}",
                    region.id(), t.index(), applied, commit, last));
  }
  return ps;
}

raft::RaftState PeerStorage::InitialState() const {
  raft::RaftState s;
  s.hard_state = raft_state_.hard_state();
  if (IsInitialized()) s.conf_state = ConfStateOf(region_);
  return s;
}

std::vector<eraftpb::Entry> PeerStorage::ReadEntries(uint64_t lo, uint64_t hi,
                                                     uint64_t max_bytes) const {
  std::vector<eraftpb::Entry> out;
  auto snap = engine_.NewSnapshot();
  storage::IterOptions opts;
  opts.lower_bound = keys::RaftLogKey(region_.id(), lo);
  opts.upper_bound = keys::RaftLogKey(region_.id(), hi);
  auto it = snap->NewIterator(Cf::kMeta, opts);
  uint64_t bytes = 0;
  uint64_t expect = lo;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    uint64_t index = keys::RaftLogIndex(it->key());
    TKV_CHECK(index == expect, "region {}: raft log has a hole at {} (found {})", region_.id(),
              expect, index);
    eraftpb::Entry e;
    TKV_CHECK(e.ParseFromArray(it->value().data(), static_cast<int>(it->value().size())),
              "region {}: corrupted raft log entry {}", region_.id(), index);
    bytes += raft::EntrySize(e);
    if (!out.empty() && bytes > max_bytes) break;
    out.push_back(std::move(e));
    ++expect;
  }
  TKV_CHECK(it->status().ok(), "region {}: reading the raft log: {}", region_.id(),
            it->status().ToString());
  TKV_CHECK(out.size() == hi - lo || bytes > max_bytes,
            "region {}: raft log entries [{}, {}) missing", region_.id(), expect, hi);
  return out;
}

Expected<std::vector<eraftpb::Entry>, Error> PeerStorage::Entries(uint64_t lo, uint64_t hi,
                                                                  uint64_t max_bytes) const {
  if (lo < FirstIndex()) return Unexpected{Error::kCompacted};
  if (hi > LastIndex() + 1) return Unexpected{Error::kUnavailable};
  if (lo == hi) return std::vector<eraftpb::Entry>();
  uint64_t cache_first = cache_.empty() ? UINT64_MAX : cache_.front().index();
  std::vector<eraftpb::Entry> out;
  if (lo < cache_first) {
    out = ReadEntries(lo, std::min(hi, cache_first), max_bytes);
    if (out.size() < std::min(hi, cache_first) - lo) return out;  // size limit reached
  }
  if (hi > cache_first) {
    uint64_t bytes = 0;
    for (const auto& e : out) bytes += raft::EntrySize(e);
    for (uint64_t i = std::max(lo, cache_first); i < hi; ++i) {
      const eraftpb::Entry& e = cache_[i - cache_first];
      bytes += raft::EntrySize(e);
      if (!out.empty() && bytes > max_bytes) break;
      out.push_back(e);
    }
  }
  return out;
}

Expected<uint64_t, Error> PeerStorage::Term(uint64_t i) const {
  const auto& t = apply_state_.truncated_state();
  if (i == t.index()) return t.term();
  if (i < t.index()) return Unexpected{Error::kCompacted};
  if (i > LastIndex()) return Unexpected{Error::kUnavailable};
  if (i == LastIndex()) return raft_state_.last_term();
  if (!cache_.empty() && i >= cache_.front().index())
    return cache_[i - cache_.front().index()].term();
  return ReadEntries(i, i + 1, raft::kNoLimit)[0].term();
}

Expected<eraftpb::Snapshot, Error> PeerStorage::Snapshot() {
  // A snapshot older than the truncated index cannot be followed by our log.
  // One taken before the latest membership change is stale too: a peer added
  // since would be refused by it or, re-added after a removal, would replay
  // its own removal from the log that follows it.
  if (generated_ && generated_->metadata().index() >= apply_state_.truncated_state().index() &&
      generated_conf_ver_ >= region_.region_epoch().conf_ver()) {
    return *generated_;
  }
  generated_.reset();
  if (!generating_ && snapshots_ != nullptr) {
    generating_ = true;
    snapshots_->RequestSnapshot(region_.id());
  }
  return Unexpected{Error::kSnapshotTemporarilyUnavailable};
}

void PeerStorage::OnSnapshotGenerated(eraftpb::Snapshot snapshot) {
  generating_ = false;
  raft_serverpb::RaftSnapshotData data;
  generated_conf_ver_ =
      data.ParseFromString(snapshot.data()) ? data.region().region_epoch().conf_ver() : 0;
  generated_ = std::move(snapshot);
}

void PeerStorage::SaveReadyState(const std::vector<eraftpb::Entry>& entries,
                                 const std::optional<eraftpb::HardState>& hs,
                                 storage::WriteBatch& wb) {
  if (!entries.empty()) {
    uint64_t first = entries.front().index();
    uint64_t last = entries.back().index();
    TKV_CHECK(first > apply_state_.truncated_state().index(),
              "region {}: appending {} at or below truncated {}", region_.id(), first,
              apply_state_.truncated_state().index());
    for (const auto& e : entries)
      wb.Put(Cf::kMeta, keys::RaftLogKey(region_.id(), e.index()), e.SerializeAsString());
    // Entries after the new last one belong to a replaced suffix.
    if (raft_state_.last_index() > last) {
      wb.DeleteRange(Cf::kMeta, keys::RaftLogKey(region_.id(), last + 1),
                     keys::RaftLogKey(region_.id(), raft_state_.last_index() + 1));
    }
    // The cache follows the log: drop what was replaced, then append.
    while (!cache_.empty() && cache_.back().index() >= first) {
      cache_bytes_ -= raft::EntrySize(cache_.back());
      cache_.pop_back();
    }
    if (!cache_.empty() && cache_.back().index() + 1 != first) {
      cache_.clear();
      cache_bytes_ = 0;
    }
    for (const auto& e : entries) {
      cache_.push_back(e);
      cache_bytes_ += raft::EntrySize(e);
    }
    while (!cache_.empty() && (cache_.size() > kCacheMaxEntries || cache_bytes_ > kCacheMaxBytes)) {
      cache_bytes_ -= raft::EntrySize(cache_.front());
      cache_.pop_front();
    }
    raft_state_.set_last_index(last);
    raft_state_.set_last_term(entries.back().term());
  }
  if (hs) *raft_state_.mutable_hard_state() = *hs;
  if (!entries.empty() || hs)
    wb.Put(Cf::kMeta, keys::RaftStateKey(region_.id()), raft_state_.SerializeAsString());
}

Status PeerStorage::ApplySnapshot(const eraftpb::Snapshot& snapshot, storage::WriteBatch& wb) {
  raft_serverpb::RaftSnapshotData data;
  if (!data.ParseFromString(snapshot.data()))
    return Status::Corruption("cannot parse snapshot data");
  if (SnapshotChecksum(data) != data.checksum())
    return Status::Corruption("snapshot checksum mismatch");
  const metapb::Region& region = data.region();
  if (region.id() != region_.id()) {
    return Status::Corruption(
        fmt::format("snapshot of region {} applied to {}", region.id(), region_.id()));
  }
  uint64_t index = snapshot.metadata().index();
  uint64_t term = snapshot.metadata().term();
  // Clear the old log and the data of both the old and the new range.
  wb.DeleteRange(Cf::kMeta, keys::RaftLogPrefix(region_.id()),
                 keys::RaftLogPrefixEnd(region_.id()));
  for (const metapb::Region* r : std::initializer_list<const metapb::Region*>{&region_, &region}) {
    if (r->peers_size() > 0) DeleteRegionData(*r, wb);  // an uninitialized peer has no range
  }
  for (const auto& cf_data : data.cfs()) {
    auto cf = storage::CfFromName(cf_data.cf());
    if (!cf || *cf == Cf::kMeta)
      return Status::Corruption("snapshot has unknown column family " + cf_data.cf());
    for (const auto& kv : cf_data.kvs()) wb.Put(*cf, kv.key(), kv.value());
  }
  raft_state_.set_last_index(index);
  raft_state_.set_last_term(term);
  // What a snapshot holds is committed (the Ready's hard state says so too).
  auto* hs = raft_state_.mutable_hard_state();
  hs->set_commit(std::max(hs->commit(), index));
  hs->set_term(std::max(hs->term(), term));
  apply_state_.set_applied_index(index);
  apply_state_.mutable_truncated_state()->set_index(index);
  apply_state_.mutable_truncated_state()->set_term(term);
  region_ = region;
  raft_serverpb::RegionLocalState region_state;
  region_state.set_state(raft_serverpb::Normal);
  *region_state.mutable_region() = region_;
  wb.Put(Cf::kMeta, keys::RaftStateKey(region_.id()), raft_state_.SerializeAsString());
  wb.Put(Cf::kMeta, keys::ApplyStateKey(region_.id()), apply_state_.SerializeAsString());
  wb.Put(Cf::kMeta, keys::RegionStateKey(region_.id()), region_state.SerializeAsString());
  cache_.clear();
  cache_bytes_ = 0;
  generated_.reset();
  return Status::OK();
}

std::optional<std::pair<uint64_t, uint64_t>> PeerStorage::OnCompacted(
    const raft_serverpb::RaftTruncatedState& t) {
  uint64_t old_first = FirstIndex();
  if (t.index() < old_first) return std::nullopt;
  *apply_state_.mutable_truncated_state() = t;
  while (!cache_.empty() && cache_.front().index() <= t.index()) {
    cache_bytes_ -= raft::EntrySize(cache_.front());
    cache_.pop_front();
  }
  return std::make_pair(old_first, t.index());
}

void PeerStorage::Destroy(storage::WriteBatch& wb, bool clear_data, const metapb::Region& tombstone,
                          uint64_t peer_id) {
  wb.DeleteRange(Cf::kMeta, keys::RaftLogPrefix(region_.id()),
                 keys::RaftLogPrefixEnd(region_.id()));
  wb.Delete(Cf::kMeta, keys::RaftStateKey(region_.id()));
  wb.Delete(Cf::kMeta, keys::ApplyStateKey(region_.id()));
  if (clear_data && IsInitialized()) DeleteRegionData(region_, wb);
  raft_serverpb::RegionLocalState tomb;
  tomb.set_state(raft_serverpb::Tombstone);
  *tomb.mutable_region() = tombstone;
  tomb.set_removed_peer_id(peer_id);
  wb.Put(Cf::kMeta, keys::RegionStateKey(region_.id()), tomb.SerializeAsString());
  cache_.clear();
  cache_bytes_ = 0;
}

}  // namespace tinykv::raftstore
