#include "client/region_cache.h"

#include <fmt/format.h>

#include "common/bytes.h"

namespace tinykv::client {
namespace {

bool Contains(const metapb::Region& r, const std::string& key) {
  return r.start_key() <= key && (r.end_key().empty() || key < r.end_key());
}

bool Overlap(const metapb::Region& a, const metapb::Region& b) {
  bool a_before_b = !a.end_key().empty() && a.end_key() <= b.start_key();
  bool b_before_a = !b.end_key().empty() && b.end_key() <= a.start_key();
  return !a_before_b && !b_before_a;
}

}  // namespace

void RegionCache::Insert(const RegionRoute& r) {
  // Drop every cached region the new one overlaps (it is newer).
  auto it = by_start_.upper_bound(r.region.start_key());
  if (it != by_start_.begin()) --it;
  while (it != by_start_.end()) {
    if (!r.region.end_key().empty() && it->first >= r.region.end_key()) break;
    if (Overlap(it->second.region, r.region) || it->second.region.id() == r.region.id()) {
      start_of_.erase(it->second.region.id());
      it = by_start_.erase(it);
    } else {
      ++it;
    }
  }
  if (auto old = start_of_.find(r.region.id()); old != start_of_.end()) {
    by_start_.erase(old->second);
  }
  by_start_[r.region.start_key()] = r;
  start_of_[r.region.id()] = r.region.start_key();
}

Result<RegionRoute> RegionCache::Locate(const std::string& key) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = by_start_.upper_bound(key);
    if (it != by_start_.begin()) {
      --it;
      if (Contains(it->second.region, key)) return it->second;
    }
  }
  TKV_ASSIGN_OR_RETURN(auto route, scheduler_.GetRegion(key));
  if (!route) {
    return Status::Unavailable(
        fmt::format("no region holds key {} yet (a split is being reported?)", EscapeBytes(key)));
  }
  std::lock_guard<std::mutex> lock(mu_);
  Insert(*route);
  return *route;
}

Result<RegionRoute> RegionCache::LocateById(uint64_t region_id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = start_of_.find(region_id); it != start_of_.end()) return by_start_[it->second];
  }
  TKV_ASSIGN_OR_RETURN(auto route, scheduler_.GetRegionById(region_id));
  if (!route) return Status::NotFound(fmt::format("region {} not found", region_id));
  std::lock_guard<std::mutex> lock(mu_);
  Insert(*route);
  return *route;
}

Result<std::string> RegionCache::StoreAddress(uint64_t store_id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = store_addr_.find(store_id); it != store_addr_.end()) return it->second;
  }
  TKV_ASSIGN_OR_RETURN(auto resp, scheduler_.GetStore(store_id));
  if (resp.store().address().empty())
    return Status::NotFound(fmt::format("store {} has no address", store_id));
  std::lock_guard<std::mutex> lock(mu_);
  store_addr_[store_id] = resp.store().address();
  return resp.store().address();
}

void RegionCache::UpdateLeader(uint64_t region_id, const metapb::Peer& leader) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = start_of_.find(region_id);
  if (it == start_of_.end()) return;
  RegionRoute& r = by_start_[it->second];
  for (const auto& p : r.region.peers()) {
    if (p.id() == leader.id()) {
      r.leader = p;
      return;
    }
  }
  // A leader we do not know as a member: the cached region is old.
  by_start_.erase(it->second);
  start_of_.erase(it);
}

void RegionCache::ForgetLeader(uint64_t region_id, const metapb::Peer& failed) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = start_of_.find(region_id);
  if (it == start_of_.end()) return;
  RegionRoute& r = by_start_[it->second];
  int n = r.region.peers_size();
  if (n == 0) return;
  int at = 0;
  for (int i = 0; i < n; ++i) {
    if (r.region.peers(i).id() == failed.id()) at = i;
  }
  r.leader = r.region.peers((at + 1) % n);  // a guess: try the next peer
}

void RegionCache::Invalidate(uint64_t region_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = start_of_.find(region_id);
  if (it == start_of_.end()) return;
  by_start_.erase(it->second);
  start_of_.erase(it);
}

void RegionCache::InvalidateStore(uint64_t store_id) {
  std::lock_guard<std::mutex> lock(mu_);
  store_addr_.erase(store_id);
}

bool RegionCache::OnRegionError(const RegionRoute& route, const errorpb::Error& e) {
  uint64_t id = route.region.id();
  if (e.has_not_leader()) {
    if (e.not_leader().has_leader() && e.not_leader().leader().id() != 0) {
      UpdateLeader(id, e.not_leader().leader());
      return true;
    }
    ForgetLeader(id, Target(route));
    return false;
  }
  if (e.has_epoch_not_match()) {
    Invalidate(id);
    if (e.epoch_not_match().current_regions_size() == 0) return false;
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& r : e.epoch_not_match().current_regions()) {
      RegionRoute nr{r, {}};
      // Keep the leader we were talking to if it is still a member.
      for (const auto& p : r.peers()) {
        if (p.store_id() == Target(route).store_id()) nr.leader = p;
      }
      Insert(nr);
    }
    return true;
  }
  if (e.has_stale_command()) return true;
  if (e.has_store_not_match()) {
    InvalidateStore(e.store_not_match().request_store_id());
    Invalidate(id);
    return false;
  }
  if (e.has_server_is_busy()) return false;
  // RegionNotFound, KeyNotInRegion, anything else: ask the scheduler again.
  Invalidate(id);
  return false;
}

metapb::Peer RegionCache::Target(const RegionRoute& route) {
  if (route.leader.id() != 0) return route.leader;
  if (route.region.peers_size() > 0) return route.region.peers(0);
  return metapb::Peer();
}

}  // namespace tinykv::client
