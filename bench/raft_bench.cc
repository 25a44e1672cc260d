// Propose-to-commit in a 3-node in-memory Raft group, on one thread: what the
// consensus core costs per entry, without disk or network.
//
//   build/release/bench/raft_bench [--benchmark_filter=...]
//
// Each node is a RawNode over a MemoryStorage, driven as a store drives it:
// send messages, persist (append to the storage), send the persisted
// messages, apply, advance. Messages are delivered by stepping the target.
// BM_ProposeOneAtATime waits for each entry to commit on the leader before
// proposing the next (latency-bound); BM_ProposePipelined proposes batches
// of N entries and drives the group until all are committed.
// Counters: entries/s and heap allocations per committed entry (all nodes).
// bench/etcd-raft/ runs the same harness against etcd's raft library.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <deque>
#include <memory>
#include <new>

#include "raft/raw_node.h"

// Counts every heap allocation in the process. (These replace the global
// operators; GCC mistakes free() in them for a mismatched deallocation.)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
static std::atomic<uint64_t> g_allocs{0};
void* operator new(size_t n) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace tinykv::raft {
namespace {

class Group {
 public:
  explicit Group(int n) {
    std::vector<uint64_t> ids;
    for (int i = 1; i <= n; ++i) ids.push_back(i);
    for (uint64_t id : ids) {
      Config c;
      c.id = id;
      c.voters = ids;
      c.election_tick = 10;
      c.heartbeat_tick = 1;
      c.max_size_per_msg = 1 << 20;
      c.max_inflight_msgs = 256;
      c.random_seed = id;
      c.logger = quiet_;
      storages_.push_back(std::make_unique<MemoryStorage>());
      nodes_.push_back(std::move(RawNode::Create(c, storages_.back().get())).value());
    }
    TKV_CHECK(nodes_[0]->Campaign() == Error::kOk);
    Drive();
    TKV_CHECK(nodes_[0]->raft().state() == StateRole::kLeader);
  }

  RawNode& leader() { return *nodes_[0]; }
  uint64_t applied_on_leader() const { return applied_[0]; }

  // Runs every node until nothing is left to do.
  void Drive() {
    bool busy = true;
    while (busy) {
      busy = false;
      for (size_t i = 0; i < nodes_.size(); ++i) {
        RawNode& n = *nodes_[i];
        while (n.HasReady()) {
          busy = true;
          Ready rd = n.GetReady();
          for (auto& m : rd.messages) queue_.push_back(std::move(m));
          storages_[i]->Append(rd.entries);
          if (rd.hard_state) storages_[i]->SetHardState(*rd.hard_state);
          for (auto& m : rd.persisted_messages) queue_.push_back(std::move(m));
          if (!rd.committed_entries.empty()) applied_[i] = rd.committed_entries.back().index();
          n.Advance(rd);
          if (applied_[i]) n.AdvanceApply(applied_[i]);
          // Keep the storage small: what is applied is compacted.
          if (applied_[i] > storages_[i]->FirstIndex() + 4096)
            (void)storages_[i]->Compact(applied_[i] - 1024);
        }
        while (!queue_.empty()) {
          busy = true;
          eraftpb::Message m = std::move(queue_.front());
          queue_.pop_front();
          (void)nodes_[m.to() - 1]->Step(m);
        }
      }
    }
  }

 private:
  std::shared_ptr<spdlog::logger> quiet_ = std::make_shared<spdlog::logger>("bench");  // no sinks
  std::vector<std::unique_ptr<MemoryStorage>> storages_;
  std::vector<std::unique_ptr<RawNode>> nodes_;
  std::deque<eraftpb::Message> queue_;
  uint64_t applied_[8] = {};
};

void Report(benchmark::State& state, uint64_t entries, uint64_t allocs) {
  state.counters["entries/s"] =
      benchmark::Counter(static_cast<double>(entries), benchmark::Counter::kIsRate);
  state.counters["allocs/entry"] = static_cast<double>(allocs) / static_cast<double>(entries);
}

void BM_ProposeOneAtATime(benchmark::State& state) {
  Group g(3);
  std::string payload(256, 'x');
  uint64_t entries = 0;
  uint64_t allocs_before = g_allocs.load();
  for (auto _ : state) {
    uint64_t want = g.applied_on_leader() + 1;
    TKV_CHECK(g.leader().Propose(payload) == Error::kOk);
    g.Drive();
    TKV_CHECK(g.applied_on_leader() >= want);
    ++entries;
  }
  Report(state, entries, g_allocs.load() - allocs_before);
}
BENCHMARK(BM_ProposeOneAtATime);

void BM_ProposePipelined(benchmark::State& state) {
  Group g(3);
  std::string payload(256, 'x');
  const int batch = static_cast<int>(state.range(0));
  uint64_t entries = 0;
  uint64_t allocs_before = g_allocs.load();
  for (auto _ : state) {
    uint64_t want = g.applied_on_leader() + batch;
    for (int i = 0; i < batch; ++i) TKV_CHECK(g.leader().Propose(payload) == Error::kOk);
    g.Drive();
    TKV_CHECK(g.applied_on_leader() >= want);
    entries += batch;
  }
  Report(state, entries, g_allocs.load() - allocs_before);
}
BENCHMARK(BM_ProposePipelined)->Arg(16)->Arg(256);

}  // namespace
}  // namespace tinykv::raft

BENCHMARK_MAIN();
