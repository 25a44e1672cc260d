#include "raftstore/runner.h"

#include <chrono>

#include "raftstore/store.h"

namespace tinykv::raftstore {

namespace {
// A worker without a deadline still looks around this often (a missed
// wake-up costs at most this much latency, never a hang).
constexpr uint64_t kIdleWaitMs = 1000;
}  // namespace

StoreRunner::StoreRunner(Store& store, const Clock& clock) : store_(store), clock_(clock) {}

StoreRunner::~StoreRunner() { Stop(); }

void StoreRunner::Start() {
  store_.SetNotify([this] { Wake(); });
  threads_.emplace_back([this] {
    Loop([this] { return store_.RunOnce(); }, [this] { return store_.NextTickMs(); });
  });
  threads_.emplace_back([this] { Loop([this] { return store_.applier().RunOnce(); }, nullptr); });
  threads_.emplace_back(
      [this] { Loop([this] { return store_.RunSnapshotWorkerOnce(); }, nullptr); });
  threads_.emplace_back([this] { Loop([this] { return store_.RunGcWorkerOnce(); }, nullptr); });
}

void StoreRunner::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
  store_.SetNotify(nullptr);
}

void StoreRunner::Wake() {
  {
    std::lock_guard lock(mu_);
    ++wakeups_;
  }
  cv_.notify_all();
}

void StoreRunner::Loop(const std::function<bool()>& run_once,
                       const std::function<uint64_t()>& next_due_ms) {
  while (true) {
    uint64_t seen;
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
      seen = wakeups_;
    }
    if (run_once()) continue;
    uint64_t wait_ms = kIdleWaitMs;
    if (next_due_ms) {
      uint64_t due = next_due_ms(), now = clock_.NowMs();
      wait_ms = due > now ? std::min(due - now, kIdleWaitMs) : 0;
    }
    if (wait_ms == 0) continue;
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(wait_ms),
                 [&] { return stop_ || wakeups_ != seen; });
  }
}

}  // namespace tinykv::raftstore
