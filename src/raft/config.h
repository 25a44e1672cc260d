// Configuration of one Raft node (one replica of one group).
#pragma once

#include <spdlog/logger.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "raft/read_only.h"

namespace tinykv::raft {

struct Config {
  // This node's id. Must not be 0.
  uint64_t id = 0;
  // Initial membership of a brand-new group. Leave empty when the storage
  // already holds a configuration (a restart, or a node created by a
  // snapshot); giving both is an error.
  std::vector<uint64_t> voters;
  std::vector<uint64_t> learners;

  // A follower that hears nothing from a leader for a randomized
  // [election_tick, 2 * election_tick) ticks starts an election.
  int election_tick = 10;
  // A leader sends heartbeats every heartbeat_tick ticks. Must be less than
  // election_tick (typically a tenth of it).
  int heartbeat_tick = 1;

  // The last index the state machine applied before a restart: committed
  // entries after it are handed out again.
  uint64_t applied = 0;

  // Run a pre-election before raising the term, so that a node that was cut
  // off does not disrupt a healthy leader when it comes back (thesis §9.6).
  bool pre_vote = false;
  // A leader steps down when it has not heard from a quorum for an election
  // timeout; a follower that heard from a leader within the election timeout
  // ignores vote requests (leader stickiness).
  bool check_quorum = false;
  // With check_quorum: a restarted node behaves, for its first election
  // timeout, as if it had just heard from a leader and ignores vote requests
  // for a later term. A leader's time-based lease (raftstore lease reads)
  // counts on every member that acknowledged it refusing votes for an
  // election timeout; a member that restarts within that time has forgotten
  // whom it heard from, and without this would vote at once.
  bool start_in_lease = false;
  // When the commit index advances, the leader sends it to every follower
  // at once (an append, empty if there is nothing new). Off: it travels
  // with the next append or heartbeat instead, which halves the messages of
  // a lightly loaded group (each write's append and acknowledgement, not
  // also a commit-only append and its acknowledgement); followers then
  // learn of commits up to a heartbeat interval later. The leader's own
  // commit, and so its answers to clients, is not delayed.
  bool broadcast_commit = true;

  // Flow control: appends in flight per follower in the replicate state.
  size_t max_inflight_msgs = 256;
  // Flow control: payload bytes per append message (at least one entry).
  uint64_t max_size_per_msg = 1u << 20;
  // A leader drops proposals while uncommitted payload exceeds this (0: no
  // limit). One proposal is always accepted when nothing is uncommitted.
  uint64_t max_uncommitted_size = 0;
  // Committed entries handed out per Ready, in payload bytes (0: no limit).
  uint64_t max_committed_size_per_ready = 0;

  ReadOnlyOption read_only_option = ReadOnlyOption::kSafe;

  // Seeds the randomized election timeout. Give each node its own seed.
  uint64_t random_seed = 0;

  // Prefix for this node's log lines, e.g. "[region 7 peer 21]".
  std::string tag;
  // Where this node logs; null: the process's default spdlog logger. The
  // core logs elections and leadership changes at info, the rest at debug.
  std::shared_ptr<spdlog::logger> logger;

  Status Validate() const;
};

}  // namespace tinykv::raft
