// Helpers shared by the scheduler's unit tests: building regions, peers and
// heartbeats in one line.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "scheduler/cluster.h"

namespace tinykv::scheduler::testutil {

inline metapb::Peer Peer(uint64_t id, uint64_t store) {
  metapb::Peer p;
  p.set_id(id);
  p.set_store_id(store);
  return p;
}

// peers: (peer id, store id) pairs.
inline metapb::Region Region(uint64_t id, std::string start, std::string end, uint64_t conf_ver,
                             uint64_t version,
                             const std::vector<std::pair<uint64_t, uint64_t>>& peers) {
  metapb::Region r;
  r.set_id(id);
  r.set_start_key(std::move(start));
  r.set_end_key(std::move(end));
  r.mutable_region_epoch()->set_conf_ver(conf_ver);
  r.mutable_region_epoch()->set_version(version);
  for (auto [pid, sid] : peers) *r.add_peers() = Peer(pid, sid);
  return r;
}

// A heartbeat from the region's peer number `leader_index` (0-based).
inline RegionHeartbeatInfo Heartbeat(const metapb::Region& r, int leader_index = 0,
                                     uint64_t size = 0,
                                     std::vector<metapb::Peer> pending = {}) {
  RegionHeartbeatInfo hb;
  hb.region = r;
  hb.leader = r.peers(leader_index);
  hb.approximate_size = size;
  hb.pending_peers = std::move(pending);
  return hb;
}

inline RegionInfo Info(const metapb::Region& r, int leader_index = 0, uint64_t size = 0,
                       std::vector<metapb::Peer> pending = {}, uint64_t heard_ms = 1) {
  RegionInfo info;
  info.meta = r;
  info.leader = r.peers(leader_index);
  info.approximate_size = size;
  info.pending_peers = std::move(pending);
  info.last_heartbeat_ms = heard_ms;
  return info;
}

}  // namespace tinykv::scheduler::testutil
