// The behaviour every Engine must have. Runs against MemEngine and RocksEngine.
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <map>
#include <random>
#include <thread>

#include "storage/engine.h"
#include "storage/mem/mem_engine.h"
#include "storage/rocks/rocks_engine.h"
#include "testing/temp_dir.h"

namespace tinykv::storage {
namespace {

using namespace std::string_literals;
using KvList = std::vector<std::pair<std::string, std::string>>;

struct EngineKind {
  std::string name;
  std::function<std::unique_ptr<Engine>(const std::string& dir)> open;
};

std::unique_ptr<Engine> OpenMem(const std::string&) { return std::make_unique<MemEngine>(); }

std::unique_ptr<Engine> OpenRocks(const std::string& dir) {
  RocksOptions options;
  options.path = dir + "/db";
  options.block_cache_bytes = 8 << 20;
  auto engine = OpenRocksEngine(options);
  TKV_CHECK(engine.ok(), "{}", engine.status().ToString());
  return std::move(engine).value();
}

class EngineConformance : public ::testing::TestWithParam<EngineKind> {
 protected:
  void SetUp() override { engine_ = GetParam().open(dir_.path()); }

  void Put(Cf cf, std::string_view k, std::string_view v) {
    WriteBatch b;
    b.Put(cf, k, v);
    ASSERT_TRUE(engine_->Write(b, {}).ok());
  }
  void Delete(Cf cf, std::string_view k) {
    WriteBatch b;
    b.Delete(cf, k);
    ASSERT_TRUE(engine_->Write(b, {}).ok());
  }
  std::optional<std::string> Get(Cf cf, std::string_view k) {
    auto r = engine_->Get(cf, k);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : std::nullopt;
  }
  static KvList Scan(Iterator& it) {
    KvList out;
    for (it.SeekToFirst(); it.Valid(); it.Next()) out.emplace_back(it.key(), it.value());
    EXPECT_TRUE(it.status().ok());
    return out;
  }
  static KvList ScanBackward(Iterator& it) {
    KvList out;
    for (it.SeekToLast(); it.Valid(); it.Prev()) out.emplace_back(it.key(), it.value());
    return out;
  }

