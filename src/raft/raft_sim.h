// A seeded, deterministic simulation of one Raft group, for tests.
//
// Nodes are RawNodes driven through the public API by a driver loop like a
// store's: send `messages`, persist to a MemoryStorage, send
// `persisted_messages`, apply, advance. The network drops, duplicates,
// delays and reorders messages and can be partitioned; nodes crash (losing
// everything not yet persisted, sometimes in the middle of handling a Ready)
// and restart; logs are compacted and lagging nodes catch up by snapshot;
// the leader changes membership (voters, learners, promotion, removal) and
// transfers leadership.
//
// After every step a checker verifies the safety properties of Raft §5:
// Election Safety, Leader Append-Only, Log Matching, Leader Completeness and
// State Machine Safety. The same seed always gives the same run.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <vector>

#include "common/rng.h"
#include "raft/raw_node.h"

namespace tinykv::raft::sim {

struct SimOptions {
  uint64_t seed = 1;
  int nodes = 3;  // initial voters
  int steps = 1500;
  // Fault and workload mix, chosen from the seed unless set by the test.
  bool randomize = true;
  bool pre_vote = false;
  bool check_quorum = false;
  double drop = 0.05;
  double duplicate = 0.02;
  int max_delay = 3;              // ticks
  double crash = 0.005;           // per step
  double crash_mid_ready = 0.01;  // per Ready handled
  double restart = 0.05;
  double partition = 0.01;
  double heal = 0.03;
  double propose = 0.2;
  double conf_change = 0.01;
  double transfer = 0.005;
  double compact = 0.02;
  // Fault injection for checker tests: send persisted_messages before
  // persisting (breaks the contract; a crash then loses votes and acks).
  bool bug_ack_before_persist = false;
  // Fault injection for checker tests: persist the hard state without the
  // vote, so that a restarted node may vote twice in one term.
  bool bug_forget_vote = false;
  bool verbose = false;
};

// What a run saw, to show that the properties were exercised.
struct SimStats {
  int elections = 0;  // distinct (term, leader) pairs
  int crashes = 0;
  int snapshots_installed = 0;
  int conf_changes_applied = 0;
  int transfers = 0;
  uint64_t max_commit = 0;  // highest index known committed
  uint64_t max_term = 0;
  int log_repairs = 0;  // followers that dropped a conflicting suffix
};

struct Violation {
  std::string property;  // "Election Safety", ...
  std::string detail;
};

// Runs one simulation. Returns the first violation, if any.
std::optional<Violation> Simulate(const SimOptions& options, SimStats* stats = nullptr);

// Fills the fault mix from options.seed (when options.randomize).
SimOptions Randomized(SimOptions options);

}  // namespace tinykv::raft::sim
