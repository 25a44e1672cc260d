// MvccTxn, MvccReader and Scanner against the engine layout of txn/keys.h
// (the course's 4A scenarios, plus the lock scan and the scanner).
#include "txn/mvcc.h"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "storage/mem/mem_engine.h"
#include "txn/keys.h"

namespace tinykv::txn {
namespace {

using storage::Cf;
using storage::WriteBatch;
using V = std::vector<std::string>;

std::string Bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s += static_cast<char>(c);
  return s;
}

class MvccTest : public ::testing::Test {
 protected:
  // Stages changes as the transaction started at start_ts and writes them.
  void WriteTxn(uint64_t start_ts, const std::function<void(MvccTxn&)>& stage) {
    auto snap = engine_.NewSnapshot();
    MvccReader reader(*snap);
    MvccTxn txn(reader, start_ts);
    stage(txn);
    ASSERT_TRUE(engine_.Write(txn.batch(), {}).ok());
  }

  // A committed Put of `value` (start_ts, commit_ts).
  void CommitPut(std::string_view key, std::string_view value, uint64_t start_ts,
                 uint64_t commit_ts) {
    WriteTxn(start_ts, [&](MvccTxn& t) {
      t.PutValue(key, value);
      t.PutWrite(key, commit_ts, Write{WriteKind::kPut, start_ts});
    });
  }
  void CommitDelete(std::string_view key, uint64_t start_ts, uint64_t commit_ts) {
    WriteTxn(start_ts, [&](MvccTxn& t) {
      t.PutWrite(key, commit_ts, Write{WriteKind::kDelete, start_ts});
    });
  }
  // A write record of `kind` for a transaction without a value (Rollback, Lock).
  void PutRecord(std::string_view key, WriteKind kind, uint64_t start_ts, uint64_t commit_ts) {
    WriteTxn(start_ts, [&](MvccTxn& t) { t.PutWrite(key, commit_ts, Write{kind, start_ts}); });
  }
  void PutLock(std::string_view key, const Lock& lock) {
    WriteTxn(lock.ts, [&](MvccTxn& t) { t.PutLock(key, lock); });
  }

