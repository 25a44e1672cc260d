// StoreRunner: the production executor of a Store. Each worker (raft
// poller, applier, snapshot worker, gc worker) gets a thread that runs its
// RunOnce() while there is work and otherwise sleeps until input arrives
// (Store::SetNotify) or, for the poller, until the next tick is due. Each
// worker has its own wake-up: input for one never wakes the others. The
// poller can instead run on a thread the owner provides (a store runs it on
// the thread that reads the network, so that no hand-off lies between a
// message read and its handling).
//
// The cluster harness does not use this: it steps the same workers on one
// thread in a seeded order.
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "raftstore/store.h"

namespace tinykv::raftstore {

class StoreRunner {
 public:
  // `store` and `clock` must outlive the runner; `clock` is the store's.
  // With `apply_on_poller`, the poller's thread also runs the applier, after
  // each poll round, and input for the applier wakes it; otherwise the
  // applier has a thread of its own.
  // With `wake_poller`, the poller gets no thread: its owner runs PollOnce
  // on a thread of its own (a store's grpc-kv-0) while it returns true, again
  // whenever input calls `wake_poller` (from any thread, the owner's
  // included), and at NextPollDueMs; never after Stop began.
  StoreRunner(Store& store, const Clock& clock, bool apply_on_poller = false,
              std::function<void()> wake_poller = nullptr);
  ~StoreRunner();
  StoreRunner(const StoreRunner&) = delete;
  StoreRunner& operator=(const StoreRunner&) = delete;

  // Starts the threads. Call once, after Store::Start.
  void Start();
  // Without a poller thread: one poll round (and, with apply_on_poller, one
  // applier round); whether it did anything.
  bool PollOnce();
  // When the next round is due without input (the next tick), in the
  // clock's milliseconds.
  uint64_t NextPollDueMs();
  // Stops and joins the threads (each finishes its current step). Then the
  // owner calls Store::Stop to answer what is still waiting. Idempotent.
  void Stop();

 private:
  // One worker's wake-up: a push into its queue counts a wake-up, and the
  // worker sleeps only while none came since it last looked.
  struct Waker {
    std::mutex mu;
    std::condition_variable cv;
    uint64_t wakeups = 0;
    bool stop = false;
    void Wake();
  };
  static constexpr size_t kWorkers = 4;
  Waker& WakerOf(Store::Worker w) { return wakers_[static_cast<size_t>(w)]; }

  // run_once returns whether it did work; next_due_ms (may be null) is when
  // the worker must run again even without input.
  void Loop(Waker& waker, const std::function<bool()>& run_once,
            const std::function<uint64_t()>& next_due_ms);

  Store& store_;
  const Clock& clock_;
  const bool apply_on_poller_;
  std::function<void()> wake_poller_;  // set: the poller has no thread
  std::array<Waker, kWorkers> wakers_;
  bool started_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace tinykv::raftstore
