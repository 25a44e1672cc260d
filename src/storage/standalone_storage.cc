#include "storage/standalone_storage.h"

#include <fmt/format.h>

namespace tinykv::storage {

StandaloneStorage::StandaloneStorage(Engine& engine, StandaloneOptions options)
    : engine_(engine), options_(options), writer_([this] { WriterLoop(); }) {}

StandaloneStorage::~StandaloneStorage() { Stop(); }

void StandaloneStorage::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (writer_.joinable()) writer_.join();
}

void StandaloneStorage::AsyncWrite(WriteBatch batch, WriteCallback done) {
  Status refused;
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      refused = Status::Unavailable("storage is shutting down");
    } else if (pending_bytes_ > 0 &&
               pending_bytes_ + batch.ByteSize() > options_.max_pending_bytes) {
      // A batch alone over the limit is still accepted when nothing is queued,
      // so that a large (but valid) write cannot be refused forever.
      refused = Status::Busy(fmt::format("{} bytes of writes are queued (limit {})", pending_bytes_,
                                         options_.max_pending_bytes));
    } else {
      pending_bytes_ += batch.ByteSize();
      queue_.push_back(Pending{std::move(batch), std::move(done)});
    }
  }
  if (!refused.ok()) {
    done(std::move(refused));
    return;
  }
  cv_.notify_one();
}

void StandaloneStorage::AsyncSnapshot(SnapshotCallback done) {
  // A write's callback runs only after the engine write returned, so a fresh
  // engine snapshot includes every acknowledged write.
  done(engine_.NewSnapshot());
}

void StandaloneStorage::WriterLoop() {
  std::vector<Pending> round;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything is written
      round.swap(queue_);
    }
    WriteBatch merged;
    size_t bytes = 0;
    for (Pending& p : round) {
      bytes += p.batch.ByteSize();
      merged.Append(std::move(p.batch));
    }
    Status s = engine_.Write(merged, WriteOptions{.sync = options_.sync_writes});
    {
      std::lock_guard lock(mu_);
      pending_bytes_ -= bytes;
    }
    for (Pending& p : round) p.done(s);
    round.clear();
  }
}

}  // namespace tinykv::storage
