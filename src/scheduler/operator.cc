#include "scheduler/operator.h"

#include <fmt/format.h>

#include "common/bytes.h"
#include "common/check.h"

namespace tinykv::scheduler {

bool StepDone(const OpStep& step, const RegionInfo& region) {
  return std::visit(
      [&](const auto& s) -> bool {
        using T = std::decay_t<decltype(s)>;
        if constexpr (std::is_same_v<T, AddPeerStep>) {
          // Done once the new peer is a member and has caught up.
          const metapb::Peer* p = region.PeerOnStore(s.peer.store_id());
          return p != nullptr && p->id() == s.peer.id() && !region.IsPending(p->id());
        } else if constexpr (std::is_same_v<T, RemovePeerStep>) {
          return region.PeerOnStore(s.store_id) == nullptr;
        } else if constexpr (std::is_same_v<T, TransferLeaderStep>) {
          return region.leader.store_id() == s.to_store;
        } else {
          // Split where asked (the report comes from the left half, which
          // keeps the region's id), or anywhere when no key was given.
          return region.meta.region_epoch().version() > s.version_at_start &&
                 (s.keys.empty() || region.meta.end_key() == s.keys.front());
        }
      },
      step);
}

std::string DescribeStep(const OpStep& step) {
  return std::visit(
      [](const auto& s) -> std::string {
        using T = std::decay_t<decltype(s)>;
        if constexpr (std::is_same_v<T, AddPeerStep>) {
          return fmt::format("add peer {} on store {}", s.peer.id(), s.peer.store_id());
        } else if constexpr (std::is_same_v<T, RemovePeerStep>) {
          return fmt::format("remove peer on store {}", s.store_id);
        } else if constexpr (std::is_same_v<T, TransferLeaderStep>) {
          return fmt::format("transfer leader from store {} to store {}", s.from_store,
                             s.to_store);
        } else {
          if (s.keys.empty()) return "split at about the middle";
          std::string keys;
          for (const auto& k : s.keys) keys += (keys.empty() ? "" : ", ") + EscapeBytes(k);
          return fmt::format("split at {}", keys);
        }
      },
      step);
}

std::string_view OpKindName(OpKind kind) {
  switch (kind) {
    case OpKind::kLeader:
      return "leader";
    case OpKind::kRegion:
      return "region";
    case OpKind::kReplica:
      return "replica";
    case OpKind::kAdmin:
      return "admin";
  }
  return "?";
}

bool Operator::Advance(const RegionInfo& region) {
  while (!Finished() && StepDone(steps[current], region)) ++current;
  return Finished();
}

schedulerpb::RegionHeartbeatResponse Operator::Command(const RegionInfo& region) const {
  TKV_CHECK(!Finished(), "command of a finished operator");
  schedulerpb::RegionHeartbeatResponse resp;
  resp.set_region_id(region.id());
  *resp.mutable_region_epoch() = region.meta.region_epoch();
  *resp.mutable_target_peer() = region.leader;
  std::visit(
      [&](const auto& s) {
        using T = std::decay_t<decltype(s)>;
        if constexpr (std::is_same_v<T, AddPeerStep>) {
          auto* cp = resp.mutable_change_peer();
          cp->set_change_type(eraftpb::AddNode);
          *cp->mutable_peer() = s.peer;
        } else if constexpr (std::is_same_v<T, RemovePeerStep>) {
          auto* cp = resp.mutable_change_peer();
          cp->set_change_type(eraftpb::RemoveNode);
          if (const metapb::Peer* p = region.PeerOnStore(s.store_id)) *cp->mutable_peer() = *p;
        } else if constexpr (std::is_same_v<T, TransferLeaderStep>) {
          if (const metapb::Peer* p = region.PeerOnStore(s.to_store))
            *resp.mutable_transfer_leader()->mutable_peer() = *p;
        } else {
          auto* split = resp.mutable_split_region();
          for (const auto& k : s.keys) split->add_keys(k);
        }
      },
      steps[current]);
  return resp;
}

std::string Operator::Describe() const {
  std::string out = fmt::format("{} ({}) region {}:", desc, OpKindName(kind), region_id);
  for (size_t i = 0; i < steps.size(); ++i) {
    out += fmt::format(" {}{}{}", i == current ? "[" : "", DescribeStep(steps[i]),
                       i == current ? "]" : "");
    if (i + 1 < steps.size()) out += ",";
  }
  return out;
}

}  // namespace tinykv::scheduler
