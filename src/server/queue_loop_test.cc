#include "server/queue_loop.h"

#include <grpcpp/alarm.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "testing/subprocess.h"

namespace tinykv::server {
namespace {

// A loop on a queue of its own, on a thread; work that does one round per
// unit of input.
class QueueLoopTest : public ::testing::Test {
 protected:
  QueueLoopTest() : loop_(&cq_) {}
  ~QueueLoopTest() override { StopLoop(); }

  void StartLoop() {
    thread_ = std::thread([this] { loop_.Run(); });
  }
  void StopLoop() {
    if (!thread_.joinable()) return;
    loop_.Close();
    cq_.Shutdown();
    thread_.join();
  }
  QueueLoop::Work CountingWork() {
    return {.run_once =
                [this] {
                  if (input_ == 0) return false;
                  --input_;
                  ++rounds_;
                  return true;
                },
            .next_due_ms = [this] { return due_ms_.load(); },
            .clock = &clock_};
  }
  // An event of the queue's own (not the loop's alarm), handled on the loop.
  struct Event final : client::QueueTag {
    std::function<void()> fn;
    std::atomic<int> seen{0};
    grpc::Alarm alarm;
    void Proceed(bool) override {
      if (fn) fn();
      ++seen;
    }
    void Post(grpc::CompletionQueue* cq) { alarm.Set(cq, gpr_inf_past(GPR_CLOCK_MONOTONIC), this); }
  };

  grpc::CompletionQueue cq_;
  QueueLoop loop_;
  std::thread thread_;
  ManualClock clock_;
  std::atomic<int> input_{0};
  std::atomic<int> rounds_{0};
  std::atomic<uint64_t> due_ms_{UINT64_MAX};
};

TEST_F(QueueLoopTest, WakeFromAnotherThreadRunsTheWork) {
  loop_.SetWork(CountingWork());
  StartLoop();
  for (int i = 1; i <= 50; ++i) {
    ++input_;
    loop_.Wake();
    ASSERT_TRUE(testing::WaitFor([&] { return rounds_ == i; })) << "round " << i << " never ran";
  }
}

TEST_F(QueueLoopTest, WakeBeforeTheLoopRunsIsNotLost) {
  loop_.SetWork(CountingWork());
  ++input_;
  loop_.Wake();
  StartLoop();
  EXPECT_TRUE(testing::WaitFor([&] { return rounds_ == 1; }));
}

TEST_F(QueueLoopTest, WakeFromAnEventOnTheLoopRunsTheWork) {
  loop_.SetWork(CountingWork());
  StartLoop();
  Event e;
  e.fn = [this] {
    input_ += 3;
    loop_.Wake();  // on the loop's thread: no alarm, the next turn sees it
  };
  e.Post(&cq_);
  EXPECT_TRUE(testing::WaitFor([&] { return rounds_ == 3; }));
  EXPECT_EQ(e.seen, 1);
}

TEST_F(QueueLoopTest, RunsTheWorkWhenDueWithoutAWake) {
  loop_.SetWork(CountingWork());
  input_ = 5;
  StartLoop();
  // Already due: the loop runs the rounds without any Wake.
  due_ms_ = clock_.NowMs();
  EXPECT_TRUE(testing::WaitFor([&] { return rounds_ == 5; }));
}

TEST_F(QueueLoopTest, BusyWorkDoesNotStarveTheQueue) {
  std::atomic<bool> stop{false};
  loop_.SetWork({.run_once = [&] { return !stop.load(); },
                 .next_due_ms = nullptr,
                 .clock = &clock_});
  StartLoop();
  loop_.Wake();
  Event e;
  e.fn = [&] { stop = true; };
  e.Post(&cq_);
  EXPECT_TRUE(testing::WaitFor([&] { return e.seen == 1; }))
      << "an event was never handled while the work had more to do";
}

TEST_F(QueueLoopTest, NoRoundRunsAfterClearWork) {
  loop_.SetWork(CountingWork());
  StartLoop();
  ++input_;
  loop_.Wake();
  ASSERT_TRUE(testing::WaitFor([&] { return rounds_ == 1; }));
  loop_.ClearWork();
  ++input_;
  loop_.Wake();
  // Two events handled one after the other: the loop has looked for work
  // in between, after the Wake.
  Event a, b;
  a.Post(&cq_);
  ASSERT_TRUE(testing::WaitFor([&] { return a.seen == 1; }));
  b.Post(&cq_);
  ASSERT_TRUE(testing::WaitFor([&] { return b.seen == 1; }));
  EXPECT_EQ(rounds_, 1);
  EXPECT_EQ(input_, 1);
}

TEST_F(QueueLoopTest, WakeAfterCloseIsHarmlessAndRunEnds) {
  loop_.SetWork(CountingWork());
  StartLoop();
  loop_.Close();
  loop_.Wake();
  loop_.Wake();
  cq_.Shutdown();
  thread_.join();
  SUCCEED() << "Run returned once the queue was shut down and drained";
}

}  // namespace
}  // namespace tinykv::server
