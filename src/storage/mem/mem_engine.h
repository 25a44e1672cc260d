// MemEngine: an in-memory Engine for tests and the deterministic simulator.
//
// Every write batch gets a sequence number; each key keeps the versions that a
// live snapshot or a possible crash may still need, so snapshots are
// consistent and unsynced writes can be forgotten.
//
// Durability model (that of a write-ahead log): a write is durable once a sync
// write or Sync() has covered it. SimulateCrash() forgets the writes that are
// not durable, except, optionally, a prefix of them: a log may lose its tail
// but never a write in the middle.
#pragma once

#include <memory>

#include "storage/engine.h"

namespace tinykv::storage {

namespace internal {
struct MemEngineState;  // defined in mem_engine.cc
}  // namespace internal

class MemEngine final : public Engine {
 public:
  MemEngine();
  // REQUIRES: no live snapshot or iterator.
  ~MemEngine() override;

  MemEngine(const MemEngine&) = delete;
  MemEngine& operator=(const MemEngine&) = delete;

  Status Write(const WriteBatch& batch, const WriteOptions& options) override;
  Status Sync() override;
  std::unique_ptr<Snapshot> NewSnapshot() override;
  Result<std::optional<std::string>> Get(Cf cf, std::string_view key) override;

  // Forgets every write that is not durable, except the oldest `keep_unsynced`
  // of them, which are treated as having reached the disk before the crash.
  // Afterwards the engine holds exactly what a restart would find, and all of
  // it is durable.
  // REQUIRES: no live snapshot or iterator (the process holding them is gone).
  void SimulateCrash(size_t keep_unsynced = 0);

  // Number of write batches that a crash would lose now.
  size_t UnsyncedWriteCount() const;

  // Number of key versions held, including the ones kept for snapshots and
  // crashes (to test that they are released).
  size_t VersionCountForTesting() const;

 private:
  std::shared_ptr<internal::MemEngineState> state_;
};

}  // namespace tinykv::storage
