// What MemEngine adds to the conformance suite: crash simulation and the
// release of old versions.
#include "storage/mem/mem_engine.h"

#include <gtest/gtest.h>

namespace tinykv::storage {
namespace {

void Put(Engine& e, std::string_view k, std::string_view v, bool sync = false) {
  WriteBatch b;
  b.Put(Cf::kDefault, k, v);
  ASSERT_TRUE(e.Write(b, WriteOptions{.sync = sync}).ok());
}

std::optional<std::string> Get(Engine& e, std::string_view k) { return *e.Get(Cf::kDefault, k); }

TEST(MemEngineTest, CrashForgetsUnsyncedWrites) {
  MemEngine e;
  Put(e, "a", "1", /*sync=*/true);
  Put(e, "a", "2");
  Put(e, "b", "1");
  EXPECT_EQ(e.UnsyncedWriteCount(), 2u);
  e.SimulateCrash();
  EXPECT_EQ(Get(e, "a"), "1");
  EXPECT_EQ(Get(e, "b"), std::nullopt);
  EXPECT_EQ(e.UnsyncedWriteCount(), 0u);
}

TEST(MemEngineTest, SyncMakesEarlierWritesDurable) {
  MemEngine e;
  Put(e, "a", "1");
  Put(e, "b", "1");
  ASSERT_TRUE(e.Sync().ok());
  Put(e, "c", "1");
  e.SimulateCrash();
  EXPECT_EQ(Get(e, "a"), "1");
  EXPECT_EQ(Get(e, "b"), "1");
  EXPECT_EQ(Get(e, "c"), std::nullopt);
}

TEST(MemEngineTest, SyncWriteCoversEarlierUnsyncedWrites) {
  MemEngine e;
  Put(e, "a", "1");
  Put(e, "b", "1", /*sync=*/true);
  e.SimulateCrash();
  EXPECT_EQ(Get(e, "a"), "1");
}

TEST(MemEngineTest, CrashCanKeepAPrefixOfUnsyncedWrites) {
  MemEngine e;
  Put(e, "k", "synced", true);
  Put(e, "k", "u1");
  Put(e, "x", "u2");
  Put(e, "k", "u3");
  e.SimulateCrash(/*keep_unsynced=*/2);
  EXPECT_EQ(Get(e, "k"), "u1");
  EXPECT_EQ(Get(e, "x"), "u2");
  // What survived is now durable.
  e.SimulateCrash();
  EXPECT_EQ(Get(e, "k"), "u1");
}

TEST(MemEngineTest, CrashRestoresDeletedKeysAndUndoesDeleteRange) {
  MemEngine e;
  Put(e, "a", "1");
  Put(e, "b", "2", true);
  WriteBatch b;
  b.Delete(Cf::kDefault, "a");
  b.DeleteRange(Cf::kDefault, "b", "c");
  ASSERT_TRUE(e.Write(b, {}).ok());
  EXPECT_EQ(Get(e, "a"), std::nullopt);
  e.SimulateCrash();
  EXPECT_EQ(Get(e, "a"), "1");
  EXPECT_EQ(Get(e, "b"), "2");
}

TEST(MemEngineTest, OldVersionsAreReleased) {
  MemEngine e;
  for (int i = 0; i < 100; ++i) Put(e, "k", std::to_string(i), /*sync=*/true);
  EXPECT_EQ(e.VersionCountForTesting(), 1u);

  auto snap = e.NewSnapshot();
  for (int i = 0; i < 10; ++i) Put(e, "k", "new" + std::to_string(i), true);
  EXPECT_GT(e.VersionCountForTesting(), 1u);  // the snapshot still needs "99"
  EXPECT_EQ(*snap->Get(Cf::kDefault, "k"), "99");
  snap.reset();
  EXPECT_EQ(e.VersionCountForTesting(), 1u);

  WriteBatch del;
  del.Delete(Cf::kDefault, "k");
  ASSERT_TRUE(e.Write(del, WriteOptions{.sync = true}).ok());
  EXPECT_EQ(e.VersionCountForTesting(), 0u);
}

TEST(MemEngineTest, UnsyncedVersionsAreKeptForACrash) {
  MemEngine e;
  Put(e, "k", "durable", true);
  for (int i = 0; i < 5; ++i) Put(e, "k", std::to_string(i));
  EXPECT_GE(e.VersionCountForTesting(), 2u);
  ASSERT_TRUE(e.Sync().ok());
  EXPECT_EQ(e.VersionCountForTesting(), 1u);
}

TEST(MemEngineDeathTest, DestroyingWithLiveSnapshotIsABug) {
  EXPECT_DEATH(
      {
        auto e = std::make_unique<MemEngine>();
        auto snap = e->NewSnapshot();
        e.reset();
      },
      "live snapshots");
}

}  // namespace
}  // namespace tinykv::storage
