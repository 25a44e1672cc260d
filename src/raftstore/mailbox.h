// Mailbox<T>: a multi-producer queue drained by one consumer, with a hook
// that wakes the consumer (a thread's condition variable in production, a
// no-op in the single-threaded cluster harness).
//
// Only a push into an empty queue wakes the consumer: a queue that holds
// items has been pushed to, with a wake-up, since the consumer last drained
// it, and a consumer that drained fewer than all items runs again without
// waiting.
#pragma once

#include <deque>
#include <functional>
#include <mutex>
#include <vector>

namespace tinykv::raftstore {

template <typename T>
class Mailbox {
 public:
  void Push(T item) {
    std::function<void()> notify;
    {
      std::lock_guard lock(mu_);
      if (items_.empty()) notify = notify_;
      items_.push_back(std::move(item));
    }
    if (notify) notify();
  }

  // Takes up to `max` items, oldest first.
  std::vector<T> Drain(size_t max) {
    std::lock_guard lock(mu_);
    std::vector<T> out;
    size_t n = std::min(max, items_.size());
    out.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      out.push_back(std::move(items_.front()));
      items_.pop_front();
    }
    return out;
  }

  bool Empty() const {
    std::lock_guard lock(mu_);
    return items_.empty();
  }
  size_t Size() const {
    std::lock_guard lock(mu_);
    return items_.size();
  }

  void SetNotify(std::function<void()> fn) {
    std::lock_guard lock(mu_);
    notify_ = std::move(fn);
  }

 private:
  mutable std::mutex mu_;
  std::deque<T> items_;
  std::function<void()> notify_;
};

}  // namespace tinykv::raftstore