  storage::MemEngine engine_;
};

// The one operation of a batch.
const WriteBatch::Op& OnlyOp(const MvccTxn& txn) {
  EXPECT_EQ(txn.batch().Count(), 1u);
  return txn.batch().ops().at(0);
}

// ---- MvccTxn: staged operations ----

TEST_F(MvccTest, PutLockStagesOneLockPut) {
  auto snap = engine_.NewSnapshot();
  MvccReader reader(*snap);
  MvccTxn txn(reader, 42);
  Lock lock{"pk", WriteKind::kPut, 42, 3000};
  txn.PutLock("k", lock);
  const auto& op = OnlyOp(txn);
  EXPECT_EQ(op.type, WriteBatch::OpType::kPut);
  EXPECT_EQ(op.cf, Cf::kLock);
  EXPECT_EQ(op.key, Bytes({'k', 0, 0, 0, 0, 0, 0, 0, 0xF8}));  // Enc(k), no ts
  EXPECT_EQ(op.value, lock.Encode());
  EXPECT_EQ(txn.written_keys(), std::vector<std::string>{"k"});
}

TEST_F(MvccTest, PutWriteStagesOneWritePutAtCommitTs) {
  auto snap = engine_.NewSnapshot();
  MvccReader reader(*snap);
  MvccTxn txn(reader, 10);
  txn.PutWrite("k", 20, Write{WriteKind::kPut, 10});
  const auto& op = OnlyOp(txn);
  EXPECT_EQ(op.type, WriteBatch::OpType::kPut);
  EXPECT_EQ(op.cf, Cf::kWrite);
  EXPECT_EQ(op.key, Bytes({'k', 0, 0, 0, 0, 0, 0, 0, 0xF8,  //
                           0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF - 20}));
  EXPECT_EQ(op.value, Bytes({1, 0, 0, 0, 0, 0, 0, 0, 10}));
}

TEST_F(MvccTest, PutValueStagesOneDefaultPutAtStartTs) {
  auto snap = engine_.NewSnapshot();
  MvccReader reader(*snap);
  MvccTxn txn(reader, 7);
  txn.PutValue("key", "value");
  const auto& op = OnlyOp(txn);
  EXPECT_EQ(op.type, WriteBatch::OpType::kPut);
  EXPECT_EQ(op.cf, Cf::kDefault);
  EXPECT_EQ(op.key, EncodeKey("key", 7));
  EXPECT_EQ(op.value, "value");
}

TEST_F(MvccTest, DeleteLockStagesOneLockDelete) {
  auto snap = engine_.NewSnapshot();
  MvccReader reader(*snap);
  MvccTxn txn(reader, 7);
  txn.DeleteLock("key");
  const auto& op = OnlyOp(txn);
  EXPECT_EQ(op.type, WriteBatch::OpType::kDelete);
  EXPECT_EQ(op.cf, Cf::kLock);
  EXPECT_EQ(op.key, EncodeUserKey("key"));
  EXPECT_EQ(op.value, "");
}

TEST_F(MvccTest, DeleteValueStagesOneDefaultDeleteAtStartTs) {
  auto snap = engine_.NewSnapshot();
  MvccReader reader(*snap);
  MvccTxn txn(reader, 7);
  txn.DeleteValue("key");
  const auto& op = OnlyOp(txn);
  EXPECT_EQ(op.type, WriteBatch::OpType::kDelete);
  EXPECT_EQ(op.cf, Cf::kDefault);
  EXPECT_EQ(op.key, EncodeKey("key", 7));
}

TEST_F(MvccTest, WrittenKeysInFirstWrittenOrderWithoutDuplicates) {
  auto snap = engine_.NewSnapshot();
  MvccReader reader(*snap);
  MvccTxn txn(reader, 7);
  txn.PutValue("b", "1");
  txn.PutLock("b", Lock{"b", WriteKind::kPut, 7, 1});
  txn.DeleteLock("a");
  txn.PutWrite("b", 9, Write{WriteKind::kPut, 7});
  txn.DeleteValue("c");
  EXPECT_EQ(txn.batch().Count(), 5u);
  EXPECT_EQ(txn.written_keys(), (std::vector<std::string>{"b", "a", "c"}));
  EXPECT_EQ(txn.start_ts(), 7u);
  EXPECT_EQ(&txn.reader(), &reader);
  WriteBatch taken = txn.TakeBatch();
  EXPECT_EQ(taken.Count(), 5u);
}

// ---- MvccReader ----

TEST_F(MvccTest, GetLockRoundTripsAndAbsentIsNone) {
  Lock lock{"primary", WriteKind::kDelete, 15, 500};
  PutLock("k", lock);
  auto snap = engine_.NewSnapshot();
  MvccReader reader(*snap);
  auto got = reader.GetLock("k");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(**got, lock);
  // Neighbouring keys have no lock.
  for (const std::string& other : V{"", "j", std::string("k\0", 2), "kk"}) {
    auto none = reader.GetLock(other);
    ASSERT_TRUE(none.ok());
    EXPECT_FALSE(none->has_value()) << other;
  }
}

TEST_F(MvccTest, GetLockOfCorruptRecordFails) {
  WriteBatch b;
  b.Put(Cf::kLock, EncodeUserKey("k"), "short");
  ASSERT_TRUE(engine_.Write(b, {}).ok());
  auto snap = engine_.NewSnapshot();
  MvccReader reader(*snap);
  EXPECT_EQ(reader.GetLock("k").status().code(), Code::kCorruption);
}

TEST_F(MvccTest, GetValueSimple) {
  CommitPut("k", "v", 10, 20);
  auto snap = engine_.NewSnapshot();
  MvccReader reader(*snap);
  EXPECT_EQ(*reader.GetValue("k", 30), "v");
  EXPECT_EQ(*reader.GetValue("k", kTsMax), "v");
}

TEST_F(MvccTest, GetValueMissing) {
  CommitPut("k", "v", 10, 20);
  auto snap = engine_.NewSnapshot();
  MvccReader reader(*snap);
  // Keys sorting just before and after k see nothing of it.
  for (const std::string& other : V{"", "j", std::string("k\0", 2), "kk", "l"}) {
    auto v = reader.GetValue(other, 30);
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    EXPECT_EQ(*v, std::nullopt) << other;
  }
}

TEST_F(MvccTest, GetValueTooEarly) {
  CommitPut("k", "v", 10, 20);
  auto snap = engine_.NewSnapshot();
  MvccReader reader(*snap);
  EXPECT_EQ(*reader.GetValue("k", 5), std::nullopt);
  EXPECT_EQ(*reader.GetValue("k", 10), std::nullopt);  // started, not committed
  EXPECT_EQ(*reader.GetValue("k", 19), std::nullopt);
  EXPECT_EQ(*reader.GetValue("k", 20), "v");  // visible at its commit ts
}

TEST_F(MvccTest, GetValueOverwritten) {
  CommitPut("k", "v1", 10, 20);
  CommitPut("k", "v2", 30, 40);
  auto snap = engine_.NewSnapshot();
  MvccReader reader(*snap);
  EXPECT_EQ(*reader.GetValue("k", 40), "v2");
  EXPECT_EQ(*reader.GetValue("k", 50), "v2");
}

TEST_F(MvccTest, GetValueNotOverwritten) {
  CommitPut("k", "v1", 10, 20);
  CommitPut("k", "v2", 30, 40);
  auto snap = engine_.NewSnapshot();
  MvccReader reader(*snap);
  EXPECT_EQ(*reader.GetValue("k", 20), "v1");
  EXPECT_EQ(*reader.GetValue("k", 35), "v1");
  EXPECT_EQ(*reader.GetValue("k", 39), "v1");
}

TEST_F(MvccTest, GetValueDeleted) {
  CommitPut("k", "v1", 10, 20);
  CommitDelete("k", 30, 40);
  auto snap = engine_.NewSnapshot();
  MvccReader reader(*snap);
  EXPECT_EQ(*reader.GetValue("k", 40), std::nullopt);
  EXPECT_EQ(*reader.GetValue("k", 45), std::nullopt);
}

TEST_F(MvccTest, GetValueNotDeleted) {
  CommitPut("k", "v1", 10, 20);
  CommitDelete("k", 30, 40);
  CommitPut("k", "v3", 50, 60);
  auto snap = engine_.NewSnapshot();
  MvccReader reader(*snap);
  EXPECT_EQ(*reader.GetValue("k", 39), "v1");
  EXPECT_EQ(*reader.GetValue("k", 59), std::nullopt);
  EXPECT_EQ(*reader.GetValue("k", 60), "v3");
}

TEST_F(MvccTest, GetValueLooksPastRollbackAndLockRecords) {
  CommitPut("k", "v1", 10, 20);
  PutRecord("k", WriteKind::kRollback, 30, 30);
  PutRecord("k", WriteKind::kLock, 35, 38);
  PutRecord("k", WriteKind::kRollback, 40, 40);
  auto snap = engine_.NewSnapshot();
  MvccReader reader(*snap);
  EXPECT_EQ(*reader.GetValue("k", 50), "v1");
  // A key with nothing but such records has no value.
  PutRecord("j", WriteKind::kRollback, 30, 30);
  PutRecord("j", WriteKind::kLock, 35, 38);
  auto snap2 = engine_.NewSnapshot();
  MvccReader reader2(*snap2);
  EXPECT_EQ(*reader2.GetValue("j", 50), std::nullopt);
  EXPECT_EQ(*reader2.GetValue("k", 50), "v1");
}

TEST_F(MvccTest, GetValueOfPutWithoutValueIsCorruption) {
  PutRecord("k", WriteKind::kPut, 10, 20);  // no default CF value at 10
  auto snap = engine_.NewSnapshot();
  MvccReader reader(*snap);
  EXPECT_EQ(reader.GetValue("k", 30).status().code(), Code::kCorruption);
  EXPECT_EQ(*reader.GetValue("k", 15), std::nullopt);  // not visible yet: not read
}

TEST_F(MvccTest, ReaderSeesItsSnapshotOnly) {
  CommitPut("k", "v1", 10, 20);
  auto snap = engine_.NewSnapshot();
  MvccReader reader(*snap);
  CommitPut("k", "v2", 30, 40);
  EXPECT_EQ(*reader.GetValue("k", 50), "v1");
  EXPECT_EQ(&reader.snapshot(), snap.get());
}

TEST_F(MvccTest, CurrentWriteMatchesByStartTs) {
  CommitPut("k", "v1", 10, 20);
  CommitDelete("k", 30, 40);
  PutRecord("k", WriteKind::kRollback, 50, 50);
  CommitPut("j", "other", 60, 70);  // another key's record must not match
  CommitPut("l", "other", 60, 70);
  auto snap = engine_.NewSnapshot();
  MvccReader reader(*snap);

  auto w = reader.CurrentWrite("k", 10);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ASSERT_TRUE(w->has_value());
  EXPECT_EQ((*w)->write, (Write{WriteKind::kPut, 10}));
  EXPECT_EQ((*w)->commit_ts, 20u);

  w = reader.CurrentWrite("k", 30);
  ASSERT_TRUE(w->has_value());
  EXPECT_EQ((*w)->write, (Write{WriteKind::kDelete, 30}));
  EXPECT_EQ((*w)->commit_ts, 40u);

  w = reader.CurrentWrite("k", 50);
  ASSERT_TRUE(w->has_value());
  EXPECT_EQ((*w)->write, (Write{WriteKind::kRollback, 50}));
  EXPECT_EQ((*w)->commit_ts, 50u);

  // A commit ts or an unknown start ts matches nothing.
  for (uint64_t ts : {5u, 15u, 20u, 40u, 60u, 70u}) {
    auto none = reader.CurrentWrite("k", ts);
    ASSERT_TRUE(none.ok());
    EXPECT_FALSE(none->has_value()) << ts;
  }
  EXPECT_FALSE(reader.CurrentWrite("kk", 10)->has_value());
}

TEST_F(MvccTest, MostRecentWriteEmpty) {
  auto snap = engine_.NewSnapshot();
  MvccReader reader(*snap);
  auto w = reader.MostRecentWrite("k");
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_FALSE(w->has_value());
}

TEST_F(MvccTest, MostRecentWriteOtherKey) {
  CommitPut("j", "v", 10, 20);
  CommitPut("l", "v", 10, 20);
  auto snap = engine_.NewSnapshot();
  MvccReader reader(*snap);
  EXPECT_FALSE(reader.MostRecentWrite("k")->has_value());
  EXPECT_FALSE(reader.MostRecentWrite("m")->has_value());  // past the last key
  EXPECT_TRUE(reader.MostRecentWrite("j")->has_value());
}

TEST_F(MvccTest, MostRecentWriteDeleted) {
  CommitPut("k", "v", 10, 20);
  CommitDelete("k", 30, 40);
  auto snap = engine_.NewSnapshot();
  MvccReader reader(*snap);
  auto w = reader.MostRecentWrite("k");
  ASSERT_TRUE(w->has_value());
  EXPECT_EQ((*w)->write, (Write{WriteKind::kDelete, 30}));
  EXPECT_EQ((*w)->commit_ts, 40u);
}

TEST_F(MvccTest, MostRecentWriteIndependentOfTs) {
  CommitPut("k", "v1", 10, 20);
  CommitPut("k", "v2", 1000, 1001);
  PutRecord("k", WriteKind::kRollback, 500, 500);
  CommitPut("kk", "v", 2000, 2001);
  auto snap = engine_.NewSnapshot();
  MvccReader reader(*snap);
  auto w = reader.MostRecentWrite("k");
  ASSERT_TRUE(w->has_value());
  EXPECT_EQ((*w)->write, (Write{WriteKind::kPut, 1000}));
  EXPECT_EQ((*w)->commit_ts, 1001u);
  // The reader can run other queries first; the result is the same.
  EXPECT_EQ(*reader.GetValue("k", 25), "v1");
  EXPECT_EQ((*reader.MostRecentWrite("k"))->commit_ts, 1001u);
  // A rollback counts too.
  PutRecord("k", WriteKind::kRollback, 1500, 1500);
  auto snap2 = engine_.NewSnapshot();
  MvccReader reader2(*snap2);
  EXPECT_EQ((*reader2.MostRecentWrite("k"))->write, (Write{WriteKind::kRollback, 1500}));
}

// ---- MvccReader::LocksOf ----

class LocksOfTest : public MvccTest {
 protected:
  void SetUp() override {
    PutLock("a", Lock{"a", WriteKind::kPut, 10, 1});
    PutLock("b", Lock{"x", WriteKind::kPut, 20, 1});
    PutLock("c", Lock{"a", WriteKind::kDelete, 10, 2});
    PutLock("d", Lock{"a", WriteKind::kLock, 10, 3});
    PutLock("e", Lock{"x", WriteKind::kPut, 30, 1});
  }

