#include "raftstore/runner.h"

#include <chrono>

#include "raftstore/store.h"

namespace tinykv::raftstore {

namespace {
// A worker without a deadline still looks around this often (a missed
// wake-up costs at most this much latency, never a hang).
constexpr uint64_t kIdleWaitMs = 1000;
}  // namespace

StoreRunner::StoreRunner(Store& store, const Clock& clock, bool apply_on_poller)
    : store_(store), clock_(clock), apply_on_poller_(apply_on_poller) {}

StoreRunner::~StoreRunner() { Stop(); }

void StoreRunner::Start() {
  using W = Store::Worker;
  const W workers[kWorkers] = {W::kPoller, W::kApplier, W::kSnapshot, W::kGc};
  for (size_t i = 0; i < kWorkers; ++i) {
    size_t to = apply_on_poller_ && workers[i] == W::kApplier ? 0 : i;
    store_.SetNotify(workers[i], [w = &wakers_[to]] { w->Wake(); });
  }
  started_ = true;
  if (apply_on_poller_) {
    threads_.emplace_back([this] {
      Loop(
          wakers_[0],
          [this] {
            bool polled = store_.RunOnce();
            bool applied = store_.applier().RunOnce();
            return polled || applied;
          },
          [this] { return store_.NextTickMs(); });
    });
  } else {
    threads_.emplace_back([this] {
      Loop(wakers_[0], [this] { return store_.RunOnce(); }, [this] { return store_.NextTickMs(); });
    });
    threads_.emplace_back(
        [this] { Loop(wakers_[1], [this] { return store_.applier().RunOnce(); }, nullptr); });
  }
  threads_.emplace_back(
      [this] { Loop(wakers_[2], [this] { return store_.RunSnapshotWorkerOnce(); }, nullptr); });
  threads_.emplace_back(
      [this] { Loop(wakers_[3], [this] { return store_.RunGcWorkerOnce(); }, nullptr); });
}

void StoreRunner::Stop() {
  if (!started_) return;
  started_ = false;
  for (Waker& w : wakers_) {
    {
      std::lock_guard lock(w.mu);
      w.stop = true;
    }
    w.cv.notify_one();
  }
  for (auto& t : threads_) t.join();
  threads_.clear();
  using W = Store::Worker;
  for (W w : {W::kPoller, W::kApplier, W::kSnapshot, W::kGc}) store_.SetNotify(w, nullptr);
}

void StoreRunner::Waker::Wake() {
  bool notify;
  {
    std::lock_guard lock(mu);
    ++wakeups;
    notify = sleeping;
  }
  if (notify) cv.notify_one();
}

void StoreRunner::Loop(Waker& waker, const std::function<bool()>& run_once,
                       const std::function<uint64_t()>& next_due_ms) {
  while (true) {
    uint64_t seen;
    {
      std::lock_guard lock(waker.mu);
      if (waker.stop) return;
      seen = waker.wakeups;
    }
    if (run_once()) continue;
    uint64_t wait_ms = kIdleWaitMs;
    if (next_due_ms) {
      uint64_t due = next_due_ms(), now = clock_.NowMs();
      wait_ms = due > now ? std::min(due - now, kIdleWaitMs) : 0;
    }
    if (wait_ms == 0) continue;
    std::unique_lock lock(waker.mu);
    waker.sleeping = true;
    waker.cv.wait_for(lock, std::chrono::milliseconds(wait_ms),
                      [&] { return waker.stop || waker.wakeups != seen; });
    waker.sleeping = false;
  }
}

}  // namespace tinykv::raftstore
