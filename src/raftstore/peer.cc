#include "raftstore/peer.h"

#include <fmt/format.h>

namespace tinykv::raftstore {

Peer::Peer(metapb::Peer self, std::unique_ptr<PeerStorage> storage)
    : self_(std::move(self)), storage_(std::move(storage)) {}

Result<std::unique_ptr<Peer>> Peer::Create(uint64_t store_id, const RaftstoreConfig& cfg,
                                           storage::Engine& engine, const metapb::Region& region,
                                           const metapb::Peer& self, SnapshotRequester* snapshots,
                                           std::shared_ptr<spdlog::logger> logger, bool restarted) {
  TKV_ASSIGN_OR_RETURN(auto ps, PeerStorage::Open(engine, region, snapshots));
  std::unique_ptr<Peer> peer(new Peer(self, std::move(ps)));
  raft::Config rc;
  rc.id = self.id();
  rc.election_tick = cfg.raft_election_ticks;
  rc.heartbeat_tick = cfg.raft_heartbeat_ticks;
  rc.applied = peer->storage_->apply_state().applied_index();
  rc.pre_vote = cfg.pre_vote;
  rc.check_quorum = cfg.check_quorum;
  // Lease reads are the store's (raftstore/lease.h); Raft's own read index
  // is always the safe one, which the lease's renewal rounds use.
  rc.read_only_option = raft::ReadOnlyOption::kSafe;
  rc.start_in_lease = restarted && cfg.lease_read && cfg.check_quorum;
  rc.broadcast_commit = cfg.raft_broadcast_commit;
  rc.max_inflight_msgs = cfg.raft_max_inflight_msgs;
  rc.max_size_per_msg = cfg.raft_max_size_per_msg;
  rc.max_uncommitted_size = cfg.raft_max_uncommitted_size;
  rc.random_seed = (store_id << 32) ^ region.id() ^ (self.id() << 16);
  rc.tag = fmt::format("[region {} peer {}]", region.id(), self.id());
  rc.logger = std::move(logger);
  TKV_ASSIGN_OR_RETURN(peer->raw_, raft::RawNode::Create(rc, peer->storage_.get()));
  peer->lease = LeaderLease(cfg.MaxLeaderLeaseMs());
  peer->applied_index = rc.applied;
  peer->handed_index = rc.applied;
  auto term = peer->storage_->Term(rc.applied);
  peer->applied_term = term.has_value() ? *term : 0;
  for (const auto& p : region.peers()) peer->RememberPeer(p);
  return peer;
}

std::optional<metapb::Peer> Peer::LeaderPeer() const {
  uint64_t lead = raw_->raft().lead();
  if (lead == raft::kNone) return std::nullopt;
  return FindPeer(lead);
}

std::optional<metapb::Peer> Peer::FindPeer(uint64_t id) const {
  auto it = peer_cache_.find(id);
  if (it == peer_cache_.end()) return std::nullopt;
  return it->second;
}

void Peer::SetRegion(const metapb::Region& region) {
  storage_->SetRegion(region);
  for (const auto& p : region.peers()) RememberPeer(p);
}

}  // namespace tinykv::raftstore
