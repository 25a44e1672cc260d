#include "client/txn_client.h"

#include <fmt/format.h>

#include <algorithm>
#include <thread>

#include "client/backoff.h"
#include "common/bytes.h"
#include "common/codec.h"

namespace tinykv::client {
namespace {

using Next = RawClient::Next;
using Attempt = RawClient::Attempt;


// Where a user key's data lives: regions are ranges of encoded keys.
std::string RouteKey(const std::string& user_key) { return EncodeBytes(user_key); }

std::string Describe(const kvrpcpb::KeyError& e) {
  if (e.has_conflict()) {
    return fmt::format("write conflict on '{}': committed at {} after this transaction began at {}",
                       EscapeBytes(e.conflict().key()), e.conflict().conflict_ts(),
                       e.conflict().start_ts());
  }
  if (!e.abort().empty()) return e.abort();
  if (!e.retryable().empty()) return e.retryable();
  if (e.has_locked()) {
    return fmt::format("'{}' is locked by the transaction started at {}",
                       EscapeBytes(e.locked().key()), e.locked().lock_version());
  }
  return e.ShortDebugString();
}

}  // namespace

// ---- TxnClient ----

Result<std::unique_ptr<TxnClient>> TxnClient::Connect(const std::string& scheduler_address,
                                                      RawClientOptions raw, TxnOptions options) {
  TKV_ASSIGN_OR_RETURN(auto rc, RawClient::Connect(scheduler_address, raw));
  auto client = std::make_unique<TxnClient>(*rc, options);
  client->owned_raw_ = std::move(rc);
  return client;
}

TxnClient::TxnClient(RawClient& raw, TxnOptions options) : raw_(raw), options_(options) {}
TxnClient::~TxnClient() = default;

Result<std::unique_ptr<Txn>> TxnClient::Begin() {
  TKV_ASSIGN_OR_RETURN(uint64_t ts, raw_.scheduler().GetTimestamp());
  return std::unique_ptr<Txn>(new Txn(*this, ts));
}

template <typename Req, typename Resp>
Result<std::pair<Resp, RegionRoute>> TxnClient::Send(const std::string& route_key, Req req,
                                                     bool is_write, Deadline deadline) {
  return raw_.Send<Req, Resp>(
      route_key, [&req](const RegionRoute&) { return req; }, is_write, deadline);
}

template <typename Fn>
Status TxnClient::ForEachGroup(const std::vector<std::string>& keys, const std::string& first,
                               Deadline deadline, Fn per_region) {
  Backoff backoff(deadline);
  std::vector<std::string> todo = keys;
  bool first_done = first.empty();
  Status last;
  while (!todo.empty()) {
    // The region of each key, in runs of at most max_batch_keys.
    std::vector<std::pair<RegionRoute, std::vector<std::string>>> groups;
    bool located = true;
    for (size_t i = 0; i < todo.size();) {
      auto route = raw_.cache().Locate(RouteKey(todo[i]));
      if (!route.ok()) {
        if (route.status().code() != Code::kUnavailable &&
            route.status().code() != Code::kDeadlineExceeded)
          return route.status();
        last = route.status();
        located = false;
        break;
      }
      const std::string& end = route->region.end_key();
      std::vector<std::string> g;
      while (i < todo.size() && g.size() < options_.max_batch_keys &&
             (end.empty() || RouteKey(todo[i]) < end)) {
        g.push_back(todo[i++]);
      }
      groups.emplace_back(std::move(*route), std::move(g));
    }
    bool now = located, busy = false;
    std::vector<std::string> retry;
    if (located) {
      if (!first_done) {
        // Only the group holding `first` this round.
        auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) {
          return std::find(g.second.begin(), g.second.end(), first) != g.second.end();
        });
        std::rotate(groups.begin(), it, it + 1);
      }
      for (size_t gi = 0; gi < groups.size(); ++gi) {
        auto& [route, group] = groups[gi];
        if (!first_done && gi > 0) {
          retry.insert(retry.end(), group.begin(), group.end());
          continue;
        }
        Attempt a = per_region(route, group);
        if (a.next == Next::kFail) return a.status;
        if (a.next == Next::kDone) {
          if (gi == 0) first_done = true;
          continue;
        }
        retry.insert(retry.end(), group.begin(), group.end());
        last = a.status;
        now = now && a.next == Next::kRetryNow;
        busy = busy || a.busy;
      }
      std::sort(retry.begin(), retry.end());
      // Rerun at once the groups held back for `first`, once it is done.
      if (first_done && !retry.empty() && last.ok()) now = true;
    }
    // A key whose region could not be found is tried again, not dropped.
    if (!located) retry = todo;
    todo = std::move(retry);
    if (todo.empty()) break;
    if (!backoff.Wait(now, busy)) return GaveUp(last);
    last = Status::OK();
  }
  return Status::OK();
}