  testing::TempDir dir_;  // declared before engine_ so that it outlives it
  std::unique_ptr<Engine> engine_;
};

TEST_P(EngineConformance, GetMissingIsNotAnError) {
  auto r = engine_->Get(Cf::kDefault, "nope");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
}

TEST_P(EngineConformance, PutGetOverwriteDelete) {
  Put(Cf::kDefault, "k", "v1");
  EXPECT_EQ(Get(Cf::kDefault, "k"), "v1");
  Put(Cf::kDefault, "k", "v2");
  EXPECT_EQ(Get(Cf::kDefault, "k"), "v2");
  Delete(Cf::kDefault, "k");
  EXPECT_EQ(Get(Cf::kDefault, "k"), std::nullopt);
  Delete(Cf::kDefault, "never-existed");
  EXPECT_EQ(Get(Cf::kDefault, "never-existed"), std::nullopt);
}

TEST_P(EngineConformance, EmptyValueIsAValue) {
  Put(Cf::kDefault, "k", "");
  EXPECT_EQ(Get(Cf::kDefault, "k"), "");
}

TEST_P(EngineConformance, BinaryKeysAndValues) {
  std::string key = "a\0b\xff"s;
  std::string value = "\x00\x01\x02\xfe"s;
  Put(Cf::kDefault, key, value);
  EXPECT_EQ(Get(Cf::kDefault, key), value);
  EXPECT_EQ(Get(Cf::kDefault, "a"), std::nullopt);  // a prefix is a different key
}

TEST_P(EngineConformance, ColumnFamiliesAreIndependent) {
  Put(Cf::kDefault, "k", "d");
  Put(Cf::kLock, "k", "l");
  Put(Cf::kWrite, "k", "w");
  Put(Cf::kMeta, "k", "m");
  EXPECT_EQ(Get(Cf::kDefault, "k"), "d");
  EXPECT_EQ(Get(Cf::kLock, "k"), "l");
  EXPECT_EQ(Get(Cf::kWrite, "k"), "w");
  EXPECT_EQ(Get(Cf::kMeta, "k"), "m");
  Delete(Cf::kLock, "k");
  EXPECT_EQ(Get(Cf::kLock, "k"), std::nullopt);
  EXPECT_EQ(Get(Cf::kDefault, "k"), "d");
  auto snap = engine_->NewSnapshot();
  auto it = snap->NewIterator(Cf::kWrite);
  EXPECT_EQ(Scan(*it), (KvList{{"k", "w"}}));
}

TEST_P(EngineConformance, LaterOperationInABatchWins) {
  WriteBatch b;
  b.Put(Cf::kDefault, "a", "1");
  b.Delete(Cf::kDefault, "a");
  b.Delete(Cf::kDefault, "b");
  b.Put(Cf::kDefault, "b", "2");
  b.Put(Cf::kDefault, "c", "3");
  b.Put(Cf::kDefault, "c", "4");
  ASSERT_TRUE(engine_->Write(b, {}).ok());
  EXPECT_EQ(Get(Cf::kDefault, "a"), std::nullopt);
  EXPECT_EQ(Get(Cf::kDefault, "b"), "2");
  EXPECT_EQ(Get(Cf::kDefault, "c"), "4");
}

TEST_P(EngineConformance, DeleteRangeRemovesHalfOpenRange) {
  for (std::string k : {"a", "b", "ba", "c", "d"}) Put(Cf::kDefault, k, k);
  Put(Cf::kLock, "b", "other cf");
  WriteBatch b;
  b.DeleteRange(Cf::kDefault, "b", "d");
  ASSERT_TRUE(engine_->Write(b, {}).ok());
  auto snap = engine_->NewSnapshot();
  auto it = snap->NewIterator(Cf::kDefault);
  EXPECT_EQ(Scan(*it), (KvList{{"a", "a"}, {"d", "d"}}));
  EXPECT_EQ(Get(Cf::kLock, "b"), "other cf");
}

TEST_P(EngineConformance, DeleteFromRemovesEverythingAfter) {
  for (std::string k : {"a", "b", "c", "\xff\xff\xff"}) Put(Cf::kDefault, k, "v");
  Put(Cf::kLock, "c", "other cf");
  WriteBatch b;
  b.DeleteFrom(Cf::kDefault, "b");
  b.Put(Cf::kDefault, "d", "after");  // later in the same batch: survives
  ASSERT_TRUE(engine_->Write(b, {}).ok());
  auto snap = engine_->NewSnapshot();
  auto it = snap->NewIterator(Cf::kDefault);
  EXPECT_EQ(Scan(*it), (KvList{{"a", "v"}, {"d", "after"}}));
  EXPECT_EQ(Get(Cf::kLock, "c"), "other cf");
  WriteBatch earlier;
  earlier.Put(Cf::kDefault, "zzz", "put before the delete");
  earlier.DeleteFrom(Cf::kDefault, "c");
  ASSERT_TRUE(engine_->Write(earlier, {}).ok());
  EXPECT_EQ(Get(Cf::kDefault, "zzz"), std::nullopt);
  EXPECT_EQ(Get(Cf::kDefault, "a"), "v");
  WriteBatch empty;
  empty.DeleteFrom(Cf::kWrite, "x");  // nothing there
  EXPECT_TRUE(engine_->Write(empty, {}).ok());
}

TEST_P(EngineConformance, DeleteRangeThenPutInOneBatch) {
  Put(Cf::kDefault, "b", "old");
  WriteBatch b;
  b.DeleteRange(Cf::kDefault, "a", "z");
  b.Put(Cf::kDefault, "b", "new");
  ASSERT_TRUE(engine_->Write(b, {}).ok());
  EXPECT_EQ(Get(Cf::kDefault, "b"), "new");
}

TEST_P(EngineConformance, SnapshotDoesNotSeeLaterWrites) {
  Put(Cf::kDefault, "a", "1");
  Put(Cf::kDefault, "b", "1");
  auto snap = engine_->NewSnapshot();
  Put(Cf::kDefault, "a", "2");
  Delete(Cf::kDefault, "b");
  Put(Cf::kDefault, "c", "new");
  EXPECT_EQ(*snap->Get(Cf::kDefault, "a"), "1");
  EXPECT_EQ(*snap->Get(Cf::kDefault, "b"), "1");
  EXPECT_EQ(*snap->Get(Cf::kDefault, "c"), std::nullopt);
  auto it = snap->NewIterator(Cf::kDefault);
  EXPECT_EQ(Scan(*it), (KvList{{"a", "1"}, {"b", "1"}}));
  // The engine itself sees the new state.
  EXPECT_EQ(Get(Cf::kDefault, "a"), "2");
  EXPECT_EQ(Get(Cf::kDefault, "b"), std::nullopt);
}

// Project 1's TestIterWithRawDelete1: an iterator opened before a delete still
// returns the deleted key.
TEST_P(EngineConformance, IteratorOpenedBeforeDeleteSeesKey) {
  for (std::string k : {"1", "2", "3", "4"}) Put(Cf::kDefault, k, "v" + k);
  auto snap = engine_->NewSnapshot();
  auto it = snap->NewIterator(Cf::kDefault);
  it->Seek("1");
  Delete(Cf::kDefault, "3");
  KvList seen;
  for (; it->Valid(); it->Next()) seen.emplace_back(it->key(), it->value());
  EXPECT_EQ(seen, (KvList{{"1", "v1"}, {"2", "v2"}, {"3", "v3"}, {"4", "v4"}}));
}

TEST_P(EngineConformance, IteratorOutlivesItsSnapshotObject) {
  Put(Cf::kDefault, "a", "1");
  std::unique_ptr<Iterator> it;
  {
    auto snap = engine_->NewSnapshot();
    it = snap->NewIterator(Cf::kDefault);
  }
  Put(Cf::kDefault, "b", "2");
  EXPECT_EQ(Scan(*it), (KvList{{"a", "1"}}));
}

TEST_P(EngineConformance, IteratorOrderSeekAndBackward) {
  std::vector<std::string> keys = {"",  "\x00"s, "a",    "a\x00"s,  "ab",
                                   "b", "\x7f",  "\xff", "\xff\xff"};
  for (const auto& k : keys) Put(Cf::kDefault, k, "v");
  auto snap = engine_->NewSnapshot();
  auto it = snap->NewIterator(Cf::kDefault);
  KvList forward = Scan(*it);
  ASSERT_EQ(forward.size(), keys.size());
  for (size_t i = 0; i < keys.size(); ++i)
    EXPECT_EQ(forward[i].first, keys[i]) << i;  // bytewise order
  KvList backward = ScanBackward(*it);
  std::reverse(backward.begin(), backward.end());
  EXPECT_EQ(backward, forward);

  it->Seek("a\x01"s);
  ASSERT_TRUE(it->Valid());
  EXPECT_EQ(it->key(), "ab");
  it->SeekForPrev("a\x01"s);
  ASSERT_TRUE(it->Valid());
  EXPECT_EQ(it->key(), "a\x00"s);
  it->SeekForPrev("ab");
  ASSERT_TRUE(it->Valid());
  EXPECT_EQ(it->key(), "ab");
  it->Seek("\xff\xff\xff");
  EXPECT_FALSE(it->Valid());
  it->SeekForPrev("");
  ASSERT_TRUE(it->Valid());
  EXPECT_EQ(it->key(), "");
  it->Prev();
  EXPECT_FALSE(it->Valid());
}

TEST_P(EngineConformance, IteratorBounds) {
  for (std::string k : {"a", "b", "c", "d", "e"}) Put(Cf::kDefault, k, k);
  auto snap = engine_->NewSnapshot();
  IterOptions opts;
  opts.lower_bound = "b";
  opts.upper_bound = "d";
  auto it = snap->NewIterator(Cf::kDefault, opts);
  EXPECT_EQ(Scan(*it), (KvList{{"b", "b"}, {"c", "c"}}));
  EXPECT_EQ(ScanBackward(*it), (KvList{{"c", "c"}, {"b", "b"}}));
  it->Seek("a");
  ASSERT_TRUE(it->Valid());
  EXPECT_EQ(it->key(), "b");
  it->Seek("d");
  EXPECT_FALSE(it->Valid());
  it->SeekForPrev("z");
  ASSERT_TRUE(it->Valid());
  EXPECT_EQ(it->key(), "c");
  it->SeekForPrev("a");
  EXPECT_FALSE(it->Valid());

  IterOptions only_upper;
  only_upper.upper_bound = "c";
  auto it2 = snap->NewIterator(Cf::kDefault, only_upper);
  EXPECT_EQ(Scan(*it2), (KvList{{"a", "a"}, {"b", "b"}}));
}

TEST_P(EngineConformance, EmptyFamilyIteratesNothing) {
  auto snap = engine_->NewSnapshot();
  auto it = snap->NewIterator(Cf::kLock);
  it->SeekToFirst();
  EXPECT_FALSE(it->Valid());
  it->SeekToLast();
  EXPECT_FALSE(it->Valid());
  EXPECT_TRUE(it->status().ok());
}

TEST_P(EngineConformance, SyncWritesAndSync) {
  WriteBatch b;
  b.Put(Cf::kDefault, "k", "v");
  ASSERT_TRUE(engine_->Write(b, WriteOptions{.sync = true}).ok());
  Put(Cf::kDefault, "k2", "v2");
  ASSERT_TRUE(engine_->Sync().ok());
  EXPECT_EQ(Get(Cf::kDefault, "k2"), "v2");
}

TEST_P(EngineConformance, LargeValue) {
  std::string big(3 << 20, 'x');
  big[12345] = '\0';
  Put(Cf::kDefault, "big", big);
  EXPECT_EQ(Get(Cf::kDefault, "big"), big);
}

// Readers never see half of a batch, even while writers run.
TEST_P(EngineConformance, ConcurrentBatchesAreAtomicToReaders) {
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; i < 2000; ++i) {
      WriteBatch b;
      b.Put(Cf::kDefault, "x", std::to_string(i));
      b.Put(Cf::kWrite, "y", std::to_string(i));
      TKV_CHECK(engine_->Write(b, {}).ok());
    }
    stop = true;
  });
  int checks = 0;
  while (!stop || checks < 10) {
    auto snap = engine_->NewSnapshot();
    auto x = *snap->Get(Cf::kDefault, "x");
    auto y = *snap->Get(Cf::kWrite, "y");
    ASSERT_EQ(x, y);
    ++checks;
  }
  writer.join();
}