  static std::vector<std::string> Keys(const MvccReader::LockScan& s) {
    std::vector<std::string> out;
    for (const auto& kl : s.locks) out.push_back(kl.user_key);
    return out;
  }
};

TEST_F(LocksOfTest, OnlyTheGivenStartTs) {
  auto snap = engine_.NewSnapshot();
  MvccReader reader(*snap);
  auto s = reader.LocksOf(10, "", "", 100);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(Keys(*s), (std::vector<std::string>{"a", "c", "d"}));
  EXPECT_FALSE(s->more);
  EXPECT_EQ(s->locks[1].lock, (Lock{"a", WriteKind::kDelete, 10, 2}));
  EXPECT_EQ(Keys(*reader.LocksOf(20, "", "", 100)), std::vector<std::string>{"b"});
  EXPECT_TRUE(reader.LocksOf(99, "", "", 100)->locks.empty());
}

TEST_F(LocksOfTest, Bounds) {
  auto snap = engine_.NewSnapshot();
  MvccReader reader(*snap);
  // [Enc(b), Enc(d)): c only.
  auto s = reader.LocksOf(10, EncodeUserKey("b"), EncodeUserKey("d"), 100);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(Keys(*s), std::vector<std::string>{"c"});
  // The lower bound is inclusive; no upper bound.
  EXPECT_EQ(Keys(*reader.LocksOf(10, EncodeUserKey("c"), "", 100)),
            (std::vector<std::string>{"c", "d"}));
  // An upper bound at a key excludes it.
  EXPECT_EQ(Keys(*reader.LocksOf(10, "", EncodeUserKey("c"), 100)), std::vector<std::string>{"a"});
  EXPECT_TRUE(reader.LocksOf(10, EncodeUserKey("e"), "", 100)->locks.empty());
}

TEST_F(LocksOfTest, LimitWithMoreAndResume) {
  auto snap = engine_.NewSnapshot();
  MvccReader reader(*snap);
  auto s = reader.LocksOf(10, "", "", 2);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(Keys(*s), (std::vector<std::string>{"a", "c"}));
  EXPECT_TRUE(s->more);
  EXPECT_EQ(s->resume, EncodeUserKey("d"));
  auto rest = reader.LocksOf(10, s->resume, "", 2);
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(Keys(*rest), std::vector<std::string>{"d"});
  EXPECT_FALSE(rest->more);
  // Exactly the limit: only locks of other transactions follow, so no more.
  auto exact = reader.LocksOf(10, "", "", 3);
  EXPECT_EQ(exact->locks.size(), 3u);
  EXPECT_FALSE(exact->more);
  // The limit only counts matching locks.
  auto one = reader.LocksOf(30, "", "", 1);
  EXPECT_EQ(Keys(*one), std::vector<std::string>{"e"});
  EXPECT_FALSE(one->more);
}

// ---- Scanner ----

// The items of a scan as "key=value", or "key:locked@ts" for a lock.
std::vector<std::string> ScanAll(Scanner& s) {
  std::vector<std::string> out;
  for (int guard = 0; guard < 1000; ++guard) {
    auto item = s.Next();
    EXPECT_TRUE(item.ok()) << item.status().ToString();
    if (!item.ok() || !item->has_value()) return out;
    const Scanner::Item& it = **item;
    if (it.locked) {
      EXPECT_EQ(it.value, "");
      EXPECT_EQ(it.locked->key(), it.key);
      out.push_back(it.key + ":locked@" + std::to_string(it.locked->lock_version()));
    } else {
      out.push_back(it.key + "=" + it.value);
    }
  }
  ADD_FAILURE() << "the scan does not end";
  return out;
}

class ScannerTest : public MvccTest {
 protected:
  std::vector<std::string> Scan(std::string_view start, uint64_t ts, const std::string& lower = "",
                                const std::string& upper = "") {
    auto snap = engine_.NewSnapshot();
    Scanner scanner(*snap, start, ts, lower, upper);
    return ScanAll(scanner);
  }