Result<bool> TxnClient::ResolveLock(const kvrpcpb::LockInfo& lock, Deadline deadline) {
  TKV_ASSIGN_OR_RETURN(uint64_t now_ts, raw_.scheduler().GetTimestamp());
  kvrpcpb::CheckTxnStatusRequest check;
  check.set_primary_key(lock.primary_lock());
  check.set_lock_ts(lock.lock_version());
  check.set_current_ts(now_ts);
  TKV_ASSIGN_OR_RETURN(auto st, (Send<kvrpcpb::CheckTxnStatusRequest, kvrpcpb::CheckTxnStatusResponse>(
                                    RouteKey(lock.primary_lock()), check, true, deadline)));
  const kvrpcpb::CheckTxnStatusResponse& status = st.first;
  if (status.lock_ttl() > 0) return false;  // alive: wait for it
  kvrpcpb::ResolveLockRequest resolve;
  resolve.set_start_version(lock.lock_version());
  resolve.set_commit_version(status.commit_version());
  TKV_ASSIGN_OR_RETURN(auto r, (Send<kvrpcpb::ResolveLockRequest, kvrpcpb::ResolveLockResponse>(
                                   RouteKey(lock.key()), resolve, true, deadline)));
  if (r.first.has_error()) {
    return Status::Internal("resolving a lock failed: " + Describe(r.first.error()));
  }
  return true;
}

// ---- Txn ----

Txn::~Txn() = default;

void Txn::Put(const std::string& key, const std::string& value) { writes_[key] = value; }
void Txn::Delete(const std::string& key) { writes_[key] = std::nullopt; }

Result<std::optional<std::string>> Txn::Get(const std::string& key) {
  if (auto it = writes_.find(key); it != writes_.end()) return it->second;
  auto deadline = std::chrono::steady_clock::now() + client_.options_.timeout;
  Backoff backoff(deadline);
  kvrpcpb::GetRequest req;
  req.set_key(key);
  req.set_version(start_ts_);
  while (true) {
    TKV_ASSIGN_OR_RETURN(auto r, (client_.Send<kvrpcpb::GetRequest, kvrpcpb::GetResponse>(
                                     RouteKey(key), req, false, deadline)));
    kvrpcpb::GetResponse& resp = r.first;
    if (!resp.has_error()) {
      if (resp.not_found()) return std::optional<std::string>();
      return std::optional<std::string>(std::move(*resp.mutable_value()));
    }
    if (!resp.error().has_locked()) return Status::Internal(Describe(resp.error()));
    TKV_ASSIGN_OR_RETURN(bool gone, client_.ResolveLock(resp.error().locked(), deadline));
    if (!backoff.Wait(gone, false)) {
      return Status::Aborted("a lock did not go away in time: " + Describe(resp.error()));
    }
  }
}

