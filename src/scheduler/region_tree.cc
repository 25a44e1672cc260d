#include "scheduler/region_tree.h"

#include <fmt/format.h>

#include "common/check.h"

namespace tinykv::scheduler {

const std::set<uint64_t> RegionTree::kEmpty;

namespace {

// Whether key < end, where "" ends at +infinity.
bool BeforeEnd(const std::string& key, const std::string& end) { return end.empty() || key < end; }

bool Contains(const metapb::Region& r, const std::string& key) {
  return r.start_key() <= key && BeforeEnd(key, r.end_key());
}

}  // namespace

const metapb::Peer* RegionInfo::PeerOnStore(uint64_t store_id) const {
  for (const auto& p : meta.peers()) {
    if (p.store_id() == store_id) return &p;
  }
  return nullptr;
}

bool RegionInfo::IsPending(uint64_t peer_id) const {
  for (const auto& p : pending_peers) {
    if (p.id() == peer_id) return true;
  }
  return false;
}

bool EpochEqual(const metapb::RegionEpoch& a, const metapb::RegionEpoch& b) {
  return a.version() == b.version() && a.conf_ver() == b.conf_ver();
}

std::optional<std::string> RegionTree::CheckStale(const metapb::Region& region) const {
  const auto& e = region.region_epoch();
  if (const RegionInfo* origin = Get(region.id())) {
    const auto& o = origin->meta.region_epoch();
    if (e.version() < o.version() || e.conf_ver() < o.conf_ver()) {
      return fmt::format("region {} epoch {}/{} is older than the known {}/{}", region.id(),
                         e.conf_ver(), e.version(), o.conf_ver(), o.version());
    }
  }
  for (const RegionInfo* r : Overlaps(region.start_key(), region.end_key())) {
    if (r->id() == region.id()) continue;
    const auto& o = r->meta.region_epoch();
    if (e.version() < o.version() || e.conf_ver() < o.conf_ver()) {
      return fmt::format("region {} epoch {}/{} is older than overlapping region {} at {}/{}",
                         region.id(), e.conf_ver(), e.version(), r->id(), o.conf_ver(),
                         o.version());
    }
  }
  return std::nullopt;
}

void RegionTree::Index(const RegionInfo& r, int sign) {
  for (const auto& p : r.meta.peers()) {
    StoreIndex& s = stores_[p.store_id()];
    bool is_leader = r.leader.id() != 0 && p.id() == r.leader.id();
    auto& set = is_leader ? s.leaders : s.followers;
    if (sign > 0) {
      set.insert(r.id());
      if (r.IsPending(p.id())) s.pending.insert(r.id());
      s.region_size += r.approximate_size;
      s.region_score += Score(r);
      if (is_leader) s.leader_size += r.approximate_size;
    } else {
      set.erase(r.id());
      s.pending.erase(r.id());
      s.region_size -= r.approximate_size;
      s.region_score -= Score(r);
      if (is_leader) s.leader_size -= r.approximate_size;
    }
  }
}

std::vector<uint64_t> RegionTree::Put(RegionInfo info) {
  std::vector<uint64_t> removed;
  for (const RegionInfo* r : Overlaps(info.meta.start_key(), info.meta.end_key())) {
    if (r->id() != info.id()) removed.push_back(r->id());
  }
  for (uint64_t id : removed) Remove(id);
  Remove(info.id());
  uint64_t id = info.id();
  auto [it, inserted] = by_id_.emplace(id, std::move(info));
  TKV_CHECK(inserted, "region {} still in the tree", id);
  auto [sit, sinserted] = by_start_.emplace(it->second.meta.start_key(), id);
  TKV_CHECK(sinserted, "two regions start at the same key");
  Index(it->second, +1);
  return removed;
}

void RegionTree::Remove(uint64_t region_id) {
  auto it = by_id_.find(region_id);
  if (it == by_id_.end()) return;
  Index(it->second, -1);
  auto sit = by_start_.find(it->second.meta.start_key());
  if (sit != by_start_.end() && sit->second == region_id) by_start_.erase(sit);
  by_id_.erase(it);
}

const RegionInfo* RegionTree::Get(uint64_t region_id) const {
  auto it = by_id_.find(region_id);
  return it == by_id_.end() ? nullptr : &it->second;
}

const RegionInfo* RegionTree::GetByKey(const std::string& key) const {
  auto it = by_start_.upper_bound(key);
  if (it == by_start_.begin()) return nullptr;
  --it;
  const RegionInfo* r = Get(it->second);
  return (r != nullptr && Contains(r->meta, key)) ? r : nullptr;
}

const RegionInfo* RegionTree::GetPrev(const std::string& key) const {
  auto it = by_start_.upper_bound(key);
  if (it == by_start_.begin()) return nullptr;
  --it;
  const RegionInfo* r = Get(it->second);
  if (!Contains(r->meta, key)) return r;  // key is in a gap just after r
  if (it == by_start_.begin()) return nullptr;
  --it;
  return Get(it->second);
}

std::vector<const RegionInfo*> RegionTree::Overlaps(const std::string& start,
                                                    const std::string& end) const {
  std::vector<const RegionInfo*> out;
  auto it = by_start_.upper_bound(start);
  if (it != by_start_.begin()) {
    auto prev = std::prev(it);
    const RegionInfo* r = Get(prev->second);
    if (BeforeEnd(start, r->meta.end_key())) out.push_back(r);
  }
  for (; it != by_start_.end() && BeforeEnd(it->first, end); ++it) out.push_back(Get(it->second));
  return out;
}

std::vector<const RegionInfo*> RegionTree::Scan(const std::string& start, const std::string& end,
                                                size_t limit) const {
  std::vector<const RegionInfo*> out;
  for (const RegionInfo* r : Overlaps(start, end)) {
    if (limit != 0 && out.size() >= limit) break;
    out.push_back(r);
  }
  return out;
}

const RegionInfo* RegionTree::NextAfter(uint64_t after) const {
  if (by_id_.empty()) return nullptr;
  auto it = by_id_.upper_bound(after);
  if (it == by_id_.end()) it = by_id_.begin();
  return &it->second;
}

StoreRegionStats RegionTree::StoreStats(uint64_t store_id) const {
  StoreRegionStats st;
  auto it = stores_.find(store_id);
  if (it == stores_.end()) return st;
  const StoreIndex& s = it->second;
  st.leader_count = static_cast<uint32_t>(s.leaders.size());
  st.region_count = static_cast<uint32_t>(s.leaders.size() + s.followers.size());
  st.pending_count = static_cast<uint32_t>(s.pending.size());
  st.region_size = s.region_size;
  st.leader_size = s.leader_size;
  st.region_score = s.region_score;
  return st;
}

const std::set<uint64_t>& RegionTree::LeadersOn(uint64_t store_id) const {
  auto it = stores_.find(store_id);
  return it == stores_.end() ? kEmpty : it->second.leaders;
}

const std::set<uint64_t>& RegionTree::FollowersOn(uint64_t store_id) const {
  auto it = stores_.find(store_id);
  return it == stores_.end() ? kEmpty : it->second.followers;
}

const std::set<uint64_t>& RegionTree::PendingOn(uint64_t store_id) const {
  auto it = stores_.find(store_id);
  return it == stores_.end() ? kEmpty : it->second.pending;
}

const RegionInfo* RegionTree::RandomOf(const std::set<uint64_t>& ids, Rng& rng) const {
  if (ids.empty()) return nullptr;
  auto it = ids.begin();
  std::advance(it, static_cast<long>(rng.Uniform(ids.size())));
  return Get(*it);
}

}  // namespace tinykv::scheduler
