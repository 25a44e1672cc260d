#include "raft/errors.h"

namespace tinykv::raft {

std::string_view ErrorName(Error e) {
  switch (e) {
    case Error::kOk:
      return "ok";
    case Error::kProposalDropped:
      return "proposal dropped";
    case Error::kStepLocalMessage:
      return "cannot step a local message";
    case Error::kStepPeerNotFound:
      return "peer not found";
    case Error::kCompacted:
      return "requested index is compacted";
    case Error::kUnavailable:
      return "requested index is unavailable";
    case Error::kSnapshotTemporarilyUnavailable:
      return "snapshot temporarily unavailable";
    case Error::kSnapshotOutOfDate:
      return "snapshot out of date";
  }
  return "unknown error";
}

}  // namespace tinykv::raft
