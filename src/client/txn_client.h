// Transactions on a TinyKV cluster (Percolator, as TiKV's clients run it):
// snapshot isolation across regions and stores. docs/transactions.md has
// the protocol and what each error means for an application.
//
//   auto client = TxnClient::Connect("127.0.0.1:2379");
//   auto txn = (*client)->Begin();            // start ts from the TSO
//   auto v = (*txn)->Get("a");                // reads at the start ts
//   (*txn)->Put("b", "1");                    // buffered until Commit
//   Status s = (*txn)->Commit();
//
// Reads see the snapshot of the start ts, plus the transaction's own
// writes. A read that meets another transaction's lock resolves it: it asks
// the lock's primary key for the transaction's fate, commits or rolls back
// the lock accordingly (an expired lock is rolled back), or waits, with
// backoff, while the lock is alive.
//
// Commit: prewrite every key (grouped by region, the primary's group
// first), get a commit ts from the TSO, commit the primary key (the
// transaction is committed the moment that succeeds), then the other keys.
// Results of Commit:
//   OK                  committed.
//   kAborted            not committed, and never will be: a write conflict
//                       (IsWriteConflict) or a lock that did not go away
//                       in time. Run the transaction again.
//   kDeadlineExceeded   outcome unknown (IsOutcomeUnknown): the primary's
//                       commit was sent and no answer came in time. Read
//                       the keys later to find out.
//   kInvalidArgument... the transaction is wrong (too large a key, ...).
//
// A transaction is used by one thread at a time; different transactions
// and the TxnClient may be used concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "client/raw_client.h"

namespace tinykv::client {

struct TxnOptions {
  // Time to live of a transaction's locks, from the prewrite: a lock older
  // than this (in the TSO's physical time) may be rolled back by a reader
  // that meets it. (The lock records it counted from the start ts: the
  // time since Begin is added.)
  uint64_t lock_ttl_ms = 3000;
  // Whole operation (a read, a commit), retries and lock waits included.
  std::chrono::milliseconds timeout{20000};
  // Mutations per prewrite request, keys per commit request.
  uint32_t max_batch_keys = 256;
};

inline bool IsWriteConflict(const Status& s) {
  return s.code() == Code::kAborted && s.message().rfind("write conflict", 0) == 0;
}

class TxnClient;

class Txn {
 public:
  ~Txn();
  uint64_t start_ts() const { return start_ts_; }

  // The value at the start ts (or as this transaction wrote it).
  Result<std::optional<std::string>> Get(const std::string& key);
  // Up to `limit` pairs with start <= key < end ("" end: no end), ascending.
  Result<std::vector<KvPair>> Scan(const std::string& start, const std::string& end,
                                   uint32_t limit);
  void Put(const std::string& key, const std::string& value);
  void Delete(const std::string& key);

  Status Commit();
  // Forgets the buffered writes; also rolls back what a failed Commit left.
  Status Rollback();

  // ---- Commit in steps (tests use them to stop a client half-way) ----
  // Prewrites every key. On failure the keys are rolled back (best effort).
  Status Prewrite();
  // Gets the commit ts and commits the primary key: once OK, committed.
  Status CommitPrimary();
  // Commits the other keys (best effort: readers resolve what is left).
  Status CommitSecondaries();
  const std::string& primary() const { return primary_; }
  uint64_t commit_ts() const { return commit_ts_; }

 private:
  friend class TxnClient;
  Txn(TxnClient& client, uint64_t start_ts)
      : client_(client), start_ts_(start_ts), began_(std::chrono::steady_clock::now()) {}
  uint64_t ElapsedMs() const;

  TxnClient& client_;
  const uint64_t start_ts_;
  const std::chrono::steady_clock::time_point began_;
  uint64_t commit_ts_ = 0;
  // Buffered writes, by key; nullopt is a delete.
  std::map<std::string, std::optional<std::string>> writes_;
  std::string primary_;
  bool prewritten_ = false;
  bool committed_ = false;  // the primary's commit was acknowledged
  bool done_ = false;
};

class TxnClient {
 public:
  static Result<std::unique_ptr<TxnClient>> Connect(const std::string& scheduler_address,
                                                    RawClientOptions raw = {},
                                                    TxnOptions options = {});
  // On an existing raw client (shares its connections and region cache).
  TxnClient(RawClient& raw, TxnOptions options);
  ~TxnClient();

  Result<std::unique_ptr<Txn>> Begin();
  const TxnOptions& options() const { return options_; }
  RawClient& raw() { return raw_; }

 private:
  friend class Txn;
  using Deadline = std::chrono::steady_clock::time_point;

  // One request on the region holding engine key `route_key`, retried on
  // region errors until done or the deadline.
  template <typename Req, typename Resp>
  Result<std::pair<Resp, RegionRoute>> Send(const std::string& route_key, Req req, bool is_write,
                                            Deadline deadline);
  // Deals with a lock met by a reader or a prewrite. Returns whether it is
  // gone (resolved); false: it is alive, back off.
  Result<bool> ResolveLock(const kvrpcpb::LockInfo& lock, Deadline deadline);
  // Runs `per_region(route, keys)` on each region's share of the sorted
  // keys, `first` (if not empty) first.
  template <typename Fn>
  Status ForEachGroup(const std::vector<std::string>& keys, const std::string& first,
                      Deadline deadline, Fn per_region);

  std::unique_ptr<RawClient> owned_raw_;
  RawClient& raw_;
  const TxnOptions options_;
};

}  // namespace tinykv::client
