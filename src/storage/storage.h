// Storage: the store's data as request handlers (raw KV now, transactions
// later) see it: asynchronous atomic writes and consistent snapshots.
//
// StandaloneStorage implements it on one local Engine; the replicated store
// will implement it on Raft, where a write completes once it is committed and
// applied, and a snapshot once a ReadIndex round confirms leadership. Handlers
// are written once against this interface.
//
// Thread safety: all methods may be called from any thread. Callbacks run on
// an internal thread, or inline on the calling thread; they must not block.
#pragma once

#include <functional>
#include <memory>

#include "common/result.h"
#include "storage/engine.h"

namespace tinykv::storage {

class Storage {
 public:
  using WriteCallback = std::function<void(Status)>;
  using SnapshotCallback = std::function<void(Result<std::unique_ptr<Snapshot>>)>;

  virtual ~Storage() = default;

  // Applies `batch` atomically. `done` runs exactly once: with OK when the
  // batch is visible to every later snapshot (and durable, as configured), or
  // with an error when it was not and will not be applied.
  virtual void AsyncWrite(WriteBatch batch, WriteCallback done) = 0;

  // `done` runs exactly once with a snapshot that reflects every write whose
  // callback ran with OK before this call.
  virtual void AsyncSnapshot(SnapshotCallback done) = 0;
};

}  // namespace tinykv::storage
