// LeaderLease: the time during which a leader may serve reads without asking
// a quorum first (lease reads, docs/raft.md).
//
// Why it holds: with check_quorum, a member that heard from the leader
// ignores vote requests for a later term until an election timeout of its
// own ticks has passed (and a restarted member does the same,
// raft::Config::start_in_lease). When a quorum acknowledges a heartbeat or an
// append the leader sent at time t, each of those members heard from it
// after t, and any new leader needs the vote of at least one of them; so
// none can exist before t + (election timeout). The lease runs from t for
// `max_ms`, which the configuration keeps shorter than the election timeout,
// less one tick of timer slack: ticks are never faster than the clock, and
// clocks are assumed not to drift apart by more than the remaining margin.
//
// A leadership transfer breaks the argument (its target campaigns at once,
// and the others vote for it regardless), so the store expires the lease
// when it sees one start, and no round sent under an older generation, or
// while a transfer was under way, can renew it.
//
// Pure and single-threaded: the store drives it with the injected clock.
#pragma once

#include <cstdint>
#include <limits>

namespace tinykv::raftstore {

// When something a quorum may acknowledge was sent, and under which lease
// generation (LeaderLease::kNoRenewal: it may not renew the lease).
struct LeaseStamp {
  uint64_t sent_ms = 0;
  uint64_t generation = std::numeric_limits<uint64_t>::max();
};

class LeaderLease {
 public:
  // A generation no round may renew the lease with (a transfer was under way).
  static constexpr uint64_t kNoRenewal = std::numeric_limits<uint64_t>::max();

  explicit LeaderLease(uint64_t max_ms) : max_ms_(max_ms) {}

  // The generation a round sent now carries.
  uint64_t generation() const { return generation_; }

  // A quorum acknowledged what was sent with this stamp.
  void Renew(const LeaseStamp& stamp) {
    if (stamp.generation != generation_ || stamp.generation == kNoRenewal) return;
    uint64_t until = stamp.sent_ms + max_ms_;
    if (until > until_ms_) until_ms_ = until;
  }

  // Leadership lost or won, or a transfer seen: nothing sent before counts.
  void Expire() {
    until_ms_ = 0;
    ++generation_;
  }

  bool Valid(uint64_t now_ms) const { return now_ms < until_ms_; }

  // Time to ask a quorum again: the lease has expired, or runs out within
  // a third of its length.
  bool WantsRenewal(uint64_t now_ms) const { return now_ms + max_ms_ / 3 >= until_ms_; }

  uint64_t until_ms() const { return until_ms_; }

 private:
  uint64_t max_ms_;
  uint64_t until_ms_ = 0;
  uint64_t generation_ = 0;
};

}  // namespace tinykv::raftstore
