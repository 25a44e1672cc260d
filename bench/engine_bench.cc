// Engine and StandaloneStorage micro-benchmarks: what a write costs with and
// without fsync, and how far group commit stretches one fsync.
//
//   build/release/bench/engine_bench [--benchmark_filter=Storage]
// Writes go to a fresh directory under $TMPDIR (default /tmp), removed at exit.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <future>
#include <string>

#include "storage/mem/mem_engine.h"
#include "storage/rocks/rocks_engine.h"
#include "storage/standalone_storage.h"

namespace tinykv::storage {
namespace {

std::string BenchDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/tinykv-bench-XXXXXX";
  TKV_CHECK(mkdtemp(tmpl.data()) != nullptr);
  return tmpl;
}

// One RocksDB per benchmark run, in a directory removed afterwards.
class RocksFixture {
 public:
  RocksFixture() : dir_(BenchDir()) {
    RocksOptions o;
    o.path = dir_ + "/db";
    engine_ = std::move(OpenRocksEngine(o)).value();
  }
  ~RocksFixture() {
    engine_.reset();
    std::filesystem::remove_all(dir_);
  }
  Engine& engine() { return *engine_; }

 private:
  std::string dir_;
  std::unique_ptr<Engine> engine_;
};

std::string Key(int64_t i) {
  char buf[32];
  snprintf(buf, sizeof buf, "key%016lld", static_cast<long long>(i));
  return buf;
}

void BM_RocksPut(benchmark::State& state) {
  RocksFixture f;
  bool sync = state.range(0) != 0;
  std::string value(256, 'v');
  int64_t i = 0;
  for (auto _ : state) {
    WriteBatch b;
    b.Put(Cf::kDefault, Key(i++), value);
    TKV_CHECK(f.engine().Write(b, WriteOptions{.sync = sync}).ok());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(sync ? "fsync each write" : "no fsync");
}
BENCHMARK(BM_RocksPut)->Arg(0)->Arg(1);

void BM_MemPut(benchmark::State& state) {
  MemEngine engine;
  std::string value(256, 'v');
  int64_t i = 0;
  for (auto _ : state) {
    WriteBatch b;
    b.Put(Cf::kDefault, Key(i++ % 100000), value);
    TKV_CHECK(engine.Write(b, WriteOptions{.sync = true}).ok());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MemPut);

void BM_RocksGet(benchmark::State& state) {
  RocksFixture f;
  std::string value(256, 'v');
  constexpr int kKeys = 100000;
  WriteBatch b;
  for (int i = 0; i < kKeys; ++i) b.Put(Cf::kDefault, Key(i), value);
  TKV_CHECK(f.engine().Write(b, {}).ok());
  int64_t i = 0;
  for (auto _ : state) {
    auto v = f.engine().Get(Cf::kDefault, Key((i++ * 7919) % kKeys));
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RocksGet);

// Synced writes through StandaloneStorage from N client threads: each thread
// waits for its write before sending the next (closed loop), so N writes can
// share one fsync.
void BM_StorageSyncedWrite(benchmark::State& state) {
  static RocksFixture* fixture = nullptr;
  static StandaloneStorage* storage = nullptr;
  if (state.thread_index() == 0) {
    fixture = new RocksFixture();
    storage = new StandaloneStorage(fixture->engine(), StandaloneOptions{.sync_writes = true});
  }
  std::string value(256, 'v');
  int64_t i = state.thread_index() * 1'000'000'000LL;
  for (auto _ : state) {
    WriteBatch b;
    b.Put(Cf::kDefault, Key(i++), value);
    std::promise<Status> done;
    storage->AsyncWrite(std::move(b), [&](Status s) { done.set_value(s); });
    TKV_CHECK(done.get_future().get().ok());
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    delete storage;
    delete fixture;
  }
}
BENCHMARK(BM_StorageSyncedWrite)->ThreadRange(1, 64)->UseRealTime();

}  // namespace
}  // namespace tinykv::storage

BENCHMARK_MAIN();
