#include "scheduler/allocators.h"

#include <gtest/gtest.h>

#include <set>

#include "storage/mem/mem_engine.h"

namespace tinykv::scheduler {
namespace {

TEST(IdAllocatorTest, PersistsOneBoundPerBatch) {
  storage::MemEngine engine;
  MetaStore meta(engine);
  IdAllocator ids(meta, 0, 10);
  for (uint64_t want = 1; want <= 25; ++want) EXPECT_EQ(*ids.Alloc(), want);
  auto loaded = meta.Load();
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->alloc_end, 30u);
  // A restart continues above the bound: ids 26..30 are skipped, never reused.
  IdAllocator again(meta, loaded->alloc_end, 10);
  EXPECT_EQ(*again.Alloc(), 31u);
}

TEST(IdAllocatorTest, ABoundLostInACrashIsNeverBelowAnIdHandedOut) {
  storage::MemEngine engine;
  MetaStore meta(engine);
  {
    IdAllocator ids(meta, 0, 5);
    for (int i = 0; i < 12; ++i) (void)*ids.Alloc();
  }
  engine.SimulateCrash();  // the bounds were synced: nothing is lost
  auto loaded = meta.Load();
  ASSERT_TRUE(loaded.ok());
  IdAllocator again(meta, loaded->alloc_end, 5);
  EXPECT_GT(*again.Alloc(), 12u);
}

TEST(TsoTest, CountAndBounds) {
  storage::MemEngine engine;
  MetaStore meta(engine);
  ManualClock wall(1'000'000);
  Tso tso(meta, wall, 0, 3000);
  ASSERT_TRUE(tso.Init().ok());
  EXPECT_FALSE(tso.Next(0).ok());
  EXPECT_FALSE(tso.Next(Timestamp::kMaxLogical).ok());
  auto a = tso.Next(10);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->physical, 1'000'000);
  EXPECT_EQ(a->logical, 10);
  auto b = tso.Next(1);
  EXPECT_EQ(b->logical, 11);
}

TEST(TsoTest, RunsAheadOfTheClockWhenTheLogicalCounterIsUsedUp) {
  storage::MemEngine engine;
  MetaStore meta(engine);
  ManualClock wall(5'000);
  Tso tso(meta, wall, 0, 3000);
  ASSERT_TRUE(tso.Init().ok());
  uint64_t last = 0;
  for (int i = 0; i < 20; ++i) {
    auto ts = tso.Next(100'000);
    ASSERT_TRUE(ts.ok());
    EXPECT_GT(ts->Compose(), last);
    last = ts->Compose();
  }
  EXPECT_GT(tso.last().physical, 5'000);  // ran ahead: the clock did not move
}

TEST(TsoTest, RestartStartsAboveTheSavedBound) {
  storage::MemEngine engine;
  MetaStore meta(engine);
  ManualClock wall(100'000);
  uint64_t last;
  {
    Tso tso(meta, wall, 0, 3000);
    ASSERT_TRUE(tso.Init().ok());
    for (int i = 0; i < 5000; ++i) {
      wall.Advance(i % 3 == 0 ? 1 : 0);
      (void)tso.Next(1);
    }
    last = tso.last().Compose();
  }
  engine.SimulateCrash();
  auto loaded = meta.Load();
  ASSERT_TRUE(loaded.ok());
  EXPECT_GT(loaded->tso_end, static_cast<uint64_t>(last >> Timestamp::kLogicalBits));
  wall.Set(50'000);  // and the clock went back
  Tso again(meta, wall, loaded->tso_end, 3000);
  ASSERT_TRUE(again.Init().ok());
  auto ts = again.Next(1);
  ASSERT_TRUE(ts.ok());
  EXPECT_GT(ts->Compose(), last);
}

}  // namespace
}  // namespace tinykv::scheduler
