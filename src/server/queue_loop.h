// QueueLoop: a thread's loop over one gRPC completion queue that also runs
// other work between events: a store's raft poll round runs on the thread
// that reads the network (grpc-kv-0), so a Raft message or a client write
// read off a socket is handled without waking another thread, and a poll
// round's messages are written from the same thread.
//
// Each turn takes every event that is ready (tags are client::QueueTag),
// then runs the work's rounds until one does nothing (at most
// kMaxRoundsPerTurn in a row, then the network is looked at again), then
// waits for the next event, a Wake, or the work's next due time.
//
// Wake may be called from any thread. From the loop's own thread (an event
// handler that queued input for the work) it only marks the work wanted;
// from another it also puts an alarm on the queue, which ends the wait.
//
// gRPC rounds a wait's deadline up to the next millisecond, so "do not wait"
// is spelled gpr_inf_past, never "now": a deadline of now waits up to 1 ms.
#pragma once

#include <grpcpp/alarm.h>
#include <grpcpp/completion_queue.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>

#include "client/queue_tag.h"
#include "common/clock.h"

namespace tinykv::server {

class QueueLoop {
 public:
  struct Work {
    // One round; returns whether it did anything.
    std::function<bool()> run_once;
    // When a round is due even without a Wake, in `clock`'s milliseconds.
    std::function<uint64_t()> next_due_ms;
    const Clock* clock = nullptr;
  };
  static constexpr int kMaxRoundsPerTurn = 16;
  // A loop without work (or work without a due time) still looks around
  // this often.
  static constexpr uint64_t kIdleWaitMs = 1000;

  // `cq` must outlive the loop.
  explicit QueueLoop(grpc::CompletionQueue* cq) : cq_(cq) { alarm_tag_.loop = this; }
  QueueLoop(const QueueLoop&) = delete;
  QueueLoop& operator=(const QueueLoop&) = delete;

  // On the loop's thread: runs until the queue is shut down and drained.
  void Run();
  // Any thread. SetWork before the work's input can call Wake (or Wake
  // after it); ClearWork returns once no round runs and none will.
  void SetWork(Work work);
  void ClearWork();
  // Any thread: the work has input.
  void Wake();
  // Before the queue's Shutdown: Wake puts no more alarms on it.
  void Close();

 private:
  struct AlarmTag final : client::QueueTag {
    QueueLoop* loop = nullptr;
    void Proceed(bool ok) override;
  };
  // Runs the work (if any); returns how long the wait may be (ms; 0: none).
  uint64_t RunWork();

  grpc::CompletionQueue* const cq_;
  std::mutex work_mu_;  // held while a round runs
  Work work_;
  std::atomic<bool> wanted_{false};
  std::mutex alarm_mu_;
  bool closed_ = false;
  std::atomic<bool> armed_{false};
  grpc::Alarm alarm_;
  AlarmTag alarm_tag_;
};

}  // namespace tinykv::server