// Random operations checked against a std::map model, with snapshots taken
// along the way and checked against the model as it was then.
TEST_P(EngineConformance, RandomOperationsMatchModel) {
  std::mt19937 rng(20261122);
  using Model = std::map<std::string, std::string>;
  std::array<Model, kNumCfs> model;
  std::vector<std::pair<std::unique_ptr<Snapshot>, std::array<Model, kNumCfs>>> snaps;
  auto random_key = [&] {
    return std::string(1, static_cast<char>('a' + rng() % 12)) + (rng() % 2 ? "x" : "");
  };

  for (int step = 0; step < 1500; ++step) {
    WriteBatch b;
    int ops = 1 + rng() % 4;
    for (int i = 0; i < ops; ++i) {
      Cf cf = kAllCfs[rng() % kNumCfs];
      Model& m = model[static_cast<size_t>(cf)];
      switch (rng() % 6) {
        case 0:
        case 1:
        case 2: {
          std::string k = random_key(), v = std::to_string(step);
          b.Put(cf, k, v);
          m[k] = v;
          break;
        }
        case 3:
        case 4: {
          std::string k = random_key();
          b.Delete(cf, k);
          m.erase(k);
          break;
        }
        default: {
          std::string lo = random_key(), hi = random_key();
          if (hi < lo) std::swap(lo, hi);
          if (rng() % 4 == 0) {
            b.DeleteFrom(cf, hi);
            m.erase(m.lower_bound(hi), m.end());
          } else {
            b.DeleteRange(cf, lo, hi);
            m.erase(m.lower_bound(lo), m.lower_bound(hi));
          }
        }
      }
    }
    ASSERT_TRUE(engine_->Write(b, WriteOptions{.sync = rng() % 10 == 0}).ok());
    if (rng() % 50 == 0) snaps.emplace_back(engine_->NewSnapshot(), model);
    if (!snaps.empty() && rng() % 70 == 0) snaps.erase(snaps.begin() + rng() % snaps.size());
  }
  snaps.emplace_back(engine_->NewSnapshot(), model);
  for (auto& [snap, expected] : snaps) {
    for (Cf cf : kAllCfs) {
      const Model& m = expected[static_cast<size_t>(cf)];
      auto it = snap->NewIterator(cf);
      EXPECT_EQ(Scan(*it), KvList(m.begin(), m.end()));
      for (char c = 'a'; c < 'a' + 12; ++c) {
        std::string k(1, c);
        auto want = m.count(k) ? std::optional<std::string>(m.at(k)) : std::nullopt;
        EXPECT_EQ(*snap->Get(cf, k), want);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Engines, EngineConformance,
                         ::testing::Values(EngineKind{"Mem", OpenMem},
                                           EngineKind{"Rocks", OpenRocks}),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace tinykv::storage
