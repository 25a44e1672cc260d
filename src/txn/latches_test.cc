// Latches: commands on common keys run one at a time, in arrival order;
// others run at once.
#include "txn/latches.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <functional>
#include <future>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace tinykv::txn {
namespace {

using Id = Latches::Id;
using V = std::vector<std::string>;

// Records the commands whose `ready` ran, by name, in order.
struct Recorder {
  std::vector<std::string> ran;
  std::map<std::string, Id> id;
  Latches::Ready Cb(std::string name) {
    return [this, name](Id i) {
      ran.push_back(name);
      id[name] = i;
    };
  }
};

// The keys used where two commands must not share a slot of a 4096-slot
// latch table: checked here, so that a failure is not mistaken for a bug.
bool SameSlot(const std::string& a, const std::string& b, size_t slots = 4096) {
  return std::hash<std::string>{}(a) % slots == std::hash<std::string>{}(b) % slots;
}

TEST(LatchesTest, FreeKeysRunInline) {
  Latches latches;
  Recorder r;
  latches.Acquire({"a", "b"}, r.Cb("A"));
  ASSERT_EQ(r.ran, V{"A"});  // before Acquire returned
  Id a = r.id["A"];
  EXPECT_TRUE(latches.Holds(a, "a"));
  EXPECT_TRUE(latches.Holds(a, "b"));
  EXPECT_EQ(latches.Active(), 1u);
  latches.Release(a);
  EXPECT_EQ(latches.Active(), 0u);
  EXPECT_FALSE(latches.Holds(a, "a"));
}

TEST(LatchesTest, OverlappingCommandWaitsForRelease) {
  Latches latches;
  Recorder r;
  latches.Acquire({"a", "b"}, r.Cb("A"));
  latches.Acquire({"b", "c"}, r.Cb("B"));
  EXPECT_EQ(r.ran, V{"A"});  // B waits on b
  EXPECT_EQ(latches.Active(), 2u);
  latches.Release(r.id["A"]);
  ASSERT_EQ(r.ran, (V{"A", "B"}));  // B ran inside Release
  Id b = r.id["B"];
  EXPECT_NE(b, r.id["A"]);
  EXPECT_TRUE(latches.Holds(b, "b"));
  EXPECT_TRUE(latches.Holds(b, "c"));
  EXPECT_FALSE(latches.Holds(r.id["A"], "b"));
  latches.Release(b);
  EXPECT_EQ(latches.Active(), 0u);
}

TEST(LatchesTest, WaiterDoesNotHoldTheContendedKey) {
  Latches latches(1);
  Recorder r;
  latches.Acquire({"k"}, r.Cb("A"));
  Id a = r.id["A"];
  // B's id is only known once it runs: while it waits, no id but A's holds k.
  latches.Acquire({"k"}, r.Cb("B"));
  for (Id other = 0; other <= a + 16; ++other) {
    EXPECT_EQ(latches.Holds(other, "k"), other == a) << other;
  }
  latches.Release(a);
  ASSERT_EQ(r.ran, (V{"A", "B"}));
  EXPECT_TRUE(latches.Holds(r.id["B"], "k"));
  EXPECT_FALSE(latches.Holds(a, "k"));
  latches.Release(r.id["B"]);
}

TEST(LatchesTest, DisjointKeysRunInParallel) {
  ASSERT_FALSE(SameSlot("a", "x"));
  ASSERT_FALSE(SameSlot("b", "x"));
  ASSERT_FALSE(SameSlot("a", "y"));
  ASSERT_FALSE(SameSlot("b", "y"));
  Latches latches;
  Recorder r;
  latches.Acquire({"a", "b"}, r.Cb("A"));
  latches.Acquire({"x", "y"}, r.Cb("X"));
  ASSERT_EQ(r.ran, (V{"A", "X"}));  // both hold their latches at once
  EXPECT_TRUE(latches.Holds(r.id["A"], "a"));
  EXPECT_TRUE(latches.Holds(r.id["X"], "x"));
  EXPECT_FALSE(latches.Holds(r.id["A"], "x"));
  EXPECT_FALSE(latches.Holds(r.id["X"], "a"));
  latches.Release(r.id["X"]);
  latches.Release(r.id["A"]);
  EXPECT_EQ(latches.Active(), 0u);
}

TEST(LatchesTest, HashCollisionSerializes) {
  Latches latches(1);  // every key in one slot
  Recorder r;
  latches.Acquire({"a"}, r.Cb("A"));
  latches.Acquire({"b"}, r.Cb("B"));
  EXPECT_EQ(r.ran, V{"A"});
  latches.Release(r.id["A"]);
  EXPECT_EQ(r.ran, (V{"A", "B"}));
  latches.Release(r.id["B"]);
}

TEST(LatchesTest, WaitersRunInFifoOrder) {
  Latches latches;
  Recorder r;
  latches.Acquire({"k"}, r.Cb("A"));
  latches.Acquire({"k"}, r.Cb("B"));
  latches.Acquire({"z", "k"}, r.Cb("C"));
  latches.Acquire({"k"}, r.Cb("D"));
  EXPECT_EQ(r.ran, V{"A"});
  EXPECT_EQ(latches.Active(), 4u);
  // Each release lets exactly the next one run.
  latches.Release(r.id["A"]);
  ASSERT_EQ(r.ran, (V{"A", "B"}));
  latches.Release(r.id["B"]);
  ASSERT_EQ(r.ran, (V{"A", "B", "C"}));
  latches.Release(r.id["C"]);
  ASSERT_EQ(r.ran, (V{"A", "B", "C", "D"}));
  latches.Release(r.id["D"]);
  EXPECT_EQ(latches.Active(), 0u);
}

TEST(LatchesTest, LaterCommandQueuesBehindWaiter) {
  // A waiter keeps its place: a later command on the same key cannot pass
  // it once the holder is gone.
  Latches latches;
  Recorder r;
  latches.Acquire({"k"}, r.Cb("A"));
  latches.Acquire({"k"}, r.Cb("B"));
  latches.Release(r.id["A"]);
  ASSERT_EQ(r.ran, (V{"A", "B"}));
  latches.Acquire({"k"}, r.Cb("C"));  // waits behind B
  EXPECT_EQ(r.ran, (V{"A", "B"}));
  latches.Release(r.id["B"]);
  ASSERT_EQ(r.ran, (V{"A", "B", "C"}));
  latches.Release(r.id["C"]);
}

TEST(LatchesTest, ActiveCountsQueuedAndRunning) {
  Latches latches;
  Recorder r;
  EXPECT_EQ(latches.Active(), 0u);
  latches.Acquire({"a"}, r.Cb("A"));
  latches.Acquire({"a"}, r.Cb("B"));
  latches.Acquire({"a"}, r.Cb("C"));
  EXPECT_EQ(latches.Active(), 3u);
  latches.Release(r.id["A"]);
  EXPECT_EQ(latches.Active(), 2u);
  latches.Release(r.id["B"]);
  latches.Release(r.id["C"]);
  EXPECT_EQ(latches.Active(), 0u);
}

TEST(LatchesTest, DuplicateKeysInOneCommand) {
  Latches latches;
  Recorder r;
  latches.Acquire({"a", "b", "a", "a"}, r.Cb("A"));
  ASSERT_EQ(r.ran, V{"A"});
  EXPECT_TRUE(latches.Holds(r.id["A"], "a"));
  // One release frees every latch: the next command on a runs at once.
  latches.Release(r.id["A"]);
  latches.Acquire({"a"}, r.Cb("B"));
  ASSERT_EQ(r.ran, (V{"A", "B"}));
  // And a waiter with duplicates runs exactly once.
  latches.Acquire({"a", "a"}, r.Cb("C"));
  EXPECT_EQ(r.ran, (V{"A", "B"}));
  latches.Release(r.id["B"]);
  ASSERT_EQ(r.ran, (V{"A", "B", "C"}));
  latches.Release(r.id["C"]);
  EXPECT_EQ(latches.Active(), 0u);
}

TEST(LatchesTest, EmptyKeyListRunsAtOnce) {
  Latches latches(1);
  Recorder r;
  latches.Acquire({"a"}, r.Cb("A"));
  latches.Acquire({}, r.Cb("E"));  // needs no latch, even with the only slot taken
  ASSERT_EQ(r.ran, (V{"A", "E"}));
  EXPECT_FALSE(latches.Holds(r.id["E"], "a"));
  EXPECT_EQ(latches.Active(), 2u);
  latches.Release(r.id["E"]);
  latches.Release(r.id["A"]);
  EXPECT_EQ(latches.Active(), 0u);
}

TEST(LatchesTest, ReadyMayReleaseInline) {
  // A command may finish inside its ready callback; the next waiter then
  // runs from within that Release.
  Latches latches;
  V done;
  auto finish = [&](std::string name) {
    return [&latches, &done, name](Id id) {
      done.push_back(name);
      latches.Release(id);
    };
  };
  Recorder r;
  latches.Acquire({"k"}, r.Cb("A"));
  latches.Acquire({"k"}, finish("B"));
  latches.Acquire({"k", "j"}, finish("C"));
  latches.Acquire({"k"}, finish("D"));
  EXPECT_TRUE(done.empty());
  latches.Release(r.id["A"]);
  EXPECT_EQ(done, (V{"B", "C", "D"}));
  EXPECT_EQ(latches.Active(), 0u);
}

// A long queue of waiters that each release at once (commands that decide
// to write nothing) runs one after another, not nested: the stack does not
// grow with the queue.
TEST(LatchesTest, ChainedReleasesDoNotNest) {
  Latches latches;
  Id first = 0;
  latches.Acquire({"k"}, [&](Id id) { first = id; });
  constexpr int kWaiters = 20000;
  int ran = 0, depth = 0, max_depth = 0;
  for (int i = 0; i < kWaiters; ++i) {
    latches.Acquire({"k"}, [&](Id id) {
      ++ran;
      max_depth = std::max(max_depth, ++depth);
      latches.Release(id);
      --depth;
    });
  }
  EXPECT_EQ(ran, 0);
  latches.Release(first);
  EXPECT_EQ(ran, kWaiters);
  EXPECT_EQ(max_depth, 1);
  EXPECT_EQ(latches.Active(), 0u);
}

TEST(LatchesTest, StressNoTwoHoldersOfAKey) {
  constexpr int kThreads = 4;
  constexpr int kCommands = 2000;
  constexpr int kKeys = 8;
  Latches latches(64);
  std::array<std::atomic<int>, kKeys> holders{};
  std::atomic<int> violations{0};
  std::atomic<int> finished{0};

  auto worker = [&](int seed) {
    std::mt19937 rng(seed);
    for (int i = 0; i < kCommands; ++i) {
      std::vector<int> picked;
      std::vector<std::string> keys;
      int n = 1 + static_cast<int>(rng() % 3);
      for (int j = 0; j < n; ++j) {
        int k = static_cast<int>(rng() % kKeys);
        keys.push_back("key" + std::to_string(k));
        if (std::find(picked.begin(), picked.end(), k) == picked.end()) picked.push_back(k);
      }
      std::promise<Id> ready;
      auto running = ready.get_future();
      latches.Acquire(keys, [&ready](Id id) { ready.set_value(id); });
      Id id = running.get();  // may run on the thread of another command's Release
      for (int k : picked) {
        if (holders[k].fetch_add(1) != 0) violations.fetch_add(1);
        if (!latches.Holds(id, "key" + std::to_string(k))) violations.fetch_add(1);
      }
      if (i % 16 == 0) std::this_thread::yield();
      for (int k : picked) holders[k].fetch_sub(1);
      latches.Release(id);
    }
    finished.fetch_add(1);
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(worker, 1000 + t);
  for (auto& t : threads) t.join();
  EXPECT_EQ(finished.load(), kThreads);
  EXPECT_EQ(violations.load(), 0);
  EXPECT_EQ(latches.Active(), 0u);
}

}  // namespace
}  // namespace tinykv::txn
