// Peer: one replica of one region on this store, as the raft thread sees it:
// its RawNode and PeerStorage, the proposals and reads waiting on it, and
// what it knows of the other replicas. The Store drives it.
#pragma once

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "raft/raw_node.h"
#include "raftstore/apply.h"
#include "raftstore/config.h"
#include "raftstore/lease.h"
#include "raftstore/peer_storage.h"

namespace tinykv::raftstore {

struct PendingRead {
  std::string ctx;                // the ReadIndex context
  std::optional<uint64_t> index;  // known once Raft answered
  ReadCallback cb;
  uint64_t retry_at_ms = 0;  // asked again under a new context if unanswered by then
  uint64_t version = 0;      // the region version the read was checked against
  // When its heartbeat round was asked for: its answer renews the lease.
  LeaseStamp lease;
};

// A heartbeat round asked for only to renew the lease.
struct LeaseRound {
  std::string ctx;
  LeaseStamp lease;
};

class Peer {
 public:
  // `region` has no peers for an uninitialized peer (created by a message).
  // `restarted`: loaded from the engine when the store started (it then
  // honours a former leader's lease, raft::Config::start_in_lease).
  static Result<std::unique_ptr<Peer>> Create(uint64_t store_id, const RaftstoreConfig& cfg,
                                              storage::Engine& engine, const metapb::Region& region,
                                              const metapb::Peer& self,
                                              SnapshotRequester* snapshots,
                                              std::shared_ptr<spdlog::logger> logger,
                                              bool restarted);

  uint64_t region_id() const { return storage_->region_id(); }
  uint64_t id() const { return self_.id(); }
  const metapb::Peer& self() const { return self_; }
  const metapb::Region& region() const { return storage_->region(); }
  raft::RawNode& raft() { return *raw_; }
  const raft::RawNode& raft() const { return *raw_; }
  PeerStorage& storage() { return *storage_; }
  bool IsLeader() const { return raw_->raft().state() == raft::StateRole::kLeader; }
  bool IsInitialized() const { return storage_->IsInitialized(); }

  // The leader as a metapb.Peer, when known.
  std::optional<metapb::Peer> LeaderPeer() const;
  // What this peer knows of other replicas (from the region and messages).
  void RememberPeer(const metapb::Peer& p) { peer_cache_[p.id()] = p; }
  // A removed member: messages Raft generated for it before the removal was
  // applied are not sent (they would carry the new epoch and could recreate
  // the replica its store has just destroyed).
  void ForgetPeer(uint64_t id) { peer_cache_.erase(id); }
  std::optional<metapb::Peer> FindPeer(uint64_t id) const;
  // The region changed (membership, split, snapshot).
  void SetRegion(const metapb::Region& region);

  // Proposals not yet handed to the apply side, in index order.
  std::deque<Proposal> proposals;
  std::deque<PendingRead> reads;
  // Leader: reads within the lease are served without a heartbeat round.
  LeaderLease lease{0};
  std::optional<LeaseRound> lease_round;
  // Leader: the index of its latest admin proposal (split, membership, log
  // compaction). Until it is applied, this thread's view of the region may
  // be behind the data, and reads wait for a heartbeat round instead.
  uint64_t last_admin_index = 0;
  // The last committed index handed to the apply side, and the applied
  // index it reported back.
  uint64_t handed_index = 0;
  uint64_t applied_index = 0;
  uint64_t applied_term = 0;
  // Bytes written to the region since the last split check.
  uint64_t size_diff = 0;
  // Checks the region at the next split tick even if nothing more is
  // written to it.
  void CheckSplitSoon() { size_diff = std::max<uint64_t>(size_diff, 1); }
  uint64_t approximate_size = 0;
  // A split check or a split request is in flight (until the deadline).
  bool splitting = false;
  uint64_t split_deadline_ms = 0;
  // Log bytes appended since the last compaction was proposed.
  uint64_t log_bytes_since_compact = 0;
  // Committed entries handed to the apply side: (last index, bytes).
  std::deque<std::pair<uint64_t, uint64_t>> apply_backlog;
  // The leader should report to the scheduler (after an epoch change).
  bool heartbeat_due = false;
  // Pending peers in the last report: while there are some, the leader
  // reports again as soon as the set changes (a new peer caught up), so
  // that the scheduler's next operator step need not wait for the tick.
  size_t reported_pending = 0;

 private:
  Peer(metapb::Peer self, std::unique_ptr<PeerStorage> storage);

  metapb::Peer self_;
  std::unique_ptr<PeerStorage> storage_;
  std::unique_ptr<raft::RawNode> raw_;
  std::map<uint64_t, metapb::Peer> peer_cache_;
};

}  // namespace tinykv::raftstore
