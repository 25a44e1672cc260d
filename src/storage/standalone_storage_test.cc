#include "storage/standalone_storage.h"

#include <gtest/gtest.h>

#include <future>
#include <latch>

#include "storage/mem/mem_engine.h"

namespace tinykv::storage {
namespace {

// A MemEngine whose writes can be held at a gate, so that tests decide when
// the writer thread's round ends (no sleeps). Counts writes and their sizes.
class GatedEngine final : public Engine {
 public:
  Status Write(const WriteBatch& batch, const WriteOptions& options) override {
    {
      std::unique_lock lock(mu_);
      ++writes_started_;
      cv_.notify_all();
      cv_.wait(lock, [&] { return open_; });
      batch_sizes_.push_back(batch.Count());
      syncs_ += options.sync;
      if (!fail_with_.ok()) return fail_with_;
    }
    return mem_.Write(batch, options);
  }
  Status Sync() override { return mem_.Sync(); }
  std::unique_ptr<Snapshot> NewSnapshot() override { return mem_.NewSnapshot(); }
  Result<std::optional<std::string>> Get(Cf cf, std::string_view key) override {
    return mem_.Get(cf, key);
  }

  void Close() {
    std::lock_guard lock(mu_);
    open_ = false;
  }
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void WaitForWritesStarted(int n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return writes_started_ >= n; });
  }
  void FailWith(Status s) {
    std::lock_guard lock(mu_);
    fail_with_ = std::move(s);
  }
  std::vector<size_t> batch_sizes() {
    std::lock_guard lock(mu_);
    return batch_sizes_;
  }
  int syncs() {
    std::lock_guard lock(mu_);
    return syncs_;
  }

 private:
  MemEngine mem_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
  int writes_started_ = 0;
  int syncs_ = 0;
  std::vector<size_t> batch_sizes_;
  Status fail_with_;
};

WriteBatch PutBatch(std::string k, std::string v) {
  WriteBatch b;
  b.Put(Cf::kDefault, k, v);
  return b;
}

std::future<Status> Write(Storage& s, WriteBatch b) {
  auto p = std::make_shared<std::promise<Status>>();
  auto f = p->get_future();
  s.AsyncWrite(std::move(b), [p](Status st) { p->set_value(std::move(st)); });
  return f;
}

std::unique_ptr<Snapshot> TakeSnapshot(Storage& s) {
  std::unique_ptr<Snapshot> out;
  s.AsyncSnapshot([&](Result<std::unique_ptr<Snapshot>> r) { out = std::move(r).value(); });
  return out;
}

TEST(StandaloneStorageTest, AcknowledgedWriteIsVisibleAndSynced) {
  GatedEngine engine;
  StandaloneStorage storage(engine, {});
  ASSERT_TRUE(Write(storage, PutBatch("k", "v")).get().ok());
  EXPECT_EQ(*TakeSnapshot(storage)->Get(Cf::kDefault, "k"), "v");
  EXPECT_EQ(engine.syncs(), 1);
}

TEST(StandaloneStorageTest, NoSyncWhenDisabled) {
  GatedEngine engine;
  StandaloneStorage storage(engine, StandaloneOptions{.sync_writes = false});
  ASSERT_TRUE(Write(storage, PutBatch("k", "v")).get().ok());
  EXPECT_EQ(engine.syncs(), 0);
}

TEST(StandaloneStorageTest, QueuedWritesShareOneEngineWrite) {
  GatedEngine engine;
  StandaloneStorage storage(engine, {});
  engine.Close();
  auto first = Write(storage, PutBatch("first", "1"));
  engine.WaitForWritesStarted(1);  // the writer is now held inside round 1
  std::vector<std::future<Status>> rest;
  for (int i = 0; i < 10; ++i)
    rest.push_back(Write(storage, PutBatch("k" + std::to_string(i), "v")));
  engine.Open();
  EXPECT_TRUE(first.get().ok());
  for (auto& f : rest) EXPECT_TRUE(f.get().ok());
  // Round 1 held one batch; round 2 took all ten queued behind it.
  EXPECT_EQ(engine.batch_sizes(), (std::vector<size_t>{1, 10}));
  auto snap = TakeSnapshot(storage);
  for (int i = 0; i < 10; ++i)
    EXPECT_TRUE(snap->Get(Cf::kDefault, "k" + std::to_string(i))->has_value());
}

TEST(StandaloneStorageTest, BusyWhenTooMuchIsQueued) {
  GatedEngine engine;
  StandaloneStorage storage(engine, StandaloneOptions{.max_pending_bytes = 100});
  engine.Close();
  auto first = Write(storage, PutBatch("a", std::string(60, 'x')));
  engine.WaitForWritesStarted(1);
  Status busy = Write(storage, PutBatch("b", std::string(60, 'x'))).get();
  EXPECT_EQ(busy.code(), Code::kBusy) << busy;
  auto small = Write(storage, PutBatch("c", "x"));
  engine.Open();
  EXPECT_TRUE(first.get().ok());
  EXPECT_TRUE(small.get().ok());
  // Once drained, a big write is accepted again.
  EXPECT_TRUE(Write(storage, PutBatch("b", std::string(60, 'x'))).get().ok());
}

TEST(StandaloneStorageTest, OversizedBatchAcceptedWhenQueueIsEmpty) {
  GatedEngine engine;
  StandaloneStorage storage(engine, StandaloneOptions{.max_pending_bytes = 10});
  EXPECT_TRUE(Write(storage, PutBatch("a", std::string(100, 'x'))).get().ok());
}

TEST(StandaloneStorageTest, EngineErrorReachesEveryWriterOfTheRound) {
  GatedEngine engine;
  StandaloneStorage storage(engine, {});
  engine.FailWith(Status::IOError("disk on fire"));
  Status s = Write(storage, PutBatch("k", "v")).get();
  EXPECT_EQ(s.code(), Code::kIOError);
  EXPECT_FALSE(TakeSnapshot(storage)->Get(Cf::kDefault, "k")->has_value());
}

TEST(StandaloneStorageTest, StopFinishesQueuedWritesThenRefuses) {
  GatedEngine engine;
  StandaloneStorage storage(engine, {});
  engine.Close();
  auto first = Write(storage, PutBatch("a", "1"));
  engine.WaitForWritesStarted(1);
  auto second = Write(storage, PutBatch("b", "2"));
  std::thread stopper([&] { storage.Stop(); });
  engine.Open();
  stopper.join();
  EXPECT_TRUE(first.get().ok());
  EXPECT_TRUE(second.get().ok());
  EXPECT_EQ(*engine.Get(Cf::kDefault, "b"), "2");
  EXPECT_EQ(Write(storage, PutBatch("c", "3")).get().code(), Code::kUnavailable);
}

}  // namespace
}  // namespace tinykv::storage
