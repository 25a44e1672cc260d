// The Raft library's errors: a closed set, so callers can switch on them.
#pragma once

#include <string_view>

namespace tinykv::raft {

enum class [[nodiscard]] Error : unsigned char{
    kOk = 0,
    // A proposal was not appended: this node is not the leader, a leader
    // transfer is in progress, the uncommitted-size limit is reached, a
    // membership change is still pending, or the leader was removed.
    kProposalDropped,
    // Step() was given a message type that only the library itself may create.
    kStepLocalMessage,
    // Step() was given a response from a node that is not in the configuration.
    kStepPeerNotFound,
    // Storage: the requested index is below the first index (compacted away).
    kCompacted,
    // Storage: the requested index is above the last index.
    kUnavailable,
    // Storage: the snapshot is being built; Raft asks again later.
    kSnapshotTemporarilyUnavailable,
    // Storage: a snapshot older than the one held was offered.
    kSnapshotOutOfDate,
};

std::string_view ErrorName(Error e);

}  // namespace tinykv::raft