  // Keys a..e with a few versions each.
  void FiveKeys() {
    CommitPut("a", "a1", 10, 11);
    CommitPut("b", "b1", 10, 11);
    CommitPut("b", "b2", 20, 21);
    CommitPut("c", "c1", 10, 11);
    PutRecord("c", WriteKind::kRollback, 30, 30);
    CommitPut("d", "d1", 10, 11);
    CommitPut("d", "d2", 50, 51);  // newer than the scans at 40
    CommitPut("e", "e1", 10, 11);
    PutRecord("e", WriteKind::kLock, 25, 26);
  }
};

TEST_F(ScannerTest, Empty) {
  auto snap = engine_.NewSnapshot();
  Scanner scanner(*snap, "", 100, "", "");
  for (int i = 0; i < 3; ++i) {
    auto item = scanner.Next();
    ASSERT_TRUE(item.ok());
    EXPECT_FALSE(item->has_value());
  }
}

TEST_F(ScannerTest, AllKeysAtATs) {
  FiveKeys();
  EXPECT_EQ(Scan("", 40), (V{"a=a1", "b=b2", "c=c1", "d=d1", "e=e1"}));
  EXPECT_EQ(Scan("", 100), (V{"a=a1", "b=b2", "c=c1", "d=d2", "e=e1"}));
  EXPECT_EQ(Scan("", 15), (V{"a=a1", "b=b1", "c=c1", "d=d1", "e=e1"}));
  EXPECT_EQ(Scan("", 10), V{});  // nothing committed yet
}

TEST_F(ScannerTest, ScanningEndsAfterTheLastItem) {
  FiveKeys();
  auto snap = engine_.NewSnapshot();
  Scanner scanner(*snap, "", 40, "", "");
  EXPECT_EQ(ScanAll(scanner).size(), 5u);
  auto again = scanner.Next();
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->has_value());
}

