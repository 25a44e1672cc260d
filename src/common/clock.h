// Clock: where time comes from, injected so that tests and the simulator run
// on virtual time. Milliseconds. SystemClock is monotonic (for timeouts and
// intervals); UnixClock is wall-clock time since the Unix epoch (for
// timestamps that must mean a date, such as the scheduler's TSO), which
// may jump backwards when the machine's clock is set.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace tinykv {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual uint64_t NowMs() const = 0;
};

class SystemClock final : public Clock {
 public:
  uint64_t NowMs() const override {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
  }
};

class UnixClock final : public Clock {
 public:
  uint64_t NowMs() const override {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  }
};

// Time moves only when told to. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(uint64_t start_ms = 0) : now_(start_ms) {}
  uint64_t NowMs() const override { return now_.load(std::memory_order_acquire); }
  void Advance(uint64_t ms) { now_.fetch_add(ms, std::memory_order_acq_rel); }
  void Set(uint64_t ms) { now_.store(ms, std::memory_order_release); }

 private:
  std::atomic<uint64_t> now_;
};

}  // namespace tinykv
