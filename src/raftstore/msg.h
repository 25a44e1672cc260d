// What flows into the store: requests with their callbacks, and the results
// of its own asynchronous work. And the region errors answers carry.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <variant>
#include <vector>

#include "common/status.h"
#include "errorpb.pb.h"
#include "metapb.pb.h"
#include "raft_cmdpb.pb.h"
#include "raft_serverpb.pb.h"
#include "storage/engine.h"

namespace tinykv::raftstore {

// The outcome of a write (a command proposed to a region).
//   region_error set: the command did not and will not take effect; retry
//                     after refreshing the route.
//   status not OK:    kDeadlineExceeded/kUnavailable with "undetermined" in
//                     the message means the outcome is unknown; other codes
//                     mean it was not applied.
//   otherwise:        applied (admin: the resulting regions).
struct WriteResponse {
  std::optional<errorpb::Error> region_error;
  Status status;
  raft_cmdpb::AdminResponse admin;
};
using WriteCallback = std::function<void(WriteResponse)>;

// The outcome of a read: a snapshot of the engine that reflects every write
// acknowledged before the read began (linearizable), and the region it was
// served for (the caller checks that its keys are in it).
struct ReadResponse {
  std::optional<errorpb::Error> region_error;
  Status status;
  std::shared_ptr<storage::Snapshot> snapshot;
  metapb::Region region;
  // The leader's term when the read was served. A write decided from this
  // snapshot carries it (RaftRequestHeader.term), so it is refused if
  // leadership changed in between (another leader may have written since).
  uint64_t term = 0;
};
using ReadCallback = std::function<void(ReadResponse)>;

// ---- Region errors ----
errorpb::Error NotLeaderError(uint64_t region_id, const std::optional<metapb::Peer>& leader);
errorpb::Error RegionNotFoundError(uint64_t region_id);
errorpb::Error KeyNotInRegionError(const std::string& key, const metapb::Region& region);
errorpb::Error EpochNotMatchError(const std::string& why, std::vector<metapb::Region> current);
errorpb::Error StaleCommandError();
errorpb::Error StoreNotMatchError(uint64_t requested, uint64_t actual);
errorpb::Error ServerIsBusyError(const std::string& reason, uint64_t backoff_ms);
errorpb::Error RaftEntryTooLargeError(uint64_t region_id, uint64_t size);

// The "outcome unknown" status (not a region error: the command may still apply).
Status UndeterminedStatus(const std::string& why);

// Whether key is in [start, end) of the region (an empty end is +infinity).
bool KeyInRegion(const std::string& key, const metapb::Region& region);

// Epoch checks for a command against the region (the Raft thesis' rule as
// TiKV applies it): normal requests need the same version; ChangePeer the
// same conf_ver; Split and TransferLeader both. nullopt when it matches.
std::optional<errorpb::Error> CheckEpoch(const raft_cmdpb::RaftCmdRequest& req,
                                         const metapb::Region& region);

// Whether a membership change makes sense for the region: a store holds at
// most one replica of a region, so adding a peer to a store that has another
// one is refused. OK when it is valid.
Status CheckChangePeer(const raft_cmdpb::ChangePeerRequest& change, const metapb::Region& region);

}  // namespace tinykv::raftstore
