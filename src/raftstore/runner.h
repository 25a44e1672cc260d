// StoreRunner: the production executor of a Store. Each worker (raft
// poller, applier, snapshot worker, gc worker) gets a thread that runs its
// RunOnce() while there is work and otherwise sleeps until input arrives
// (Store::SetNotify) or, for the poller, until the next tick is due.
//
// The cluster harness does not use this: it steps the same workers on one
// thread in a seeded order.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "common/clock.h"

namespace tinykv::raftstore {

class Store;

class StoreRunner {
 public:
  // `store` and `clock` must outlive the runner; `clock` is the store's.
  StoreRunner(Store& store, const Clock& clock);
  ~StoreRunner();
  StoreRunner(const StoreRunner&) = delete;
  StoreRunner& operator=(const StoreRunner&) = delete;

  // Starts the threads. Call once, after Store::Start.
  void Start();
  // Stops and joins the threads (each finishes its current step). Then the
  // owner calls Store::Stop to answer what is still waiting. Idempotent.
  void Stop();

 private:
  // run_once returns whether it did work; next_due_ms (may be null) is when
  // the worker must run again even without input.
  void Loop(const std::function<bool()>& run_once, const std::function<uint64_t()>& next_due_ms);
  void Wake();

  Store& store_;
  const Clock& clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t wakeups_ = 0;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace tinykv::raftstore