Result<std::vector<KvPair>> Txn::Scan(const std::string& start, const std::string& end,
                                      uint32_t limit) {
  auto deadline = std::chrono::steady_clock::now() + client_.options_.timeout;
  Backoff backoff(deadline);
  auto in_range = [&](const std::string& k) { return k >= start && (end.empty() || k < end); };
  // Own writes in range can hide or replace at most that many stored pairs.
  uint32_t own = 0;
  for (auto it = writes_.lower_bound(start); it != writes_.end() && in_range(it->first); ++it) ++own;
  const uint32_t want = limit + own;
  const std::string end_enc = end.empty() ? "" : RouteKey(end);
  const uint32_t batch = 1024;

  std::vector<KvPair> stored;
  std::string cur = start;
  std::string route_key = RouteKey(start);
  bool finished = false;
  while (!finished && stored.size() < want) {
    kvrpcpb::ScanRequest req;
    req.set_start_key(cur);
    uint32_t ask = std::min<uint32_t>(want - static_cast<uint32_t>(stored.size()), batch);
    req.set_limit(ask);
    req.set_version(start_ts_);
    TKV_ASSIGN_OR_RETURN(auto r, (client_.Send<kvrpcpb::ScanRequest, kvrpcpb::ScanResponse>(
                                     route_key, req, false, deadline)));
    auto& [resp, route] = r;
    bool retry_here = false;
    for (auto& kv : *resp.mutable_pairs()) {
      if (!in_range(kv.key())) {
        finished = true;
        break;
      }
      if (kv.has_error()) {
        if (!kv.error().has_locked()) return Status::Internal(Describe(kv.error()));
        TKV_ASSIGN_OR_RETURN(bool gone, client_.ResolveLock(kv.error().locked(), deadline));
        if (!backoff.Wait(gone, false)) {
          return Status::Aborted("a lock did not go away in time: " + Describe(kv.error()));
        }
        cur = kv.key();
        route_key = RouteKey(cur);
        retry_here = true;
        break;
      }
      stored.push_back(KvPair{std::move(*kv.mutable_key()), std::move(*kv.mutable_value())});
    }
    if (finished || retry_here) continue;
    if (static_cast<uint32_t>(resp.pairs_size()) == ask) {
      cur = stored.back().key + std::string(1, '\0');  // the region may hold more
      route_key = RouteKey(cur);
      continue;
    }
    // This region is exhausted: go on in the next one (the server starts
    // at its first key when `cur` is before it).
    const std::string& region_end = route.region.end_key();
    if (region_end.empty() || (!end_enc.empty() && region_end >= end_enc)) break;
    route_key = region_end;
  }
  // Merge in this transaction's own writes.
  std::map<std::string, std::string> merged;
  for (auto& kv : stored) merged.emplace(std::move(kv.key), std::move(kv.value));
  for (auto it = writes_.lower_bound(start); it != writes_.end() && in_range(it->first); ++it) {
    if (it->second) {
      merged[it->first] = *it->second;
    } else {
      merged.erase(it->first);
    }
  }
  std::vector<KvPair> out;
  for (auto& [k, v] : merged) {
    if (out.size() >= limit) break;
    out.push_back(KvPair{k, std::move(v)});
  }
  return out;
}

Status Txn::Prewrite() {
  if (done_) return Status::InvalidArgument("the transaction has ended");
  if (writes_.empty()) {
    prewritten_ = true;
    return Status::OK();
  }
  auto deadline = std::chrono::steady_clock::now() + client_.options_.timeout;
  std::vector<std::string> keys;
  keys.reserve(writes_.size());
  for (const auto& [k, v] : writes_) keys.push_back(k);
  primary_ = keys.front();
  Status s = client_.ForEachGroup(
      keys, primary_, deadline, [&](const RegionRoute& route, const std::vector<std::string>& group) {
        kvrpcpb::PrewriteRequest req;
        for (const auto& k : group) {
          auto* m = req.add_mutations();
          const auto& v = writes_.at(k);
          m->set_op(v ? kvrpcpb::Put : kvrpcpb::Del);
          m->set_key(k);
          if (v) m->set_value(*v);
        }
        req.set_primary_lock(primary_);
        req.set_start_version(start_ts_);
        // A lock's TTL counts from the start ts: add the time since then,
        // so that a transaction slow to prewrite still gets its full TTL.
        req.set_lock_ttl(client_.options_.lock_ttl_ms + ElapsedMs());
        kvrpcpb::PrewriteResponse resp;
        Attempt a = client_.raw_.Try(route, req, resp, true, deadline);
        if (a.next != Next::kDone || resp.errors_size() == 0) return a;
        bool all_gone = true;
        for (const auto& e : resp.errors()) {
          if (!e.has_locked()) return Attempt{Next::kFail, Status::Aborted(Describe(e))};
        }
        for (const auto& e : resp.errors()) {
          auto gone = client_.ResolveLock(e.locked(), deadline);
          if (!gone.ok()) return Attempt{Next::kFail, gone.status()};
          all_gone = all_gone && *gone;
        }
        return Attempt{all_gone ? Next::kRetryNow : Next::kRetryLater,
                       Status::Aborted("locked: " + Describe(resp.errors(0)))};
      });
  prewritten_ = true;
  if (!s.ok()) {
    // Not committed, and now never will be: the primary's commit was not
    // sent. Take the locks away so that readers need not wait for them.
    Status rb = Rollback();
    done_ = true;
    if (IsOutcomeUnknown(s) || s.code() == Code::kUnavailable) {
      return Status::Aborted("prewrite failed, the transaction was rolled back: " + s.message() +
                             (rb.ok() ? "" : " (rollback: " + rb.message() + ")"));
    }
    return s;
  }
  return Status::OK();
}

