// The MVCC layer: reading versions of transactional keys from an engine
// snapshot (MvccReader, Scanner) and staging a transaction's changes
// (MvccTxn). Keys given to these classes are user keys; the engine layout is
// in txn/keys.h. Nothing here locks or writes: the command layer latches the
// keys (txn/latches.h), reads a snapshot, runs the actions (txn/actions.h)
// and writes MvccTxn's batch as one atomic write.
//
// Thread safety: none; a reader and a scanner are used by one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "kvrpcpb.pb.h"
#include "storage/engine.h"
#include "txn/records.h"

namespace tinykv::txn {

// A write record and the commit ts it is stored at.
struct CommittedWrite {
  Write write;
  uint64_t commit_ts = 0;
};

struct KeyLock {
  std::string user_key;
  Lock lock;
};

class MvccReader {
 public:
  // `snapshot` must outlive the reader.
  explicit MvccReader(const storage::Snapshot& snapshot) : snapshot_(snapshot) {}

  // The lock on `key`, if any.
  Result<std::optional<Lock>> GetLock(std::string_view key) const;
  // The value a reader at `ts` sees: that of the newest Put committed at or
  // before ts; none when that is a Delete or there is none. Rollback and
  // Lock records are looked past.
  Result<std::optional<std::string>> GetValue(std::string_view key, uint64_t ts) const;
  // The write record of the transaction that started at start_ts (a commit
  // or a rollback), with its commit ts.
  Result<std::optional<CommittedWrite>> CurrentWrite(std::string_view key,
                                                     uint64_t start_ts) const;
  // The newest write record of `key`, whatever its ts or kind.
  Result<std::optional<CommittedWrite>> MostRecentWrite(std::string_view key) const;
  // Up to `limit` locks of the transaction started at start_ts whose engine
  // keys are in [lower, upper) (engine keys: a region's range; empty upper:
  // no bound), in key order. `more` says whether the scan stopped at the
  // limit; `resume` is then the engine key to continue from.
  struct LockScan {
    std::vector<KeyLock> locks;
    bool more = false;
    std::string resume;
  };
  Result<LockScan> LocksOf(uint64_t start_ts, const std::string& lower, const std::string& upper,
                           size_t limit) const;

  const storage::Snapshot& snapshot() const { return snapshot_; }

 private:
  storage::Iterator& WriteIter() const;

  const storage::Snapshot& snapshot_;
  mutable std::unique_ptr<storage::Iterator> write_it_;
};

// A transaction's staged changes: what one command will write, atomically.
class MvccTxn {
 public:
  MvccTxn(const MvccReader& reader, uint64_t start_ts) : reader_(reader), start_ts_(start_ts) {}

  const MvccReader& reader() const { return reader_; }
  uint64_t start_ts() const { return start_ts_; }

  void PutLock(std::string_view key, const Lock& lock);
  void DeleteLock(std::string_view key);
  // The value this transaction writes (at start_ts).
  void PutValue(std::string_view key, std::string_view value);
  void DeleteValue(std::string_view key);
  void PutWrite(std::string_view key, uint64_t commit_ts, const Write& write);

  const storage::WriteBatch& batch() const { return batch_; }
  storage::WriteBatch TakeBatch() { return std::move(batch_); }
  // The user keys written, in the order first written (for latch checks).
  const std::vector<std::string>& written_keys() const { return written_; }

 private:
  void Touch(std::string_view key);

  const MvccReader& reader_;
  uint64_t start_ts_;
  storage::WriteBatch batch_;
  std::vector<std::string> written_;
};

// The keys visible at `ts` from start_key on, in order: each key with its
// value, or with the lock that hides it (a lock with ts <= the read ts, of
// a kind that may carry a value). Deleted keys are skipped.
class Scanner {
 public:
  struct Item {
    std::string key;
    std::string value;
    std::optional<kvrpcpb::LockInfo> locked;  // set: value is empty
  };

  // Engine key bounds (a region's range); an empty `upper` is unbounded.
  // `snapshot` must outlive the scanner.
  Scanner(const storage::Snapshot& snapshot, std::string_view start_key, uint64_t ts,
          const std::string& lower, const std::string& upper);

  // The next item, or none at the end.
  Result<std::optional<Item>> Next();

 private:
  const storage::Snapshot& snapshot_;
  uint64_t ts_;
  std::unique_ptr<storage::Iterator> lock_it_;
  std::unique_ptr<storage::Iterator> write_it_;
};

}  // namespace tinykv::txn
