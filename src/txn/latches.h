// Latches: commands that touch the same keys run one after another; others
// run in parallel. A transactional command reads a snapshot and then writes
// what it decided, so two commands on one key must not interleave (both
// would see the key unlocked and both lock it).
//
// Keys hash into a fixed number of slots; a command takes its slots in
// ascending order (so no two commands wait for each other in a cycle), and
// each slot is a FIFO queue, so a waiting command is never starved. A hash
// collision only serializes two commands needlessly.
//
// Thread safety: all methods may be called from any thread. `ready`
// callbacks run without the internal lock held: inline in Acquire when every
// slot is free, or inside the Release that frees the last one. When a ready
// callback releases in turn (a chain of waiters), the commands it wakes run
// after it returns, one after another, not nested inside it.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace tinykv::txn {

class Latches {
 public:
  using Id = uint64_t;
  // Given the command's id, to hand to Release.
  using Ready = std::function<void(Id)>;

  // REQUIRES: slots > 0.
  explicit Latches(size_t slots = 4096);

  // Queues a command on the latches of `keys`; `ready` runs once it holds
  // them all. The command must then call Release(id) exactly once.
  void Acquire(const std::vector<std::string>& keys, Ready ready);
  void Release(Id id);

  // Whether command `id` holds the latch that covers `key` (for checks).
  bool Holds(Id id, const std::string& key) const;
  // Whether it holds the latches of all `keys` (one lock acquisition).
  bool HoldsAll(Id id, const std::vector<std::string>& keys) const;
  // Commands queued or running.
  size_t Active() const;

 private:
  struct Command {
    std::vector<size_t> slots;  // sorted, unique
    size_t owned = 0;           // slots[0, owned) are held
    Ready ready;
  };

  size_t SlotOf(const std::string& key) const;
  // Takes as many of the command's slots as are free. True when it holds all.
  bool Advance(Id id, Command& cmd);

  mutable std::mutex mu_;
  std::vector<std::deque<Id>> slots_;         // guarded by mu_
  std::unordered_map<Id, Command> commands_;  // guarded by mu_
  Id next_id_ = 1;                            // guarded by mu_
};

}  // namespace tinykv::txn
