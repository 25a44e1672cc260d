// RawClient: the raw KV API of a TinyKV cluster, by key. It finds regions
// through the scheduler (RegionCache), sends each request to the region's
// leader with the region's id, epoch and peer, and retries with backoff on
// region errors and unreachable stores until the operation's deadline.
//
// Results:
//   OK / a value             done;
//   nullopt (Get)            the key does not exist;
//   kDeadlineExceeded        a write's outcome is unknown: it was sent and
//                            no answer came (IsOutcomeUnknown). It may or may
//                            not have applied; it is never retried, since a
//                            late duplicate could overwrite a newer write;
//   kUnavailable             nothing succeeded before the deadline, and no
//                            write was applied (every attempt was refused);
//   kInvalidArgument, ...    the request itself is wrong (not retried).
//
// Scan and the batch operations span regions: a scan reads each region at
// a different moment (it is not a snapshot of the whole range); a batch put
// is atomic within each region, not across them (a failed one says how many
// keys were written).
//
// Thread safety: every method may be called concurrently.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "client/backoff.h"
#include "client/region_cache.h"
#include "client/scheduler_client.h"
#include "client/store_client.h"

namespace tinykv::client {

struct RawClientOptions {
  // Whole operation, retries included.
  std::chrono::milliseconds timeout{20000};
  // One read attempt on one store (a write waits for the whole timeout: an
  // attempt that times out makes its outcome unknown).
  std::chrono::milliseconds read_attempt_timeout{5000};
  // Pairs asked per region in a scan, and keys per batch request (at most
  // the server's max-batch-keys).
  uint32_t scan_batch = 1024;
  uint32_t max_batch_keys = 1024;
  SchedulerClientOptions scheduler;
};

inline bool IsOutcomeUnknown(const Status& s) { return s.code() == Code::kDeadlineExceeded; }

class RawClient {
 public:
  // Learns the cluster id from the scheduler. Errors: the scheduler's.
  static Result<std::unique_ptr<RawClient>> Connect(const std::string& scheduler_address,
                                                    RawClientOptions options = {});
  ~RawClient();

  // `cf`: "default" (also ""), "lock" or "write".
  Result<std::optional<std::string>> Get(const std::string& key, const std::string& cf = "");
  Status Put(const std::string& key, const std::string& value, const std::string& cf = "");
  Status Delete(const std::string& key, const std::string& cf = "");
  // Up to `limit` pairs with start <= key < end ("" end: no end), ascending.
  Result<std::vector<KvPair>> Scan(const std::string& start, const std::string& end,
                                   uint32_t limit, const std::string& cf = "");
  // The pairs found, in key order (missing keys are left out).
  Result<std::vector<KvPair>> BatchGet(const std::vector<std::string>& keys,
                                       const std::string& cf = "");
  Status BatchPut(const std::vector<KvPair>& pairs, const std::string& cf = "");

  SchedulerClient& scheduler() { return *scheduler_; }
  RegionCache& cache() { return cache_; }

  // One attempt of a request on a region (used by the transactional client
  // too): what happened, and what to do next.
  enum class Next { kDone, kRetryNow, kRetryLater, kFail };
  struct Attempt {
    Next next = Next::kFail;
    Status status;  // kFail: why
    bool busy = false;  // kRetryLater because the server was busy
  };
  // Sends `req` (its context is filled in from `route`) to the region's
  // leader and classifies the outcome; `resp` holds the answer on kDone.
  template <typename Req, typename Resp>
  Attempt Try(const RegionRoute& route, Req& req, Resp& resp, bool is_write,
              std::chrono::steady_clock::time_point deadline);
  // Runs one request on the region holding `key` until done or the deadline.
  // `make(route)` builds the request; the route used is returned too.
  template <typename Req, typename Resp, typename Make>
  Result<std::pair<Resp, RegionRoute>> Send(const std::string& key, Make make, bool is_write,
                                            std::chrono::steady_clock::time_point deadline);

 private:
  RawClient(std::unique_ptr<SchedulerClient> scheduler, RawClientOptions options);
  std::shared_ptr<StoreClient> Store(const std::string& address);

  const RawClientOptions options_;
  std::unique_ptr<SchedulerClient> scheduler_;
  RegionCache cache_;
  std::mutex stores_mu_;
  std::map<std::string, std::shared_ptr<StoreClient>> stores_;
};

// ---- Template definitions ----

template <typename Req, typename Resp, typename Make>
Result<std::pair<Resp, RegionRoute>> RawClient::Send(const std::string& key, Make make,
                                                     bool is_write,
                                                     std::chrono::steady_clock::time_point deadline) {
  Backoff backoff(deadline);
  Status last;
  while (true) {
    auto route = cache_.Locate(key);
    bool now = false, busy = false;
    if (!route.ok()) {
      if (route.status().code() != Code::kUnavailable &&
          route.status().code() != Code::kDeadlineExceeded)
        return route.status();
      last = route.status();
    } else {
      Req req = make(*route);
      Resp resp;
      Attempt a = Try(*route, req, resp, is_write, deadline);
      if (a.next == Next::kDone) return std::make_pair(std::move(resp), std::move(*route));
      if (a.next == Next::kFail) return a.status;
      last = a.status;
      now = a.next == Next::kRetryNow;
      busy = a.busy;
    }
    if (!backoff.Wait(now, busy)) return GaveUp(last);
  }
}

}  // namespace tinykv::client
