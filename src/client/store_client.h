// StoreClient: typed calls to one TinyKV store's raw KV API over gRPC.
//
// This is the direct-to-store layer; the routing client (RawClient: region
// cache, scheduler, retries) is built on its Call() forms. Results are typed:
//   - a value, not-found (nullopt) or OK;
//   - kInvalidArgument, kBusy, kIOError... as the server reported them;
//   - kUnavailable when the store cannot be reached (nothing was done);
//   - kDeadlineExceeded when the deadline passed after the request was sent:
//     for a write, the outcome is unknown (it may or may not have applied).
//
// Thread safety: all methods may be called concurrently.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "kvrpcpb.pb.h"

namespace grpc {
class Channel;
}

namespace tinykv::client {

struct KvPair {
  std::string key;
  std::string value;
  friend bool operator==(const KvPair&, const KvPair&) = default;
};

struct StoreClientOptions {
  // Per-call deadline.
  std::chrono::milliseconds timeout{10000};
  // How long a write waits for a connection before it is given up as not
  // sent (kUnavailable), so that the caller can try another store.
  std::chrono::milliseconds connect_timeout{1000};
  // Largest response accepted (a scan of large values can be big).
  int max_receive_message_size = 64 << 20;
};

class StoreClient {
 public:
  // Connects lazily: construction never fails; the first call reports an
  // unreachable address as kUnavailable.
  explicit StoreClient(const std::string& address, StoreClientOptions options = {});
  ~StoreClient();

  // `cf` is "default", "lock" or "write" ("" means default).
  Result<std::optional<std::string>> RawGet(std::string_view cf, std::string_view key);
  Status RawPut(std::string_view cf, std::string_view key, std::string_view value);
  Status RawDelete(std::string_view cf, std::string_view key);
  // Up to `limit` pairs with key >= start, ascending.
  Result<std::vector<KvPair>> RawScan(std::string_view cf, std::string_view start, uint32_t limit);

  // OK when the store's health service says SERVING; kUnavailable otherwise.
  Status Health();

  // ---- One attempt, as the routing client makes them ----
  // The response as the store sent it (its region_error and error fields
  // are the caller's to read), or a transport failure:
  //   kUnavailable       the request was not sent (the store cannot be
  //                      reached): nothing happened, retry elsewhere;
  //   kDeadlineExceeded  it may have been: no answer within `timeout`, or
  //                      the connection broke after sending. For a write,
  //                      the outcome is unknown.
  // Writes first wait (up to connect_timeout) for a connection, so that a
  // write is never reported unsent when it was sent.
  Result<kvrpcpb::RawGetResponse> Call(const kvrpcpb::RawGetRequest& req,
                                       std::chrono::milliseconds timeout);
  Result<kvrpcpb::RawPutResponse> Call(const kvrpcpb::RawPutRequest& req,
                                       std::chrono::milliseconds timeout);
  Result<kvrpcpb::RawDeleteResponse> Call(const kvrpcpb::RawDeleteRequest& req,
                                          std::chrono::milliseconds timeout);
  Result<kvrpcpb::RawScanResponse> Call(const kvrpcpb::RawScanRequest& req,
                                        std::chrono::milliseconds timeout);
  Result<kvrpcpb::RawBatchGetResponse> Call(const kvrpcpb::RawBatchGetRequest& req,
                                            std::chrono::milliseconds timeout);
  Result<kvrpcpb::RawBatchPutResponse> Call(const kvrpcpb::RawBatchPutRequest& req,
                                            std::chrono::milliseconds timeout);
  // Transactional commands (reads: Get, Scan; the others are writes).
  Result<kvrpcpb::GetResponse> Call(const kvrpcpb::GetRequest& req,
                                    std::chrono::milliseconds timeout);
  Result<kvrpcpb::ScanResponse> Call(const kvrpcpb::ScanRequest& req,
                                     std::chrono::milliseconds timeout);
  Result<kvrpcpb::PrewriteResponse> Call(const kvrpcpb::PrewriteRequest& req,
                                         std::chrono::milliseconds timeout);
  Result<kvrpcpb::CommitResponse> Call(const kvrpcpb::CommitRequest& req,
                                       std::chrono::milliseconds timeout);
  Result<kvrpcpb::BatchRollbackResponse> Call(const kvrpcpb::BatchRollbackRequest& req,
                                              std::chrono::milliseconds timeout);
  Result<kvrpcpb::CheckTxnStatusResponse> Call(const kvrpcpb::CheckTxnStatusRequest& req,
                                               std::chrono::milliseconds timeout);
  Result<kvrpcpb::ResolveLockResponse> Call(const kvrpcpb::ResolveLockRequest& req,
                                            std::chrono::milliseconds timeout);

  const std::string& address() const { return address_; }

 private:
  struct Stubs;
  const std::string address_;
  const StoreClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<Stubs> stubs_;

  template <typename Req, typename Resp, typename Method>
  Result<Resp> Invoke(Method method, const Req& req, std::chrono::milliseconds timeout,
                      bool is_write);
};

}  // namespace tinykv::client