TEST_F(ScannerTest, KeysWithOnlyNewerOrRollbackVersionsAreSkipped) {
  CommitPut("a", "a1", 10, 11);
  CommitPut("b", "b1", 60, 61);  // after the read ts
  PutRecord("c", WriteKind::kRollback, 20, 20);
  PutRecord("d", WriteKind::kLock, 20, 21);
  CommitPut("e", "e1", 10, 11);
  EXPECT_EQ(Scan("", 40), (V{"a=a1", "e=e1"}));
}

TEST_F(ScannerTest, DeletesHidden) {
  CommitPut("a", "a1", 10, 11);
  CommitPut("b", "b1", 10, 11);
  CommitDelete("b", 100, 105);
  CommitPut("b", "b3", 110, 120);
  CommitPut("c", "c1", 10, 11);
  EXPECT_EQ(Scan("", 100), (V{"a=a1", "b=b1", "c=c1"}));
  EXPECT_EQ(Scan("", 105), (V{"a=a1", "c=c1"}));
  EXPECT_EQ(Scan("", 119), (V{"a=a1", "c=c1"}));
  EXPECT_EQ(Scan("", 120), (V{"a=a1", "b=b3", "c=c1"}));
}

TEST_F(ScannerTest, OlderLocksReportedAndScanContinues) {
  FiveKeys();
  PutLock("b", Lock{"b", WriteKind::kPut, 35, 100});
  PutLock("d", Lock{"b", WriteKind::kDelete, 40, 100});  // ts == read ts: locks too
  EXPECT_EQ(Scan("", 40), (V{"a=a1", "b:locked@35", "c=c1", "d:locked@40", "e=e1"}));

  auto snap = engine_.NewSnapshot();
  Scanner scanner(*snap, "b", 40, "", "");
  auto item = scanner.Next();
  ASSERT_TRUE(item.ok());
  ASSERT_TRUE(item->has_value());
  EXPECT_EQ((*item)->key, "b");
  ASSERT_TRUE((*item)->locked.has_value());
  EXPECT_EQ((*item)->locked->primary_lock(), "b");
  EXPECT_EQ((*item)->locked->lock_version(), 35u);
  EXPECT_EQ((*item)->locked->key(), "b");
  EXPECT_EQ((*item)->locked->lock_ttl(), 100u);
  EXPECT_EQ((*item)->value, "");
}

