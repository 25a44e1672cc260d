#include "scheduler/allocators.h"

#include <fmt/format.h>

#include <algorithm>

namespace tinykv::scheduler {

Result<uint64_t> IdAllocator::Alloc() {
  if (next_ > end_) {
    uint64_t end = end_ + batch_;
    TKV_RETURN_IF_ERROR(meta_.SaveAllocEnd(end));
    end_ = end;
  }
  return next_++;
}

Status Tso::Init() {
  // Every timestamp handed out before had physical < saved_end_: start at
  // saved_end_ at least (PD adds a margin the same way).
  int64_t now = static_cast<int64_t>(wall_.NowMs());
  physical_ = std::max(now, static_cast<int64_t>(saved_end_));
  logical_ = 0;
  initialized_ = true;
  return EnsureSaved();
}

Status Tso::EnsureSaved() {
  if (static_cast<uint64_t>(physical_) < saved_end_) return Status::OK();
  uint64_t end = static_cast<uint64_t>(physical_) + save_interval_ms_;
  TKV_RETURN_IF_ERROR(meta_.SaveTsoEnd(end));
  saved_end_ = end;
  return Status::OK();
}

Result<Timestamp> Tso::Next(uint32_t count) {
  TKV_CHECK(initialized_, "Tso::Next before Init");
  if (count == 0) return Status::InvalidArgument("tso: count must be at least 1");
  if (count >= Timestamp::kMaxLogical) {
    return Status::InvalidArgument(
        fmt::format("tso: count {} over the limit {}", count, Timestamp::kMaxLogical - 1));
  }
  int64_t now = static_cast<int64_t>(wall_.NowMs());
  if (now > physical_) {
    physical_ = now;
    logical_ = 0;
  } else if (logical_ + count >= Timestamp::kMaxLogical) {
    // The logical counter of this millisecond is used up: run ahead of the
    // clock by a millisecond (the bound persisted ahead keeps it safe).
    ++physical_;
    logical_ = 0;
  }
  TKV_RETURN_IF_ERROR(EnsureSaved());
  logical_ += count;
  return Timestamp{physical_, logical_};
}

}  // namespace tinykv::scheduler
