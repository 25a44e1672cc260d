#include "client/raw_client.h"

#include <fmt/format.h>

#include <algorithm>
#include <thread>
#include <type_traits>

#include "client/backoff.h"
#include "common/bytes.h"

namespace tinykv::client {
namespace {

using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

milliseconds Remaining(SteadyClock::time_point deadline) {
  auto left = std::chrono::duration_cast<milliseconds>(deadline - SteadyClock::now());
  return left.count() > 0 ? left : milliseconds(0);
}


}  // namespace

Result<std::unique_ptr<RawClient>> RawClient::Connect(const std::string& scheduler_address,
                                                      RawClientOptions options) {
  auto sched = std::make_unique<SchedulerClient>(scheduler_address, options.scheduler);
  TKV_RETURN_IF_ERROR(sched->Connect());
  return std::unique_ptr<RawClient>(new RawClient(std::move(sched), options));
}

RawClient::RawClient(std::unique_ptr<SchedulerClient> scheduler, RawClientOptions options)
    : options_(options), scheduler_(std::move(scheduler)), cache_(*scheduler_) {}

RawClient::~RawClient() = default;

std::shared_ptr<StoreClient> RawClient::Store(const std::string& address) {
  std::lock_guard<std::mutex> lock(stores_mu_);
  auto& s = stores_[address];
  if (!s) s = std::make_shared<StoreClient>(address);
  return s;
}

template <typename Req, typename Resp>
RawClient::Attempt RawClient::Try(const RegionRoute& route, Req& req, Resp& resp, bool is_write,
                                  SteadyClock::time_point deadline) {
  metapb::Peer target = RegionCache::Target(route);
  auto addr = cache_.StoreAddress(target.store_id());
  if (!addr.ok()) {
    cache_.Invalidate(route.region.id());
    return {Next::kRetryLater, addr.status()};
  }
  auto* ctx = req.mutable_context();
  ctx->set_region_id(route.region.id());
  *ctx->mutable_region_epoch() = route.region.region_epoch();
  *ctx->mutable_peer() = target;
  milliseconds timeout = is_write ? Remaining(deadline)
                                  : std::min(Remaining(deadline), options_.read_attempt_timeout);
  auto r = Store(*addr)->Call(req, timeout);
  if (!r.ok()) {
    if (r.status().code() == Code::kDeadlineExceeded && is_write) {
      return {Next::kFail, r.status()};  // outcome unknown
    }
    if (r.status().code() == Code::kUnavailable || r.status().code() == Code::kDeadlineExceeded) {
      // The store is down or slow: try another peer; its address may change.
      cache_.ForgetLeader(route.region.id(), target);
      cache_.InvalidateStore(target.store_id());
      return {Next::kRetryLater, r.status()};
    }
    return {Next::kFail, r.status()};
  }
  resp = std::move(*r);
  if (resp.has_region_error()) {
    const errorpb::Error& e = resp.region_error();
    if (e.has_raft_entry_too_large()) {
      return {Next::kFail, Status::InvalidArgument("the request is too large for one Raft entry: " +
                                                   e.message())};
    }
    bool now = cache_.OnRegionError(route, e);
    return {now ? Next::kRetryNow : Next::kRetryLater,
            Status::Unavailable("region error: " + e.ShortDebugString()), e.has_server_is_busy()};
  }
  // Raw responses carry a server error as text; transactional ones carry
  // KeyErrors, which are the caller's to read.
  if constexpr (requires { requires std::is_same_v<std::decay_t<decltype(resp.error())>, std::string>; }) {
    if (!resp.error().empty()) {
      Status st = ParseStatus(resp.error());
      if (st.code() == Code::kBusy) return {Next::kRetryLater, st, true};
      return {Next::kFail, st};  // includes kDeadlineExceeded: the server could not tell
    }
  }
  return {Next::kDone, Status::OK()};
}

// The transactional client's requests.
#define TINYKV_TRY(Name)                                                              \
  template RawClient::Attempt RawClient::Try(const RegionRoute&, kvrpcpb::Name##Request&, \
                                             kvrpcpb::Name##Response&, bool,             \
                                             SteadyClock::time_point);
TINYKV_TRY(Get)
TINYKV_TRY(Scan)
TINYKV_TRY(Prewrite)
TINYKV_TRY(Commit)
TINYKV_TRY(BatchRollback)
TINYKV_TRY(CheckTxnStatus)
TINYKV_TRY(ResolveLock)
#undef TINYKV_TRY

Result<std::optional<std::string>> RawClient::Get(const std::string& key, const std::string& cf) {
  auto deadline = SteadyClock::now() + options_.timeout;
  auto make = [&](const RegionRoute&) {
    kvrpcpb::RawGetRequest req;
    req.set_key(key);
    req.set_cf(cf);
    return req;
  };
  TKV_ASSIGN_OR_RETURN(auto r, (Send<kvrpcpb::RawGetRequest, kvrpcpb::RawGetResponse>(
                                   key, make, false, deadline)));
  if (r.first.not_found()) return std::optional<std::string>();
  return std::optional<std::string>(std::move(*r.first.mutable_value()));
}

Status RawClient::Put(const std::string& key, const std::string& value, const std::string& cf) {
  auto deadline = SteadyClock::now() + options_.timeout;
  auto make = [&](const RegionRoute&) {
    kvrpcpb::RawPutRequest req;
    req.set_key(key);
    req.set_value(value);
    req.set_cf(cf);
    return req;
  };
  return Send<kvrpcpb::RawPutRequest, kvrpcpb::RawPutResponse>(key, make, true, deadline).status();
}

Status RawClient::Delete(const std::string& key, const std::string& cf) {
  auto deadline = SteadyClock::now() + options_.timeout;
  auto make = [&](const RegionRoute&) {
    kvrpcpb::RawDeleteRequest req;
    req.set_key(key);
    req.set_cf(cf);
    return req;
  };
  return Send<kvrpcpb::RawDeleteRequest, kvrpcpb::RawDeleteResponse>(key, make, true, deadline)
      .status();
}

Result<std::vector<KvPair>> RawClient::Scan(const std::string& start, const std::string& end,
                                            uint32_t limit, const std::string& cf) {
  auto deadline = SteadyClock::now() + options_.timeout;
  std::vector<KvPair> out;
  std::string cur = start;
  while (out.size() < limit) {
    uint32_t want = std::min<uint32_t>(limit - static_cast<uint32_t>(out.size()),
                                       options_.scan_batch);
    auto make = [&](const RegionRoute&) {
      kvrpcpb::RawScanRequest req;
      req.set_start_key(cur);
      req.set_limit(want);
      req.set_cf(cf);
      return req;
    };
    TKV_ASSIGN_OR_RETURN(auto r, (Send<kvrpcpb::RawScanRequest, kvrpcpb::RawScanResponse>(
                                     cur, make, false, deadline)));
    auto& [resp, route] = r;
    for (auto& kv : *resp.mutable_kvs()) {
      if (!end.empty() && kv.key() >= end) return out;
      out.push_back(KvPair{std::move(*kv.mutable_key()), std::move(*kv.mutable_value())});
    }
    if (static_cast<uint32_t>(resp.kvs_size()) == want) {
      if (out.size() >= limit) break;
      cur = out.back().key + std::string(1, '\0');  // the region may hold more
      continue;
    }
    // This region is exhausted: go on in the next one.
    const std::string& region_end = route.region.end_key();
    if (region_end.empty() || (!end.empty() && region_end >= end)) break;
    cur = region_end;
  }
  return out;
}

namespace {

// Runs `send(route, first, last)` (pointers into the items) on each run of consecutive sorted items
// that one region holds (at most `max_batch` items), and again on the runs
// refused with a region error or an unreachable store, until all are done
// or the deadline. A run whose outcome is unknown is not retried; the
// result is then that unknown outcome (after the rest were tried).
// `done_items` counts the items of runs that succeeded.
template <typename Item, typename KeyOf, typename SendFn>
Status ForEachRegion(RegionCache& cache, std::vector<Item> items, KeyOf key_of, size_t max_batch,
                     SteadyClock::time_point deadline, SendFn send, size_t& done_items) {
  Backoff backoff(deadline);
  Status last, unknown;
  while (!items.empty()) {
    std::vector<Item> retry;
    bool now = true, busy = false;
    size_t i = 0;
    while (i < items.size()) {
      auto route = cache.Locate(key_of(items[i]));
      if (!route.ok()) {
        // The scheduler did not answer: nothing was sent for these keys.
        if (route.status().code() != Code::kUnavailable &&
            route.status().code() != Code::kDeadlineExceeded) {
          return route.status();
        }
        last = route.status();
        retry.insert(retry.end(), items.begin() + static_cast<long>(i), items.end());
        now = false;
        break;
      }
      const std::string& end = route->region.end_key();
      size_t j = i;
      while (j < items.size() && j - i < max_batch && (end.empty() || key_of(items[j]) < end)) ++j;
      RawClient::Attempt a = send(*route, items.data() + i, items.data() + j);
      if (a.next == RawClient::Next::kDone) {
        done_items += j - i;
      } else if (a.next == RawClient::Next::kFail) {
        if (!IsOutcomeUnknown(a.status)) {
          return done_items == 0 ? a.status
                                 : a.status.WithContext(fmt::format(
                                       "after {} of the keys were done", done_items));
        }
        unknown = a.status;
      } else {
        retry.insert(retry.end(), items.begin() + static_cast<long>(i),
                     items.begin() + static_cast<long>(j));
        last = a.status;
        now = now && a.next == RawClient::Next::kRetryNow;
        busy = busy || a.busy;
      }
      i = j;
    }
    items = std::move(retry);
    if (!items.empty() && !backoff.Wait(now, busy)) return unknown.ok() ? GaveUp(last) : unknown;
  }
  return unknown;
}

}  // namespace

Result<std::vector<KvPair>> RawClient::BatchGet(const std::vector<std::string>& keys,
                                                const std::string& cf) {
  auto deadline = SteadyClock::now() + options_.timeout;
  std::vector<std::string> sorted(keys.begin(), keys.end());
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  std::vector<KvPair> out;
  size_t done = 0;
  Status s = ForEachRegion(
      cache_, sorted, [](const std::string& k) -> const std::string& { return k; },
      options_.max_batch_keys, deadline,
      [&](const RegionRoute& route, const std::string* first, const std::string* last) {
        kvrpcpb::RawBatchGetRequest req;
        req.set_cf(cf);
        for (const std::string* k = first; k != last; ++k) req.add_keys(*k);
        kvrpcpb::RawBatchGetResponse resp;
        Attempt a = Try(route, req, resp, false, deadline);
        if (a.next == Next::kDone) {
          for (auto& kv : *resp.mutable_pairs())
            out.push_back(KvPair{std::move(*kv.mutable_key()), std::move(*kv.mutable_value())});
        }
        return a;
      },
      done);
  if (!s.ok()) return s;
  std::sort(out.begin(), out.end(), [](const KvPair& a, const KvPair& b) { return a.key < b.key; });
  return out;
}

Status RawClient::BatchPut(const std::vector<KvPair>& pairs, const std::string& cf) {
  auto deadline = SteadyClock::now() + options_.timeout;
  // The last value of a key wins, as in one write batch.
  std::vector<KvPair> sorted(pairs.begin(), pairs.end());
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const KvPair& a, const KvPair& b) { return a.key < b.key; });
  std::vector<KvPair> dedup;
  for (auto& kv : sorted) {
    if (!dedup.empty() && dedup.back().key == kv.key) {
      dedup.back() = std::move(kv);
    } else {
      dedup.push_back(std::move(kv));
    }
  }
  size_t written = 0, total = dedup.size();
  Status s = ForEachRegion(
      cache_, dedup, [](const KvPair& kv) -> const std::string& { return kv.key; },
      options_.max_batch_keys, deadline,
      [&](const RegionRoute& route, const KvPair* first, const KvPair* last) {
        kvrpcpb::RawBatchPutRequest req;
        req.set_cf(cf);
        for (const KvPair* p = first; p != last; ++p) {
          auto* kv = req.add_pairs();
          kv->set_key(p->key);
          kv->set_value(p->value);
        }
        kvrpcpb::RawBatchPutResponse resp;
        return Try(route, req, resp, true, deadline);
      },
      written);
  if (s.code() == Code::kUnavailable && written > 0) {
    return Status::Unavailable(fmt::format(
        "{} of {} keys were written (each region's part is atomic): {}", written, total,
        s.message()));
  }
  return s;
}

}  // namespace tinykv::client
