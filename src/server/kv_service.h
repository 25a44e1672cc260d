// KvService: tinykvpb.TinyKv on gRPC's callback API. Each RPC hands the
// request to its handler (RawKv, TxnKv) and finishes when the handler's
// `done` runs, so no gRPC thread waits on the disk. Coprocessor keeps the
// generated default, UNIMPLEMENTED; so do Raft and Snapshot in standalone
// mode. A transactional command's Status (txn_kv.h) becomes the call's
// status: INVALID_ARGUMENT for bad input, DEADLINE_EXCEEDED when a write's
// outcome is unknown, UNAVAILABLE when the server is busy or stopping (not
// done), INTERNAL for a storage failure.
//
// Raft: a stream of messages from another store, each handed to the sink.
// Snapshot: a stream of chunks (the message, then its data), reassembled
// and handed to the sink as one message; over max_snapshot_size is refused.
#pragma once

#include <functional>
#include <mutex>
#include <set>

#include "raft_serverpb.pb.h"
#include "server/raw_kv.h"
#include "server/txn_kv.h"
#include "tinykvpb.grpc.pb.h"

namespace tinykv::server {

class StreamCloser {
 public:
  virtual ~StreamCloser() = default;
  virtual void Close() = 0;
};

// The store-to-store streams being served, so that shutdown can end them
// (they would otherwise stay open until the grace period ran out).
class StreamRegistry {
 public:
  void Add(StreamCloser* s);
  void Remove(StreamCloser* s);
  bool closing();
  // Ends every stream; later ones are refused.
  void CloseAll();

 private:
  std::recursive_mutex mu_;
  std::set<StreamCloser*> streams_;
  bool closing_ = false;
};

class KvService final : public tinykvpb::TinyKv::CallbackService {
 public:
  using RaftSink = std::function<void(raft_serverpb::RaftMessage)>;

  // `raw` and `txn` must outlive the service. Without a sink (standalone)
  // the Raft and Snapshot streams are UNIMPLEMENTED.
  KvService(RawKv& raw, TxnKv& txn, RaftSink sink = nullptr, size_t max_snapshot_size = 0)
      : raw_(raw), txn_(txn), sink_(std::move(sink)), max_snapshot_size_(max_snapshot_size) {}

  grpc::ServerUnaryReactor* KvGet(grpc::CallbackServerContext* ctx,
                                  const kvrpcpb::GetRequest* req,
                                  kvrpcpb::GetResponse* resp) override;
  grpc::ServerUnaryReactor* KvScan(grpc::CallbackServerContext* ctx,
                                   const kvrpcpb::ScanRequest* req,
                                   kvrpcpb::ScanResponse* resp) override;
  grpc::ServerUnaryReactor* KvPrewrite(grpc::CallbackServerContext* ctx,
                                       const kvrpcpb::PrewriteRequest* req,
                                       kvrpcpb::PrewriteResponse* resp) override;
  grpc::ServerUnaryReactor* KvCommit(grpc::CallbackServerContext* ctx,
                                     const kvrpcpb::CommitRequest* req,
                                     kvrpcpb::CommitResponse* resp) override;
  grpc::ServerUnaryReactor* KvCheckTxnStatus(grpc::CallbackServerContext* ctx,
                                             const kvrpcpb::CheckTxnStatusRequest* req,
                                             kvrpcpb::CheckTxnStatusResponse* resp) override;
  grpc::ServerUnaryReactor* KvBatchRollback(grpc::CallbackServerContext* ctx,
                                            const kvrpcpb::BatchRollbackRequest* req,
                                            kvrpcpb::BatchRollbackResponse* resp) override;
  grpc::ServerUnaryReactor* KvResolveLock(grpc::CallbackServerContext* ctx,
                                          const kvrpcpb::ResolveLockRequest* req,
                                          kvrpcpb::ResolveLockResponse* resp) override;

  grpc::ServerUnaryReactor* RawGet(grpc::CallbackServerContext* ctx,
                                   const kvrpcpb::RawGetRequest* req,
                                   kvrpcpb::RawGetResponse* resp) override;
  grpc::ServerUnaryReactor* RawPut(grpc::CallbackServerContext* ctx,
                                   const kvrpcpb::RawPutRequest* req,
                                   kvrpcpb::RawPutResponse* resp) override;
  grpc::ServerUnaryReactor* RawDelete(grpc::CallbackServerContext* ctx,
                                      const kvrpcpb::RawDeleteRequest* req,
                                      kvrpcpb::RawDeleteResponse* resp) override;
  grpc::ServerUnaryReactor* RawScan(grpc::CallbackServerContext* ctx,
                                    const kvrpcpb::RawScanRequest* req,
                                    kvrpcpb::RawScanResponse* resp) override;
  grpc::ServerUnaryReactor* RawBatchGet(grpc::CallbackServerContext* ctx,
                                        const kvrpcpb::RawBatchGetRequest* req,
                                        kvrpcpb::RawBatchGetResponse* resp) override;
  grpc::ServerUnaryReactor* RawBatchPut(grpc::CallbackServerContext* ctx,
                                        const kvrpcpb::RawBatchPutRequest* req,
                                        kvrpcpb::RawBatchPutResponse* resp) override;
  // Ends the Raft and Snapshot streams (at shutdown, before gRPC stops).
  void CloseStreams() { streams_.CloseAll(); }

  grpc::ServerReadReactor<raft_serverpb::RaftMessage>* Raft(grpc::CallbackServerContext* ctx,
                                                            raft_serverpb::Done* resp) override;
  grpc::ServerReadReactor<raft_serverpb::SnapshotChunk>* Snapshot(
      grpc::CallbackServerContext* ctx, raft_serverpb::Done* resp) override;

 private:
  RawKv& raw_;
  TxnKv& txn_;
  RaftSink sink_;
  size_t max_snapshot_size_;
  StreamRegistry streams_;
};

}  // namespace tinykv::server
