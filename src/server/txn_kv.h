// The transactional KV commands (KvGet, KvScan, KvPrewrite, KvCommit,
// KvCheckTxnStatus, KvBatchRollback, KvResolveLock) on a KvStorage, in
// standalone and cluster mode alike. No gRPC here: KvService adapts these
// to the wire, and tests call them directly.
//
// A write command latches its keys (txn/latches.h), takes a snapshot, runs
// the per-key actions (txn/actions.h) and writes what they staged as one
// atomic write (in cluster mode: one Raft proposal, carrying the term the
// snapshot was read at, so that it is refused if leadership moved in
// between), then releases the latches. Reads take no latches.
//
// Outcomes, and what a client does (docs/transactions.md):
//   region_error      did not and will not take effect: refresh the route
//                     and send the command again.
//   KeyError(s)       the command's answer for keys (locked, conflict,
//                     retryable, abort); nothing was written.
//   Done(non-OK)      a Status for the RPC itself: kInvalidArgument for bad
//                     input (nothing done); kDeadlineExceeded when a write
//                     may or may not have been applied (outcome unknown);
//                     other codes when the storage failed before writing.
// Keys are user keys; in cluster mode a key belongs to a region when its
// encoding (txn/keys.h) is in the region's range.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kvrpcpb.pb.h"
#include "server/kv_storage.h"
#include "txn/latches.h"
#include "txn/mvcc.h"

namespace tinykv::server {

struct TxnKvLimits {
  size_t max_key_size = 4u << 10;
  size_t max_value_size = 8u << 20;
  uint32_t max_scan_limit = 10000;
  size_t max_response_bytes = 16u << 20;
  uint32_t max_batch_keys = 4096;      // mutations or keys per command
  uint32_t resolve_batch_keys = 256;   // locks resolved per write of KvResolveLock
  size_t latch_slots = 4096;
};

class TxnKv {
 public:
  using Done = std::function<void(Status)>;

  // `storage` must outlive this object.
  TxnKv(KvStorage& storage, TxnKvLimits limits);

  // Each fills `*resp` and then calls `done` exactly once, possibly on
  // another thread. `req` and `resp` must stay valid until `done` runs.
  void Get(const kvrpcpb::GetRequest& req, kvrpcpb::GetResponse* resp, Done done);
  void Scan(const kvrpcpb::ScanRequest& req, kvrpcpb::ScanResponse* resp, Done done);
  void Prewrite(const kvrpcpb::PrewriteRequest& req, kvrpcpb::PrewriteResponse* resp, Done done);
  void Commit(const kvrpcpb::CommitRequest& req, kvrpcpb::CommitResponse* resp, Done done);
  void BatchRollback(const kvrpcpb::BatchRollbackRequest& req,
                     kvrpcpb::BatchRollbackResponse* resp, Done done);
  void CheckTxnStatus(const kvrpcpb::CheckTxnStatusRequest& req,
                      kvrpcpb::CheckTxnStatusResponse* resp, Done done);
  void ResolveLock(const kvrpcpb::ResolveLockRequest& req, kvrpcpb::ResolveLockResponse* resp,
                   Done done);

  // Commands holding or waiting for latches (for tests).
  size_t ActiveCommands() const { return latches_.Active(); }

 private:
  // What a write command does with its snapshot: stage changes in the txn
  // for the latched keys and fill the response. Returns whether to write
  // what was staged; non-OK when the storage failed.
  using Body =
      std::function<Result<bool>(txn::MvccTxn& txn, const std::vector<std::string>& keys)>;
  // Where a command's region error goes.
  using SetRegionError = std::function<void(errorpb::Error)>;

  void RunWrite(const kvrpcpb::Context& ctx, std::vector<std::string> keys, uint64_t start_ts,
                Body body, SetRegionError set_region_error, Done done);
  struct ResolveState;
  void ResolveRound(std::shared_ptr<ResolveState> state);

  Status CheckKey(const std::string& key) const;
  Status CheckKeys(const google::protobuf::RepeatedPtrField<std::string>& keys) const;

  KvStorage& storage_;
  const TxnKvLimits limits_;
  txn::Latches latches_;
};

}  // namespace tinykv::server
