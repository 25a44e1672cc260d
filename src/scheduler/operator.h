// Operators: what the scheduler asks a region to do, as a list of steps
// carried out one at a time by the region's leader.
//
// A step is sent in the response to the region's heartbeats (and at once
// when the operator is created) until a heartbeat shows it done; then the
// next step is sent. Steps are idempotent to repeat: a store ignores an
// add for a peer it has, a remove for a peer that is gone, a transfer to
// the current leader. At most one operator runs per region; one that is not
// finished within its timeout is dropped.
//
// Thread safety: none.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "metapb.pb.h"
#include "scheduler/region_tree.h"
#include "schedulerpb.pb.h"

namespace tinykv::scheduler {

struct AddPeerStep {
  metapb::Peer peer;  // the new peer (a fresh id on its store)
};
struct RemovePeerStep {
  uint64_t store_id = 0;
};
struct TransferLeaderStep {
  uint64_t from_store = 0, to_store = 0;
};
struct SplitStep {
  std::vector<std::string> keys;    // at most one; none: the store picks about the middle
  uint64_t version_at_start = 0;    // done when the version grew past this
};
using OpStep = std::variant<AddPeerStep, RemovePeerStep, TransferLeaderStep, SplitStep>;

// Whether the region, as reported, shows the step carried out.
bool StepDone(const OpStep& step, const RegionInfo& region);
std::string DescribeStep(const OpStep& step);

// What made an operator (for limits and for people).
enum class OpKind { kLeader, kRegion, kReplica, kAdmin };
std::string_view OpKindName(OpKind kind);

struct Operator {
  uint64_t region_id = 0;
  std::string desc;  // "balance-leader", "make-up-replica", ...
  OpKind kind = OpKind::kAdmin;
  metapb::RegionEpoch epoch;  // of the region when it was made
  std::vector<OpStep> steps;
  size_t current = 0;  // the step in progress
  uint64_t created_ms = 0;
  uint64_t timeout_ms = 0;

  bool Finished() const { return current >= steps.size(); }
  // Skips the steps the region shows done. Returns whether all are.
  bool Advance(const RegionInfo& region);
  // The command for the current step. REQUIRES: !Finished().
  schedulerpb::RegionHeartbeatResponse Command(const RegionInfo& region) const;
  std::string Describe() const;
};

// The end of an operator, kept for GetOperator.
struct OperatorRecord {
  std::string desc;
  OpKind kind = OpKind::kAdmin;
  schedulerpb::OperatorStatus status = schedulerpb::RUNNING;
};

}  // namespace tinykv::scheduler
