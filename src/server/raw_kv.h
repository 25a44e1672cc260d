// Raw KV commands (RawGet, RawPut, RawDelete, RawScan) on a Storage, with
// input validation. No gRPC here: KvService adapts these to the wire, and
// tests call them directly.
//
// Semantics (the TinyKV course's Project 1, hardened):
//   - `cf` is "default" (also when empty), "lock" or "write"; anything else is
//     an error. Column families are independent key spaces.
//   - RawGet of a missing key sets not_found (not an error).
//   - RawScan returns up to `limit` pairs with key >= start_key, ascending.
//     limit 0 returns nothing; a limit over max_scan_limit is rejected; a scan
//     whose response would exceed max_response_bytes is rejected (ask for
//     fewer keys).
//   - Keys must be non-empty and at most max_key_size bytes; values at most
//     max_value_size bytes (empty values are allowed).
//   - RawBatchGet / RawBatchPut (extensions) take up to max_batch_keys keys,
//     every one checked as above; a batch get reads one snapshot; a batch put
//     is one atomic write.
//   - Cluster mode: the request's context names the region; a key outside
//     it gets KeyNotInRegion, and a scan stops at the region's end (the
//     client goes on in the next region).
// Errors go in the response's `error` field as "<Code>: <message>"
// (Status::ToString), so clients can recover the code with ParseStatus;
// region errors go in `region_error` (retry elsewhere). A write that timed
// out has error "DeadlineExceeded: ..." and may or may not have happened.
#pragma once

#include <cstdint>
#include <functional>

#include "kvrpcpb.pb.h"
#include "server/kv_storage.h"

namespace tinykv::server {

struct RawKvLimits {
  size_t max_key_size = 4u << 10;
  size_t max_value_size = 8u << 20;
  uint32_t max_scan_limit = 10000;
  size_t max_response_bytes = 16u << 20;
  uint32_t max_batch_keys = 4096;  // keys per RawBatchGet / RawBatchPut
};

// The column family a client named. Errors: kInvalidArgument for a name that
// is not default, lock or write (the internal meta family is not reachable).
Result<storage::Cf> ParseClientCf(const std::string& name);

class RawKv {
 public:
  using Done = std::function<void()>;

  // `storage` must outlive this object.
  RawKv(KvStorage& storage, RawKvLimits limits);

  // Each fills `*resp` and then calls `done` exactly once, possibly on another
  // thread. `req` and `resp` must stay valid until `done` runs.
  void Get(const kvrpcpb::RawGetRequest& req, kvrpcpb::RawGetResponse* resp, Done done);
  void Put(const kvrpcpb::RawPutRequest& req, kvrpcpb::RawPutResponse* resp, Done done);
  void Delete(const kvrpcpb::RawDeleteRequest& req, kvrpcpb::RawDeleteResponse* resp, Done done);
  void Scan(const kvrpcpb::RawScanRequest& req, kvrpcpb::RawScanResponse* resp, Done done);
  void BatchGet(const kvrpcpb::RawBatchGetRequest& req, kvrpcpb::RawBatchGetResponse* resp,
                Done done);
  void BatchPut(const kvrpcpb::RawBatchPutRequest& req, kvrpcpb::RawBatchPutResponse* resp,
                Done done);

 private:
  // The column family of a request on one key, once the key is checked.
  Result<storage::Cf> CheckTarget(const std::string& cf, const std::string& key) const;
  Status CheckBatchSize(int n) const;
  // Writes `batch`, reporting a failure in resp->error().
  template <typename Request, typename Response>
  void Write(const Request& req, storage::WriteBatch batch, Response* resp, Done done);

  KvStorage& storage_;
  const RawKvLimits limits_;
};

}  // namespace tinykv::server
