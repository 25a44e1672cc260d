// The Percolator actions, per key, as pure functions of an MVCC snapshot:
// each reads through the transaction's reader and stages its changes in the
// MvccTxn; the caller writes the batch (or drops it, when any key of the
// command failed). docs/transactions.md describes the protocol; the rules
// are those of the TinyKV course's parts 4B and 4C, as TiKV applies them.
//
// Results: a KeyError for the client (nullopt: done), or a non-OK Status
// when the engine failed or its data is corrupt (nothing may be written).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "kvrpcpb.pb.h"
#include "txn/mvcc.h"

namespace tinykv::txn {

using KeyResult = Result<std::optional<kvrpcpb::KeyError>>;

// A read at ts: the value, or the lock that stops it (a lock of a
// transaction that started at or before ts and may commit before ts).
struct GetResult {
  std::optional<kvrpcpb::LockInfo> locked;
  std::optional<std::string> value;
};
Result<GetResult> Get(const MvccReader& reader, std::string_view key, uint64_t ts);

// Locks `m.key()` for the transaction and stages its value. Errors: conflict
// (a write committed at or after start ts, or a rollback of this very
// transaction), locked (another transaction's lock), abort for a mutation
// that cannot be prewritten (Op Rollback). A lock of this transaction
// already there is written again (a retried prewrite).
KeyResult Prewrite(MvccTxn& txn, const kvrpcpb::Mutation& m, std::string_view primary,
                   uint64_t ttl_ms);

// Turns this transaction's lock on `key` into a write record at commit_ts.
// Already committed: done. Rolled back: abort. Another transaction's lock:
// retryable. Neither lock nor record: abort ("lock not found"; the course
// answers OK here, which would report a commit that never happened).
KeyResult Commit(MvccTxn& txn, std::string_view key, uint64_t commit_ts);

// Removes this transaction's lock and value on `key` and writes a rollback
// record (also when there is no lock, or another transaction's, which
// stays: the record stops a late prewrite). Committed: abort. Already
// rolled back: nothing to do.
KeyResult Rollback(MvccTxn& txn, std::string_view key);

// The state of the transaction whose primary key is `primary` (started at
// txn.start_ts()), deciding it when it can be: an expired primary lock is
// rolled back (TTLExpireRollback); no lock and no record gets a rollback
// record (LockNotExistRollback). A live lock: NoAction and its ttl; a
// commit: its commit ts; a rollback: NoAction, both zero.
struct TxnStatus {
  uint64_t lock_ttl = 0;
  uint64_t commit_ts = 0;
  kvrpcpb::Action action = kvrpcpb::NoAction;
};
Result<TxnStatus> CheckTxnStatus(MvccTxn& txn, std::string_view primary, uint64_t current_ts);

}  // namespace tinykv::txn