TEST_F(ScannerTest, NewerLocksAndLockKindLocksIgnored) {
  FiveKeys();
  PutLock("b", Lock{"b", WriteKind::kPut, 41, 100});
  PutLock("c", Lock{"c", WriteKind::kLock, 20, 100});
  PutLock("d", Lock{"b", WriteKind::kDelete, 45, 100});
  EXPECT_EQ(Scan("", 40), (V{"a=a1", "b=b2", "c=c1", "d=d1", "e=e1"}));
}

TEST_F(ScannerTest, KeyWithOnlyALock) {
  CommitPut("a", "a1", 10, 11);
  PutLock("b", Lock{"b", WriteKind::kPut, 20, 100});    // no write at all
  PutLock("bb", Lock{"b", WriteKind::kPut, 50, 100});   // newer: not seen
  PutLock("bc", Lock{"b", WriteKind::kLock, 20, 100});  // Lock kind: not seen
  CommitPut("c", "c1", 10, 11);
  PutLock("z", Lock{"z", WriteKind::kPut, 30, 100});  // after every write
  EXPECT_EQ(Scan("", 40), (V{"a=a1", "b:locked@20", "c=c1", "z:locked@30"}));
  EXPECT_EQ(Scan("", 25), (V{"a=a1", "b:locked@20", "c=c1"}));
}

