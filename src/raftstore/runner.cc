#include "raftstore/runner.h"

#include <chrono>

#include "common/thread_name.h"
#include "raftstore/store.h"

namespace tinykv::raftstore {

namespace {
// A worker without a deadline still looks around this often (a missed
// wake-up costs at most this much latency, never a hang).
constexpr uint64_t kIdleWaitMs = 1000;

constexpr Store::Worker kAllWorkers[] = {Store::Worker::kPoller, Store::Worker::kApplier,
                                         Store::Worker::kSnapshot, Store::Worker::kGc};
}  // namespace

StoreRunner::StoreRunner(Store& store, const Clock& clock, bool apply_on_poller,
                         std::function<void()> wake_poller)
    : store_(store),
      clock_(clock),
      apply_on_poller_(apply_on_poller),
      wake_poller_(std::move(wake_poller)) {}

bool StoreRunner::PollOnce() {
  bool polled = store_.RunOnce();
  bool applied = apply_on_poller_ && store_.applier().RunOnce();
  return polled || applied;
}

uint64_t StoreRunner::NextPollDueMs() { return store_.NextTickMs(); }

StoreRunner::~StoreRunner() { Stop(); }

void StoreRunner::Start() {
  using W = Store::Worker;
  for (W w : kAllWorkers) {
    bool to_poller = w == W::kPoller || (apply_on_poller_ && w == W::kApplier);
    if (to_poller && wake_poller_) {
      store_.SetNotify(w, wake_poller_);
      continue;
    }
    Waker& to = to_poller ? WakerOf(W::kPoller) : WakerOf(w);
    store_.SetNotify(w, [&to] { to.Wake(); });
  }
  started_ = true;
  auto run = [this](W w, const char* name, std::function<bool()> run_once,
                    std::function<uint64_t()> due) {
    threads_.push_back(
        NamedThread(name, [this, w, run_once = std::move(run_once), due = std::move(due)] {
          Loop(WakerOf(w), run_once, due);
        }));
  };
  if (!apply_on_poller_)
    run(W::kApplier, "raft-apply", [this] { return store_.applier().RunOnce(); }, nullptr);
  if (!wake_poller_)
    run(W::kPoller, "raft-poller", [this] { return PollOnce(); }, [this] { return NextPollDueMs(); });
  run(W::kSnapshot, "raft-snap", [this] { return store_.RunSnapshotWorkerOnce(); }, nullptr);
  run(W::kGc, "raft-gc", [this] { return store_.RunGcWorkerOnce(); }, nullptr);
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
  for (Store::Worker w : kAllWorkers) store_.SetNotify(w, nullptr);
}

void StoreRunner::Waker::Wake() {
  {
    std::lock_guard lock(mu);
    ++wakeups;
  }
  cv.notify_one();
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
    waker.cv.wait_for(lock, std::chrono::milliseconds(wait_ms),
                      [&] { return waker.stop || waker.wakeups != seen; });
  }
}

}  // namespace tinykv::raftstore
