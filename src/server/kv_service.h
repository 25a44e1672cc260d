// KvService: tinykvpb.TinyKv and grpc.health.v1.Health on gRPC's
// completion-queue API, served by one thread of ours per queue (one by
// default). That thread is the only one of the store's gRPC threads that
// waits for network events: gRPC's callback API would add two threads of its
// own that pass the polling role back and forth on every event, and its
// default health service is built on the callback API, so this service
// answers health checks itself. Reflection is not served by the store (it
// would add synchronous-server polling threads); the scheduler serves it.
//
// Each RPC hands the request to its handler (RawKv, TxnKv) and finishes when
// the handler's `done` runs, from whichever thread that is, so no thread
// waits on the disk. Coprocessor is UNIMPLEMENTED; so are Raft and Snapshot
// in standalone mode. A transactional command's Status (txn_kv.h) becomes the
// call's status: INVALID_ARGUMENT for bad input, DEADLINE_EXCEEDED when a
// write's outcome is unknown, UNAVAILABLE when the server is busy or stopping
// (not done), INTERNAL for a storage failure.
//
// Raft: a stream of messages from another store, each handed to the sink.
// Snapshot: a stream of chunks (the message, then its data), reassembled
// and handed to the sink as one message once the sender has closed the
// stream and heard OK (a stream cut off mid-way is dropped); over
// max_snapshot_size is refused.
//
// Health: Check answers SERVING or NOT_SERVING for "" and "tinykvpb.TinyKv"
// (NOT_FOUND for other names); Watch sends the status, and NOT_SERVING when
// the server stops, then ends.
//
// Life cycle: Register (before the gRPC server is built), Start (after it
// started), SetServing, ... CloseStreams, the gRPC server's Shutdown, then
// Stop once no handler can still finish a call.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <set>

#include "raft_serverpb.pb.h"
#include "server/raw_kv.h"
#include "server/txn_kv.h"

namespace grpc {
class CompletionQueue;
class ServerBuilder;
}  // namespace grpc

namespace tinykv::server {

class QueueLoop;

class StreamCloser {
 public:
  virtual ~StreamCloser() = default;
  virtual void Close() = 0;
};

// The long-lived streams being served (store-to-store, health watches), so
// that shutdown can end them (they would otherwise stay open until the grace
// period ran out).
class StreamRegistry {
 public:
  // False once closing: the stream is to be refused.
  bool Add(StreamCloser* s);
  void Remove(StreamCloser* s);
  // Ends every stream; later ones are refused.
  void CloseAll();

 private:
  std::mutex mu_;
  std::set<StreamCloser*> streams_;
  bool closing_ = false;
};

class KvService {
 public:
  using RaftSink = std::function<void(raft_serverpb::RaftMessage)>;

  // `raw` and `txn` must outlive the service. Without a sink (standalone)
  // the Raft and Snapshot streams are UNIMPLEMENTED.
  KvService(RawKv& raw, TxnKv& txn, RaftSink sink = nullptr, size_t max_snapshot_size = 0,
            int threads = 1);
  // Stops if Stop() was not called.
  ~KvService();
  KvService(const KvService&) = delete;
  KvService& operator=(const KvService&) = delete;

  // Adds the services and their completion queues to `builder`.
  void Register(grpc::ServerBuilder& builder);
  // Once the server is started: begins taking calls.
  void Start();
  // After Register: a queue this service's thread drains, for other
  // components' asynchronous client calls (every tag a client::QueueTag).
  // They must end before Stop.
  grpc::CompletionQueue* queue();
  // After Register: the loop of that queue's thread (grpc-kv-0), which can
  // also run other work (the store's raft poll round) between events.
  QueueLoop& loop();
  // What health checks answer (NOT_SERVING until set).
  void SetServing(bool serving);
  // Ends the Raft and Snapshot streams and health watches (at shutdown,
  // before gRPC stops).
  void CloseStreams();
  // After the gRPC server's Shutdown returned and no handler will call its
  // `done` any more: ends the queues and joins the threads. Idempotent.
  void Stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace tinykv::server