TEST_F(ScannerTest, OnlyLocks) {
  PutLock("a", Lock{"a", WriteKind::kPut, 20, 100});
  PutLock("b", Lock{"a", WriteKind::kPut, 20, 100});
  EXPECT_EQ(Scan("", 40), (V{"a:locked@20", "b:locked@20"}));
  EXPECT_EQ(Scan("", 10), V{});
}

TEST_F(ScannerTest, EngineBounds) {
  FiveKeys();
  PutLock("d", Lock{"d", WriteKind::kPut, 30, 100});
  PutLock("a", Lock{"a", WriteKind::kPut, 30, 100});
  // [Enc(b), Enc(d)): d's lock and versions are outside.
  EXPECT_EQ(Scan("", 40, EncodeUserKey("b"), EncodeUserKey("d")), (V{"b=b2", "c=c1"}));
  // A lower bound only.
  EXPECT_EQ(Scan("", 40, EncodeUserKey("d"), ""), (V{"d:locked@30", "e=e1"}));
  // An upper bound only.
  EXPECT_EQ(Scan("", 40, "", EncodeUserKey("b")), V{"a:locked@30"});
  // A bound between two user keys.
  EXPECT_EQ(Scan("", 40, EncodeUserKey("bb"), EncodeUserKey("cc")), V{"c=c1"});
  // A start key before the lower bound: the bound wins.
  EXPECT_EQ(Scan("a", 40, EncodeUserKey("c"), EncodeUserKey("e")), (V{"c=c1", "d:locked@30"}));
}