Status Txn::CommitPrimary() {
  if (writes_.empty()) {
    done_ = true;
    return Status::OK();
  }
  if (!prewritten_ || done_) return Status::InvalidArgument("commit of a transaction not prewritten");
  TKV_ASSIGN_OR_RETURN(commit_ts_, client_.raw_.scheduler().GetTimestamp());
  auto deadline = std::chrono::steady_clock::now() + client_.options_.timeout;
  kvrpcpb::CommitRequest req;
  req.set_start_version(start_ts_);
  req.add_keys(primary_);
  req.set_commit_version(commit_ts_);
  Status unknown;
  while (true) {
    auto r = client_.Send<kvrpcpb::CommitRequest, kvrpcpb::CommitResponse>(RouteKey(primary_), req,
                                                                            true, deadline);
    if (r.ok()) {
      done_ = true;
      if (!r->first.has_error()) {
        committed_ = true;
        return Status::OK();
      }
      // Rolled back by a reader (the locks had expired) or lock not found:
      // not committed.
      // (Also after an attempt whose outcome was unknown: had it committed,
      // its commit record would answer this retry with OK.)
      return Status::Aborted("not committed: " + Describe(r->first.error()));
    }
    if (!IsOutcomeUnknown(r.status())) {
      if (!unknown.ok()) break;  // an earlier attempt's outcome is unknown
      if (r.status().code() == Code::kUnavailable) {
        // Nothing reached a store: not committed. Take the locks away (best
        // effort; readers roll back what is left once the TTL passes).
        Status rb = Rollback();
        return Status::Aborted("the primary key could not be committed: " + r.status().message() +
                               (rb.ok() ? "" : " (rollback: " + rb.message() + ")"));
      }
      return r.status();
    }
    unknown = r.status();
    // Committing is idempotent: ask again, the answer settles the outcome.
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  done_ = true;
  return Status::DeadlineExceeded("outcome unknown: the commit of the primary key was sent and not "
                                  "answered in time: " + unknown.message());
}

Status Txn::CommitSecondaries() {
  if (writes_.size() <= 1 || commit_ts_ == 0) return Status::OK();
  auto deadline = std::chrono::steady_clock::now() + client_.options_.timeout;
  std::vector<std::string> keys;
  for (const auto& [k, v] : writes_) {
    if (k != primary_) keys.push_back(k);
  }
  return client_.ForEachGroup(
      keys, "", deadline, [&](const RegionRoute& route, const std::vector<std::string>& group) {
        kvrpcpb::CommitRequest req;
        req.set_start_version(start_ts_);
        for (const auto& k : group) req.add_keys(k);
        req.set_commit_version(commit_ts_);
        kvrpcpb::CommitResponse resp;
        Attempt a = client_.raw_.Try(route, req, resp, true, deadline);
        if (a.next == Next::kDone && resp.has_error()) {
          return Attempt{Next::kFail, Status::Internal(Describe(resp.error()))};
        }
        return a;
      });
}

Status Txn::Commit() {
  TKV_RETURN_IF_ERROR(Prewrite());
  TKV_RETURN_IF_ERROR(CommitPrimary());
  // Committed. What is left of the secondaries' locks, readers resolve.
  (void)CommitSecondaries();
  return Status::OK();
}

uint64_t Txn::ElapsedMs() const {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now() - began_)
                                   .count());
}

Status Txn::Rollback() {
  Status s;
  // Safe whenever the primary is not known to be committed: the rollback of
  // a committed key is refused (abort), so it never undoes a commit.
  if (prewritten_ && !committed_ && !writes_.empty()) {
    auto deadline = std::chrono::steady_clock::now() + client_.options_.timeout;
    std::vector<std::string> keys;
    for (const auto& [k, v] : writes_) keys.push_back(k);
    s = client_.ForEachGroup(
        keys, "", deadline, [&](const RegionRoute& route, const std::vector<std::string>& group) {
          kvrpcpb::BatchRollbackRequest req;
          req.set_start_version(start_ts_);
          for (const auto& k : group) req.add_keys(k);
          kvrpcpb::BatchRollbackResponse resp;
          Attempt a = client_.raw_.Try(route, req, resp, true, deadline);
          if (a.next == Next::kDone && resp.has_error()) {
            return Attempt{Next::kFail, Status::Aborted(Describe(resp.error()))};
          }
          return a;
        });
  }
  done_ = true;
  return s;
}

}  // namespace tinykv::client
