// GrpcTransport: how a store's Raft messages reach the other stores, over
// tinykvpb.TinyKv's client-streaming Raft and Snapshot RPCs.
//
// Send (raft thread) buffers per destination store; Flush (once per poll
// round) hands each store's batch to that store's connection, which writes
// it on one long-lived Raft stream with gRPC's async API: the first write
// from the raft thread itself when the stream is idle, the rest as writes
// complete, on the thread that drains the transport's completion queue (a
// store's KvService thread; gRPC coalesces a batch into few socket writes).
// Messages wait for SetQueue. A broken stream is re-opened with exponential
// backoff (when the next message comes); messages
// that could not be sent, and messages over a connection's queue limit
// (a slow or dead store must not make memory grow), are dropped and
// reported to Raft as unreachable (the leader probes again later).
//
// Snapshot messages go on a separate thread per connection over the
// Snapshot stream: the message first (without its data), then the data in
// chunks; the receiver reassembles them, and the store verifies the
// snapshot's checksum before using it. The outcome is reported to Raft.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/result.h"
#include "raft_serverpb.pb.h"
#include "raftstore/transport.h"

namespace grpc {
class CompletionQueue;
}

namespace tinykv::raftstore {
class Store;
}

namespace tinykv::server {

// Where a store listens.
class StoreResolver {
 public:
  virtual ~StoreResolver() = default;
  virtual Result<std::string> Address(uint64_t store_id) = 0;
};

// A fixed map, from --initial-cluster.
class StaticResolver final : public StoreResolver {
 public:
  explicit StaticResolver(std::map<uint64_t, std::string> addrs) : addrs_(std::move(addrs)) {}
  Result<std::string> Address(uint64_t store_id) override;

 private:
  std::map<uint64_t, std::string> addrs_;
};

struct TransportConfig {
  size_t max_queued_messages = 8192;  // per destination store
  size_t max_queued_snapshots = 4;    // per destination store
  uint64_t reconnect_min_backoff_ms = 100;
  uint64_t reconnect_max_backoff_ms = 5000;
  size_t snapshot_chunk_size = 1u << 20;
  uint64_t snapshot_max_bytes_per_sec = 0;  // per snapshot being sent; 0: unlimited
  size_t max_message_size = 16u << 20;
};

class GrpcTransport final : public raftstore::Transport {
 public:
  GrpcTransport(uint64_t store_id, std::shared_ptr<StoreResolver> resolver, TransportConfig config);
  ~GrpcTransport() override;

  // Where delivery failures are reported. Set before the store runs.
  void SetStore(raftstore::Store* store) { store_ = store; }

  void Send(raft_serverpb::RaftMessage msg) override;
  void Flush() override;

  // Where the Raft streams' operations complete (every tag a
  // client::QueueTag, run by the queue's thread). Stop before it ends.
  void SetQueue(grpc::CompletionQueue* cq);

  // Stops every connection, waiting for their streams to end; later
  // messages are dropped. Idempotent.
  void Stop();

 private:
  class Connection;
  Connection& ConnectionTo(uint64_t store_id);

  const uint64_t store_id_;
  std::shared_ptr<StoreResolver> resolver_;
  const TransportConfig config_;
  raftstore::Store* store_ = nullptr;

  // Raft thread only (and Stop, after the raft thread stopped).
  std::map<uint64_t, std::vector<raft_serverpb::RaftMessage>> pending_;
  bool stopped_ = false;
  std::mutex mu_;  // the raft thread and SetQueue
  grpc::CompletionQueue* cq_ = nullptr;
  std::map<uint64_t, std::unique_ptr<Connection>> connections_;
};

}  // namespace tinykv::server
