// SchedulerClient: typed calls to tinykv-scheduler (schedulerpb.Scheduler),
// for clients and for stores.
//
//   - The cluster id is learned with GetMembers on first use (or given in
//     the options, as a store that joined before does); every request
//     carries it. A scheduler of another cluster is refused: kInvalidArgument
//     "cluster id mismatch", never retried.
//   - Calls are retried, with backoff, while the scheduler cannot be reached
//     (it may be restarting), until the operation's timeout.
//   - Errors the scheduler reports come back as a Status whose message
//     starts with the schedulerpb::ErrorType name (SchedulerErrorType()
//     recovers it): NOT_BOOTSTRAPPED is kUnavailable, ALREADY_BOOTSTRAPPED
//     and STORE_TOMBSTONE are kAborted, REGION_NOT_FOUND is kNotFound, a
//     failure of the scheduler's storage kIOError, the rest kInvalidArgument.
//   - GetTimestamp() batches: concurrent callers share one TSO round trip.
//
// Thread safety: every method may be called concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "metapb.pb.h"
#include "schedulerpb.pb.h"

namespace grpc {
class Channel;
class CompletionQueue;
}  // namespace grpc

namespace tinykv::client {

struct SchedulerClientOptions {
  // Whole operation, retries included.
  std::chrono::milliseconds timeout{10000};
  // One attempt.
  std::chrono::milliseconds rpc_timeout{3000};
  // The cluster the caller belongs to; 0: whichever the scheduler serves.
  uint64_t cluster_id = 0;
};

// The schedulerpb::ErrorType a failed call reported (UNKNOWN when the
// failure did not come from the scheduler, OK for an OK status).
schedulerpb::ErrorType SchedulerErrorType(const Status& s);

struct RegionRoute {
  metapb::Region region;
  metapb::Peer leader;  // id 0: not known
};

class RegionHeartbeatStream;

class SchedulerClient {
 public:
  explicit SchedulerClient(std::string address, SchedulerClientOptions options = {});
  ~SchedulerClient();
  SchedulerClient(const SchedulerClient&) = delete;
  SchedulerClient& operator=(const SchedulerClient&) = delete;

  const std::string& address() const { return address_; }
  // Learns (and checks) the cluster id. Other calls do it when needed.
  Status Connect();
  // 0 until Connect succeeded.
  uint64_t cluster_id() const;

  // ---- Bootstrap, ids, time ----
  Result<bool> IsBootstrapped();
  Status Bootstrap(const metapb::Store& store, const metapb::Region& first_region);
  Result<uint64_t> AllocId();
  // A timestamp from the TSO, strictly above every one handed out before.
  Result<uint64_t> GetTimestamp();

  // ---- Stores ----
  Status PutStore(const metapb::Store& store);
  Result<schedulerpb::GetStoreResponse> GetStore(uint64_t store_id);
  Result<std::vector<metapb::Store>> GetAllStores(bool exclude_tombstone);
  Status StoreHeartbeat(const schedulerpb::StoreStats& stats);
  Result<metapb::Store> RemoveStore(uint64_t store_id);

  // ---- Regions ----
  // nullopt: no region holds the key (yet).
  Result<std::optional<RegionRoute>> GetRegion(const std::string& key);
  Result<std::optional<RegionRoute>> GetPrevRegion(const std::string& key);
  Result<std::optional<RegionRoute>> GetRegionById(uint64_t region_id);
  // Regions from the one holding `start`, up to `end` ("": all), at most
  // `limit` (0: no limit).
  Result<std::vector<RegionRoute>> ScanRegions(const std::string& start, const std::string& end,
                                               int limit);
  Result<schedulerpb::AskSplitResponse> AskSplit(const metapb::Region& region);
  Status ReportSplit(const metapb::Region& left, const metapb::Region& right);

  // ---- Configuration, GC, operators, status ----
  Result<metapb::Cluster> GetClusterConfig();
  Status PutClusterConfig(const metapb::Cluster& cluster);
  Result<uint64_t> GetGcSafePoint();
  Result<uint64_t> UpdateGcSafePoint(uint64_t safe_point);
  Result<schedulerpb::GetOperatorResponse> GetOperator(uint64_t region_id);
  // `req`'s header is filled in. Returns the operator's description.
  Result<std::string> AddOperator(schedulerpb::AddOperatorRequest req);
  Result<schedulerpb::GetClusterStatusResponse> GetClusterStatus(int region_limit);

  // The region heartbeat stream of a store: heartbeats go out as they are
  // sent (the newest per region, if they queue up), responses (operator
  // steps) reach `on_response` on the thread that drains the stream's
  // completion queue. Reconnects on its own; `on_connected` runs (on that
  // thread too) each time a stream opens (the store then reports every
  // region it leads). With `cq`, the stream's operations complete there
  // (every tag a QueueTag, which the caller's thread must run) and `cq`
  // must outlive the stream; without, the stream has a queue and a thread
  // of its own.
  std::unique_ptr<RegionHeartbeatStream> OpenRegionHeartbeatStream(
      std::function<void(const schedulerpb::RegionHeartbeatResponse&)> on_response,
      std::function<void()> on_connected = nullptr, grpc::CompletionQueue* cq = nullptr);

  // Internal (the streams use them).
  struct Impl;

 private:
  const std::string address_;
  std::unique_ptr<Impl> impl_;
};

class RegionHeartbeatStream {
 public:
  virtual ~RegionHeartbeatStream() = default;
  // Queues a heartbeat (replacing a queued one of the same region). The
  // header is filled in.
  virtual void Send(schedulerpb::RegionHeartbeatRequest req) = 0;
};

}  // namespace tinykv::client
