#include "txn/latches.h"

#include <algorithm>
#include <utility>

#include "common/check.h"

namespace tinykv::txn {

Latches::Latches(size_t slots) : slots_(slots) { TKV_CHECK(slots > 0, "latches need slots"); }

size_t Latches::SlotOf(const std::string& key) const {
  return std::hash<std::string>{}(key) % slots_.size();
}

bool Latches::Advance(Id id, Command& cmd) {
  while (cmd.owned < cmd.slots.size()) {
    std::deque<Id>& q = slots_[cmd.slots[cmd.owned]];
    if (q.empty()) q.push_back(id);
    if (q.front() != id) {
      if (q.back() != id) q.push_back(id);  // wait here
      return false;
    }
    ++cmd.owned;
  }
  return true;
}

void Latches::Acquire(const std::vector<std::string>& keys, Ready ready) {
  std::unique_lock lock(mu_);
  Id id = next_id_++;
  Command cmd;
  cmd.slots.reserve(keys.size());
  for (const auto& k : keys) cmd.slots.push_back(SlotOf(k));
  std::sort(cmd.slots.begin(), cmd.slots.end());
  cmd.slots.erase(std::unique(cmd.slots.begin(), cmd.slots.end()), cmd.slots.end());
  cmd.ready = std::move(ready);
  Command& c = commands_.emplace(id, std::move(cmd)).first->second;
  if (!Advance(id, c)) return;
  Ready run = c.ready;
  lock.unlock();
  run(id);
}

namespace {

// The ready callbacks still to run on this thread, while a Release runs
// them: a callback that releases in turn queues the commands it wakes here
// instead of running them nested (a long queue of waiters would otherwise
// grow the stack by one command each).
thread_local std::deque<std::function<void()>>* tls_runnable = nullptr;

}  // namespace

void Latches::Release(Id id) {
  std::vector<std::pair<Id, Ready>> runnable;
  {
    std::lock_guard lock(mu_);
    auto it = commands_.find(id);
    TKV_CHECK(it != commands_.end(), "release of an unknown latch command");
    Command& cmd = it->second;
    TKV_CHECK(cmd.owned == cmd.slots.size(), "release before the latches were held");
    std::vector<Id> woken;
    for (size_t s : cmd.slots) {
      std::deque<Id>& q = slots_[s];
      TKV_CHECK(!q.empty() && q.front() == id, "latch slot not held by its releaser");
      q.pop_front();
      if (!q.empty()) woken.push_back(q.front());
    }
    commands_.erase(it);
    for (Id w : woken) {
      auto wit = commands_.find(w);
      if (wit == commands_.end()) continue;
      Command& wc = wit->second;
      // Woken at the slot it waits on; it may already hold everything (it
      // can be woken by several slots, but only advances once per slot).
      if (wc.owned == wc.slots.size()) continue;
      if (Advance(w, wc)) runnable.emplace_back(w, wc.ready);
    }
  }
  if (tls_runnable != nullptr) {
    for (auto& [w, r] : runnable) tls_runnable->push_back([w, r = std::move(r)] { r(w); });
    return;
  }
  std::deque<std::function<void()>> queue;
  for (auto& [w, r] : runnable) queue.push_back([w, r = std::move(r)] { r(w); });
  tls_runnable = &queue;
  while (!queue.empty()) {
    std::function<void()> run = std::move(queue.front());
    queue.pop_front();
    run();
  }
  tls_runnable = nullptr;
}

bool Latches::Holds(Id id, const std::string& key) const { return HoldsAll(id, {key}); }

bool Latches::HoldsAll(Id id, const std::vector<std::string>& keys) const {
  std::lock_guard lock(mu_);
  auto it = commands_.find(id);
  if (it == commands_.end()) return false;
  const Command& cmd = it->second;
  // The held slots are slots[0, owned), sorted.
  auto held_end = cmd.slots.begin() + static_cast<long>(cmd.owned);
  for (const auto& k : keys) {
    if (!std::binary_search(cmd.slots.begin(), held_end, SlotOf(k))) return false;
  }
  return true;
}

size_t Latches::Active() const {
  std::lock_guard lock(mu_);
  return commands_.size();
}

}  // namespace tinykv::txn
