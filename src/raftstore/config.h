// Configuration of the replicated store. Every interval, limit and threshold
// the store uses is here (docs/operations.md lists the TOML keys).
#pragma once

#include <cstddef>
#include <cstdint>

namespace tinykv::raftstore {

struct RaftstoreConfig {
  // The lease length in effect (see raft_max_leader_lease_ms).
  uint64_t MaxLeaderLeaseMs() const {
    if (raft_max_leader_lease_ms != 0) return raft_max_leader_lease_ms;
    return raft_election_ticks > 2 ? (raft_election_ticks - 2) * raft_base_tick_ms : 0;
  }
  // Whether the lease settings are consistent with the election timeout.
  bool LeaseIsSafe() const {
    return !lease_read ||
           (check_quorum && raft_election_ticks > 1 &&
            MaxLeaderLeaseMs() < static_cast<uint64_t>(raft_election_ticks - 1) * raft_base_tick_ms);
  }

  // One Raft tick. Election and heartbeat timeouts are counted in ticks.
  uint64_t raft_base_tick_ms = 100;
  int raft_election_ticks = 10;
  int raft_heartbeat_ticks = 2;
  bool pre_vote = true;
  bool check_quorum = true;
  // Reads served by the leader lease instead of a heartbeat round each
  // (raftstore/lease.h, docs/raft.md). Needs check_quorum, and clocks whose
  // rates do not drift apart by more than the margin between the lease and
  // the election timeout.
  bool lease_read = true;
  // How long a quorum's acknowledgement lets the leader serve reads; must be
  // shorter than (raft_election_ticks - 1) * raft_base_tick_ms. 0: two ticks
  // less than the election timeout (800 ms with the defaults).
  uint64_t raft_max_leader_lease_ms = 0;

  // Whether a leader tells followers of every commit at once (an extra
  // append and acknowledgement per write when lightly loaded) or lets the
  // commit index travel with the next append or heartbeat (raft
  // Config::broadcast_commit). Either way the leader commits, applies and
  // answers as soon as a quorum has the entry; the commit of an admin
  // command (split, membership change, log compaction) is always sent at
  // once, so that followers carry it out together.
  bool raft_broadcast_commit = false;

  // Flow control of replication.
  size_t raft_max_inflight_msgs = 256;
  uint64_t raft_max_size_per_msg = 1u << 20;
  // A proposal larger than this gets RaftEntryTooLarge.
  uint64_t raft_entry_max_size = 8u << 20;
  // A leader refuses proposals while this many bytes are uncommitted.
  uint64_t raft_max_uncommitted_size = 128u << 20;

  // Log GC: the leader compacts the log when this many applied entries, or
  // this many bytes, are in it; checked every gc tick.
  uint64_t raft_log_gc_tick_ms = 10'000;
  uint64_t raft_log_gc_count_limit = 10'000;
  uint64_t raft_log_gc_size_limit = 64u << 20;

  // Splits: checked every split-check tick (and after this many bytes were
  // written to a region); a region over region_max_size is split so that
  // the left part holds about region_split_size.
  uint64_t split_check_tick_ms = 10'000;
  uint64_t region_max_size = 144u << 20;
  uint64_t region_split_size = 96u << 20;

  // Backpressure: proposals waiting for apply per region, and bytes queued
  // for the apply side, above which requests get ServerIsBusy.
  size_t max_pending_proposals = 4096;
  uint64_t max_apply_backlog_bytes = 256u << 20;

  // Threads that apply committed entries: 0 (the default) applies them on
  // the raft poller's thread, after each poll round, which saves a thread
  // hand-off per write (about 10% more writes at 64 clients on a 2-core
  // machine); 1 gives the applier a thread of its own, so that applying
  // large batches never delays the poller's ticks and messages.
  size_t apply_pool_size = 0;
  // Threads that run the raft poll rounds: 0 (the default) runs them on the
  // store's gRPC thread (grpc-kv-0) between network events, so a message
  // read off a socket is handled with no thread hand-off (about 10% more
  // writes at one client, 20% at 64 on a 2-core machine); 1 gives the poller
  // a thread of its own (`raft-poller`), so that a slow disk's fsync in a
  // poll round never holds up reading the network.
  size_t store_pool_size = 0;

  // Snapshots being built at once (more requests wait).
  size_t snap_generate_concurrency = 2;

  // Leaders report to the scheduler at least this often.
  uint64_t region_heartbeat_tick_ms = 10'000;
};

}  // namespace tinykv::raftstore
