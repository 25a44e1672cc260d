// Backoff: paces the retries of one client operation under its deadline.
// A few immediate retries in a row (a new leader or new regions are
// known), then sleeps doubling from 10 ms to 1 s (at least 100 ms after a
// busy server).
#pragma once

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>

#include "common/status.h"

namespace tinykv::client {

class Backoff {
 public:
  using Clock = std::chrono::steady_clock;
  explicit Backoff(Clock::time_point deadline) : deadline_(deadline) {}
  // Sleeps before the next attempt (unless `now`). False when the deadline
  // would pass first.
  bool Wait(bool now, bool busy) {
    if (now && ++immediate_ <= kMaxImmediate) return Clock::now() < deadline_;
    immediate_ = 0;
    if (busy && delay_ < kBusyBackoff) delay_ = kBusyBackoff;
    if (Clock::now() + delay_ >= deadline_) return false;
    std::this_thread::sleep_for(delay_);
    delay_ = std::min(delay_ * 2, kMaxBackoff);
    return true;
  }

 private:
  static constexpr std::chrono::milliseconds kMinBackoff{10};
  static constexpr std::chrono::milliseconds kBusyBackoff{100};
  static constexpr std::chrono::milliseconds kMaxBackoff{1000};
  // Immediate retries (new leader, new regions) in a row before backing off.
  static constexpr int kMaxImmediate = 8;

  Clock::time_point deadline_;
  std::chrono::milliseconds delay_ = kMinBackoff;
  int immediate_ = 0;
};

// What an operation that ran out of time reports (nothing was done).
inline Status GaveUp(const Status& last) {
  return Status::Unavailable("gave up before the deadline" +
                             (last.ok() ? std::string() : ": " + last.message()));
}

}  // namespace tinykv::client
