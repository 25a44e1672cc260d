// The scheduler's two allocators: unique ids (stores, regions, peers) and
// timestamps (the TSO: the start and commit timestamps of transactions).
//
// Both hand out values from memory and persist a bound ahead of what they
// hand out (as PD does), so that a restarted scheduler starts above every
// value it ever gave: one synced write per id batch, and one per TSO save
// interval, not one per request.
//
// Thread safety: none; called by one thread at a time.
#pragma once

#include <cstdint>

#include "common/clock.h"
#include "common/result.h"
#include "scheduler/meta_store.h"

namespace tinykv::scheduler {

class IdAllocator {
 public:
  // `end` is the persisted bound (LoadedMeta::alloc_end).
  IdAllocator(MetaStore& meta, uint64_t end, uint64_t batch)
      : meta_(meta), next_(end + 1), end_(end), batch_(batch) {}

  // A new id, never handed out before (ids start at 1).
  Result<uint64_t> Alloc();

 private:
  MetaStore& meta_;
  uint64_t next_;  // the next id to hand out
  uint64_t end_;   // ids <= end_ are covered by the persisted bound
  uint64_t batch_;
};

// A timestamp: milliseconds of wall-clock time and a logical counter below
// 2^18, composed as physical << 18 | logical (PD's layout).
struct Timestamp {
  int64_t physical = 0;
  int64_t logical = 0;
  uint64_t Compose() const {
    return (static_cast<uint64_t>(physical) << kLogicalBits) | static_cast<uint64_t>(logical);
  }
  static constexpr int kLogicalBits = 18;
  static constexpr int64_t kMaxLogical = int64_t{1} << kLogicalBits;
  friend auto operator<=>(const Timestamp&, const Timestamp&) = default;
};

class Tso {
 public:
  // `saved_end` is the persisted bound (LoadedMeta::tso_end); `wall` gives
  // wall-clock milliseconds (UnixClock in production).
  Tso(MetaStore& meta, const Clock& wall, uint64_t saved_end, uint64_t save_interval_ms)
      : meta_(meta), wall_(wall), saved_end_(saved_end), save_interval_ms_(save_interval_ms) {}

  // Starts above every timestamp handed out before (persists a new bound).
  Status Init();

  // `count` consecutive timestamps; returns the last of them (the first is
  // logical - count + 1 at the same physical time). Strictly above every
  // timestamp returned before, also across restarts and when the wall clock
  // goes back. Errors: kInvalidArgument for count 0 or count >= 2^18;
  // kIOError when the bound cannot be persisted.
  Result<Timestamp> Next(uint32_t count);

  Timestamp last() const { return {physical_, logical_}; }

 private:
  // Makes physical_ < saved_end_ hold, persisting a new bound if needed.
  Status EnsureSaved();

  MetaStore& meta_;
  const Clock& wall_;
  uint64_t saved_end_;
  const uint64_t save_interval_ms_;
  int64_t physical_ = 0;
  int64_t logical_ = 0;  // the last logical handed out at physical_
  bool initialized_ = false;
};

}  // namespace tinykv::scheduler
