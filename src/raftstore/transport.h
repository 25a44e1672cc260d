// Transport: how a store's Raft messages reach other stores. The production
// implementation (server/) streams them over gRPC, batched per destination
// store; the cluster harness delivers them in-process through its network
// model. Send may buffer; Flush sends what is buffered.
//
// Delivery failures are reported back through Store::ReportUnreachable and
// Store::ReportSnapshot.
#pragma once

#include "raft_serverpb.pb.h"

namespace tinykv::raftstore {

class Transport {
 public:
  virtual ~Transport() = default;
  // Called by the raft thread only.
  virtual void Send(raft_serverpb::RaftMessage msg) = 0;
  virtual void Flush() = 0;
};

}  // namespace tinykv::raftstore
