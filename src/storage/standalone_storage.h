// StandaloneStorage: Storage on a single local Engine, without replication.
//
// Writes are group-committed: a writer thread takes every batch queued since
// its last round, applies them as one engine write with one sync, then runs
// their callbacks. One fsync thus serves many concurrent clients (see
// ../shared/performance.md: the sync costs the same for 1 or 100 records).
//
// Backpressure: when the queued writes hold more than max_pending_bytes, new
// writes fail at once with kBusy instead of queueing without bound.
#pragma once

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "storage/storage.h"

namespace tinykv::storage {

struct StandaloneOptions {
  // Sync each group of writes before acknowledging it.
  bool sync_writes = true;
  // Bytes of queued, not yet written batches above which writes get kBusy.
  size_t max_pending_bytes = 64u << 20;
};

class StandaloneStorage final : public Storage {
 public:
  // `engine` must outlive this object.
  StandaloneStorage(Engine& engine, StandaloneOptions options);
  // Stops (see Stop()).
  ~StandaloneStorage() override;

  StandaloneStorage(const StandaloneStorage&) = delete;
  StandaloneStorage& operator=(const StandaloneStorage&) = delete;

  void AsyncWrite(WriteBatch batch, WriteCallback done) override;
  void AsyncSnapshot(SnapshotCallback done) override;

  // Completes every queued write, then refuses new ones with kUnavailable.
  // Idempotent.
  void Stop();

 private:
  struct Pending {
    WriteBatch batch;
    WriteCallback done;
  };

  void WriterLoop();

  Engine& engine_;
  const StandaloneOptions options_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Pending> queue_;  // guarded by mu_
  size_t pending_bytes_ = 0;    // guarded by mu_; bytes in queue_ and in the current round
  bool stopping_ = false;       // guarded by mu_
  std::thread writer_;
};

}  // namespace tinykv::storage
