#include "raftstore/msg.h"

#include <fmt/format.h>

namespace tinykv::raftstore {

errorpb::Error NotLeaderError(uint64_t region_id, const std::optional<metapb::Peer>& leader) {
  errorpb::Error e;
  e.set_message(fmt::format("peer is not leader for region {}", region_id));
  e.mutable_not_leader()->set_region_id(region_id);
  if (leader) *e.mutable_not_leader()->mutable_leader() = *leader;
  return e;
}

errorpb::Error RegionNotFoundError(uint64_t region_id) {
  errorpb::Error e;
  e.set_message(fmt::format("region {} is not found", region_id));
  e.mutable_region_not_found()->set_region_id(region_id);
  return e;
}

errorpb::Error KeyNotInRegionError(const std::string& key, const metapb::Region& region) {
  errorpb::Error e;
  e.set_message(fmt::format("key is not in region {}", region.id()));
  auto* k = e.mutable_key_not_in_region();
  k->set_key(key);
  k->set_region_id(region.id());
  k->set_start_key(region.start_key());
  k->set_end_key(region.end_key());
  return e;
}

errorpb::Error EpochNotMatchError(const std::string& why, std::vector<metapb::Region> current) {
  errorpb::Error e;
  e.set_message("epoch not match: " + why);
  for (auto& r : current) *e.mutable_epoch_not_match()->add_current_regions() = std::move(r);
  return e;
}

errorpb::Error StaleCommandError() {
  errorpb::Error e;
  e.set_message("stale command");
  e.mutable_stale_command();
  return e;
}

errorpb::Error StoreNotMatchError(uint64_t requested, uint64_t actual) {
  errorpb::Error e;
  e.set_message(fmt::format("store not match: requested {}, this is {}", requested, actual));
  e.mutable_store_not_match()->set_request_store_id(requested);
  e.mutable_store_not_match()->set_actual_store_id(actual);
  return e;
}

errorpb::Error ServerIsBusyError(const std::string& reason, uint64_t backoff_ms) {
  errorpb::Error e;
  e.set_message("server is busy: " + reason);
  e.mutable_server_is_busy()->set_reason(reason);
  e.mutable_server_is_busy()->set_backoff_ms(backoff_ms);
  return e;
}

errorpb::Error RaftEntryTooLargeError(uint64_t region_id, uint64_t size) {
  errorpb::Error e;
  e.set_message(fmt::format("raft entry of {} bytes is too large", size));
  e.mutable_raft_entry_too_large()->set_region_id(region_id);
  e.mutable_raft_entry_too_large()->set_entry_size(size);
  return e;
}

Status UndeterminedStatus(const std::string& why) {
  return Status::DeadlineExceeded("undetermined: " + why +
                                  "; the write may or may not have been applied");
}

bool KeyInRegion(const std::string& key, const metapb::Region& region) {
  return key >= region.start_key() && (region.end_key().empty() || key < region.end_key());
}

std::optional<errorpb::Error> CheckEpoch(const raft_cmdpb::RaftCmdRequest& req,
                                         const metapb::Region& region) {
  bool check_version = true, check_conf_ver = false;
  if (req.has_admin_request()) {
    switch (req.admin_request().cmd_type()) {
      case raft_cmdpb::ChangePeer:
        check_version = false;
        check_conf_ver = true;
        break;
      case raft_cmdpb::Split:
      case raft_cmdpb::TransferLeader:
        check_conf_ver = true;
        break;
      case raft_cmdpb::CompactLog:
        check_version = false;
        break;
      default:
        break;
    }
  }
  const auto& want = req.header().region_epoch();
  const auto& have = region.region_epoch();
  if ((check_version && want.version() != have.version()) ||
      (check_conf_ver && want.conf_ver() != have.conf_ver())) {
    return EpochNotMatchError(
        fmt::format("request epoch {{conf_ver {}, version {}}}, region {} is at {{conf_ver {}, "
                    "version {}}}",
                    want.conf_ver(), want.version(), region.id(), have.conf_ver(), have.version()),
        {region});
  }
  return std::nullopt;
}

Status CheckChangePeer(const raft_cmdpb::ChangePeerRequest& change, const metapb::Region& region) {
  if (change.change_type() != eraftpb::AddNode && change.change_type() != eraftpb::AddLearnerNode)
    return Status::OK();
  const metapb::Peer& target = change.peer();
  for (const auto& p : region.peers()) {
    if (p.store_id() == target.store_id() && p.id() != target.id()) {
      return Status::InvalidArgument(
          fmt::format("region {} already has peer {} on store {}; cannot add peer {}", region.id(),
                      p.id(), p.store_id(), target.id()));
    }
  }
  return Status::OK();
}

}  // namespace tinykv::raftstore
