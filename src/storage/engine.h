// The storage engine interface: an ordered key-value store with column
// families, atomic write batches, consistent snapshots and explicit sync.
//
// Two implementations pass the same conformance suite
// (engine_conformance_test.cc): RocksEngine (storage/rocks, the only code that
// includes RocksDB) and MemEngine (storage/mem, for tests and the simulator; it
// can forget writes that were never synced, as a crashed machine would).
//
// Thread safety: Engine, Snapshot and WriteBatch-taking methods may be called
// from any thread concurrently. An Iterator is used by one thread at a time.
//
// Lifetimes: a Snapshot and every Iterator must be destroyed before the Engine
// that made them (engines check this on destruction). An Iterator keeps its
// Snapshot's view alive, so it may outlive the Snapshot object it came from.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/status.h"

namespace tinykv::storage {

// Column families. default, lock and write hold user data (raw KV uses any of
// them; transactions use all three); meta holds the store's internal state.
enum class Cf : uint8_t { kDefault = 0, kLock = 1, kWrite = 2, kMeta = 3 };

inline constexpr std::array<Cf, 4> kAllCfs = {Cf::kDefault, Cf::kLock, Cf::kWrite, Cf::kMeta};
inline constexpr std::array<Cf, 3> kDataCfs = {Cf::kDefault, Cf::kLock, Cf::kWrite};
inline constexpr size_t kNumCfs = kAllCfs.size();

// "default", "lock", "write", "meta".
std::string_view CfName(Cf cf);
// The inverse of CfName, for all four families.
std::optional<Cf> CfFromName(std::string_view name);

// An ordered list of mutations applied atomically by Engine::Write.
// Later operations on the same key win.
class WriteBatch {
 public:
  enum class OpType : uint8_t { kPut, kDelete, kDeleteRange, kDeleteFrom };
  struct Op {
    OpType type;
    Cf cf;
    std::string key;
    // kPut: the value. kDeleteRange: the exclusive end key. Otherwise empty.
    std::string value;
  };

  void Put(Cf cf, std::string_view key, std::string_view value);
  void Delete(Cf cf, std::string_view key);
  // Deletes every key in [begin, end). REQUIRES: begin <= end.
  void DeleteRange(Cf cf, std::string_view begin, std::string_view end);
  // Deletes every key >= begin.
  void DeleteFrom(Cf cf, std::string_view begin);
  // Moves every operation of `other` to the end of this batch.
  void Append(WriteBatch&& other);
  void Clear();

  const std::vector<Op>& ops() const { return ops_; }
  size_t Count() const { return ops_.size(); }
  bool empty() const { return ops_.empty(); }
  // Bytes of keys and values held (what the batch costs in memory and on the wire).
  size_t ByteSize() const { return byte_size_; }

 private:
  std::vector<Op> ops_;
  size_t byte_size_ = 0;
};

struct WriteOptions {
  // Durable before Write returns: survives a machine crash, not only a process crash.
  bool sync = false;
};

// Iteration bounds: keys in [lower_bound, upper_bound); absent means unbounded.
struct IterOptions {
  std::optional<std::string> lower_bound;
  std::optional<std::string> upper_bound;
};

// A cursor over one column family of a snapshot, in ascending key order.
// key() and value() are valid until the next call that moves the iterator.
class Iterator {
 public:
  virtual ~Iterator() = default;

  virtual void SeekToFirst() = 0;
  virtual void SeekToLast() = 0;
  // Positions at the first key >= target.
  virtual void Seek(std::string_view target) = 0;
  // Positions at the last key <= target.
  virtual void SeekForPrev(std::string_view target) = 0;
  // REQUIRES: Valid().
  virtual void Next() = 0;
  virtual void Prev() = 0;

  virtual bool Valid() const = 0;
  // REQUIRES: Valid().
  virtual std::string_view key() const = 0;
  virtual std::string_view value() const = 0;
  // Not OK if iteration stopped because of an error (Valid() is then false).
  virtual Status status() const = 0;
};

// A consistent, read-only view of the engine at one point in time: writes made
// after it was taken are invisible to it.
class Snapshot {
 public:
  virtual ~Snapshot() = default;

  // nullopt when the key does not exist; a non-OK status only on engine errors.
  virtual Result<std::optional<std::string>> Get(Cf cf, std::string_view key) const = 0;
  virtual std::unique_ptr<Iterator> NewIterator(Cf cf, const IterOptions& options = {}) const = 0;
};

class Engine {
 public:
  virtual ~Engine() = default;

  // Applies every operation of `batch` atomically: a reader or a crash sees
  // all of them or none.
  virtual Status Write(const WriteBatch& batch, const WriteOptions& options) = 0;

  // Makes every write that returned before this call durable.
  virtual Status Sync() = 0;

  virtual std::unique_ptr<Snapshot> NewSnapshot() = 0;

  // Reads the latest value, as a fresh snapshot would.
  virtual Result<std::optional<std::string>> Get(Cf cf, std::string_view key) = 0;
};

}  // namespace tinykv::storage