TEST_F(ScannerTest, StartKeyInTheMiddle) {
  FiveKeys();
  EXPECT_EQ(Scan("c", 40), (V{"c=c1", "d=d1", "e=e1"}));
  EXPECT_EQ(Scan("bb", 40), (V{"c=c1", "d=d1", "e=e1"}));
  EXPECT_EQ(Scan("e", 40), V{"e=e1"});
  EXPECT_EQ(Scan("f", 40), V{});
  // A start key within the bounds.
  EXPECT_EQ(Scan("c", 40, EncodeUserKey("b"), EncodeUserKey("e")), (V{"c=c1", "d=d1"}));
}

TEST_F(ScannerTest, ManyVersionsAndLongKeys) {
  // Keys longer than one 8-byte group, and prefixes of one another.
  std::string k1 = "prefix-key";
  std::string k2 = "prefix-key-2";
  std::string k3 = std::string("prefix-key\0", 11);
  for (uint64_t i = 1; i <= 20; ++i) {
    CommitPut(k1, "v" + std::to_string(i), 10 * i, 10 * i + 5);
    PutRecord(k3, WriteKind::kRollback, 10 * i + 1, 10 * i + 1);
  }
  CommitPut(k2, "x", 10, 15);
  CommitPut(k3, "y", 3, 4);
  // Bytewise: k1 < k3 ("prefix-key\0") < k2 ("prefix-key-2").
  EXPECT_EQ(Scan("", 100), (V{k1 + "=v9", k3 + "=y", k2 + "=x"}));
  EXPECT_EQ(Scan("", 1000), (V{k1 + "=v20", k3 + "=y", k2 + "=x"}));
}

TEST_F(ScannerTest, VersionAtTsZero) {
  // ts 0 is a key's last possible version: the scan must still move past it.
  CommitPut("a", "a0", 0, 0);
  CommitPut("b", "b1", 1, 2);
  EXPECT_EQ(Scan("", 10), (V{"a=a0", "b=b1"}));
}

TEST_F(ScannerTest, CorruptLockFails) {
  CommitPut("a", "a1", 10, 11);
  WriteBatch b;
  b.Put(Cf::kLock, EncodeUserKey("b"), "bad");
  ASSERT_TRUE(engine_.Write(b, {}).ok());
  auto snap = engine_.NewSnapshot();
  Scanner scanner(*snap, "", 40, "", "");
  auto first = scanner.Next();
  ASSERT_TRUE(first.ok());
  EXPECT_EQ((*first)->key, "a");
  EXPECT_EQ(scanner.Next().status().code(), Code::kCorruption);
}

}  // namespace
}  // namespace tinykv::txn
