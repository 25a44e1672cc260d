#include "server/queue_loop.h"

#include <algorithm>
#include <utility>

namespace tinykv::server {

namespace {
// The loop whose thread this is (Wake from it needs no alarm).
thread_local const QueueLoop* this_thread_loop = nullptr;

gpr_timespec After(uint64_t ms) {
  if (ms == 0) return gpr_inf_past(GPR_CLOCK_MONOTONIC);
  return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                      gpr_time_from_millis(static_cast<int64_t>(ms), GPR_TIMESPAN));
}
}  // namespace

void QueueLoop::AlarmTag::Proceed(bool /*ok*/) { loop->armed_ = false; }

void QueueLoop::Run() {
  this_thread_loop = this;
  void* tag = nullptr;
  bool ok = false;
  while (true) {
    uint64_t wait_ms = RunWork();
    auto st = cq_->AsyncNext(&tag, &ok, After(wait_ms));
    // Everything else that is ready, before the next round (which then sees
    // every message that came in together).
    while (st == grpc::CompletionQueue::GOT_EVENT) {
      static_cast<client::QueueTag*>(tag)->Proceed(ok);
      st = cq_->AsyncNext(&tag, &ok, gpr_inf_past(GPR_CLOCK_MONOTONIC));
    }
    if (st == grpc::CompletionQueue::SHUTDOWN) break;
  }
  this_thread_loop = nullptr;
}

uint64_t QueueLoop::RunWork() {
  std::lock_guard lock(work_mu_);
  if (!work_.run_once) {
    wanted_ = false;
    return kIdleWaitMs;
  }
  wanted_ = false;
  bool more = false;
  for (int i = 0; i < kMaxRoundsPerTurn && (more = work_.run_once()); ++i) {
  }
  if (more || wanted_) return 0;
  if (!work_.next_due_ms) return kIdleWaitMs;
  uint64_t due = work_.next_due_ms(), now = work_.clock->NowMs();
  return due > now ? std::min(due - now, kIdleWaitMs) : 0;
}

void QueueLoop::SetWork(Work work) {
  std::lock_guard lock(work_mu_);
  work_ = std::move(work);
}

void QueueLoop::ClearWork() {
  std::lock_guard lock(work_mu_);
  work_ = Work{};
}

void QueueLoop::Wake() {
  wanted_ = true;
  if (this_thread_loop == this) return;
  // An alarm already on its way ends the wait; the loop then sees wanted_.
  if (armed_.exchange(true)) return;
  std::lock_guard lock(alarm_mu_);
  if (closed_) return;
  // A deadline in the past fires at once (not at the next millisecond).
  alarm_.Set(cq_, gpr_inf_past(GPR_CLOCK_MONOTONIC), &alarm_tag_);
}

void QueueLoop::Close() {
  std::lock_guard lock(alarm_mu_);
  closed_ = true;
}

}  // namespace tinykv::server
