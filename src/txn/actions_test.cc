// The Percolator actions (Get, Prewrite, Commit, Rollback, CheckTxnStatus),
// run directly on a MemEngine: what each returns and what it leaves in the
// three column families.
#include "txn/actions.h"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

#include "storage/mem/mem_engine.h"
#include "txn/keys.h"

namespace tinykv::txn {
namespace {

using storage::Cf;

kvrpcpb::Mutation Mut(kvrpcpb::Op op, std::string key, std::string value = "") {
  kvrpcpb::Mutation m;
  m.set_op(op);
  m.set_key(std::move(key));
  m.set_value(std::move(value));
  return m;
}

class ActionsTest : public ::testing::Test {
 protected:
  // Runs one action of the transaction started at start_ts on a fresh
  // snapshot and, as the command layer does, writes what it staged unless it
  // failed. staged_ is the number of operations it staged.
  KeyResult RunKey(uint64_t start_ts, const std::function<KeyResult(MvccTxn&)>& action) {
    auto snap = engine_.NewSnapshot();
    MvccReader reader(*snap);
    MvccTxn txn(reader, start_ts);
    KeyResult r = action(txn);
    staged_ = txn.batch().Count();
    if (r.ok() && !r->has_value()) {
      EXPECT_TRUE(engine_.Write(txn.batch(), {}).ok());
    }
    return r;
  }

  KeyResult Prewrite(uint64_t start_ts, const kvrpcpb::Mutation& m, std::string_view primary,
                     uint64_t ttl_ms = 1000) {
    return RunKey(start_ts, [&](MvccTxn& t) { return txn::Prewrite(t, m, primary, ttl_ms); });
  }
  KeyResult PrewritePut(uint64_t start_ts, std::string_view key, std::string_view value,
                        uint64_t ttl_ms = 1000) {
    return Prewrite(start_ts, Mut(kvrpcpb::Put, std::string(key), std::string(value)), key, ttl_ms);
  }
  KeyResult Commit(uint64_t start_ts, std::string_view key, uint64_t commit_ts) {
    return RunKey(start_ts, [&](MvccTxn& t) { return txn::Commit(t, key, commit_ts); });
  }
  KeyResult Rollback(uint64_t start_ts, std::string_view key) {
    return RunKey(start_ts, [&](MvccTxn& t) { return txn::Rollback(t, key); });
  }
  Result<TxnStatus> Check(uint64_t start_ts, std::string_view primary, uint64_t current_ts) {
    auto snap = engine_.NewSnapshot();
    MvccReader reader(*snap);
    MvccTxn txn(reader, start_ts);
    auto r = txn::CheckTxnStatus(txn, primary, current_ts);
    staged_ = txn.batch().Count();
    if (r.ok()) {
      EXPECT_TRUE(engine_.Write(txn.batch(), {}).ok());
    }
    return r;
  }
  Result<GetResult> Get(std::string_view key, uint64_t ts) {
    auto snap = engine_.NewSnapshot();
    MvccReader reader(*snap);
    return txn::Get(reader, key, ts);
  }

  // A committed Put (prewrite and commit).
  void CommitPut(std::string_view key, std::string_view value, uint64_t start_ts,
                 uint64_t commit_ts) {
    auto p = PrewritePut(start_ts, key, value);
    ASSERT_TRUE(p.ok() && !p->has_value());
    auto c = Commit(start_ts, key, commit_ts);
    ASSERT_TRUE(c.ok() && !c->has_value());
  }

  // What the engine holds.
  std::optional<Lock> LockOf(std::string_view key) {
    auto v = engine_.Get(Cf::kLock, EncodeUserKey(key));
    EXPECT_TRUE(v.ok());
    if (!v.ok() || !v->has_value()) return std::nullopt;
    auto l = Lock::Decode(**v);
    EXPECT_TRUE(l.ok());
    if (!l.ok()) return std::nullopt;
    return *l;
  }
  std::optional<Write> WriteAt(std::string_view key, uint64_t commit_ts) {
    auto v = engine_.Get(Cf::kWrite, EncodeKey(key, commit_ts));
    EXPECT_TRUE(v.ok());
    if (!v.ok() || !v->has_value()) return std::nullopt;
    auto w = Write::Decode(**v);
    EXPECT_TRUE(w.ok());
    if (!w.ok()) return std::nullopt;
    return *w;
  }
  std::optional<std::string> ValueAt(std::string_view key, uint64_t start_ts) {
    auto v = engine_.Get(Cf::kDefault, EncodeKey(key, start_ts));
    EXPECT_TRUE(v.ok());
    return v.ok() ? *v : std::nullopt;
  }
  size_t Count(Cf cf) {
    auto snap = engine_.NewSnapshot();
    auto it = snap->NewIterator(cf);
    size_t n = 0;
    for (it->SeekToFirst(); it->Valid(); it->Next()) ++n;
    return n;
  }

  storage::MemEngine engine_;
  size_t staged_ = 0;
};

// Asserts that `r` is done: no error and no KeyError.
#define ASSERT_DONE(r)                                          \
  do {                                                          \
    auto&& r_ = (r);                                            \
    ASSERT_TRUE(r_.ok()) << r_.status().ToString();             \
    ASSERT_FALSE(r_->has_value()) << (*r_)->ShortDebugString(); \
  } while (0)

// The KeyError of `r`. REQUIRES: one was returned.
kvrpcpb::KeyError ErrorOf(const KeyResult& r) {
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok() || !r->has_value()) {
    ADD_FAILURE() << "expected a KeyError";
    return {};
  }
  return **r;
}

// ---- Get ----

TEST_F(ActionsTest, GetValueOrNone) {
  CommitPut("k", "v", 10, 20);
  auto g = Get("k", 25);
  ASSERT_TRUE(g.ok());
  EXPECT_FALSE(g->locked.has_value());
  EXPECT_EQ(g->value, "v");
  EXPECT_EQ(Get("k", 15)->value, std::nullopt);
  EXPECT_EQ(Get("other", 25)->value, std::nullopt);
  EXPECT_FALSE(Get("other", 25)->locked.has_value());
}

TEST_F(ActionsTest, GetWithOlderLockIsLocked) {
  CommitPut("k", "v", 10, 20);
  ASSERT_DONE(PrewritePut(30, "k", "v2", 500));
  for (uint64_t ts : {30u, 31u, 100u}) {
    auto g = Get("k", ts);
    ASSERT_TRUE(g.ok());
    ASSERT_TRUE(g->locked.has_value()) << ts;
    EXPECT_EQ(g->locked->primary_lock(), "k");
    EXPECT_EQ(g->locked->lock_version(), 30u);
    EXPECT_EQ(g->locked->key(), "k");
    EXPECT_EQ(g->locked->lock_ttl(), 500u);
    EXPECT_FALSE(g->value.has_value());
  }
}

TEST_F(ActionsTest, GetIgnoresNewerLock) {
  CommitPut("k", "v", 10, 20);
  ASSERT_DONE(PrewritePut(30, "k", "v2"));
  auto g = Get("k", 29);
  ASSERT_TRUE(g.ok());
  EXPECT_FALSE(g->locked.has_value());
  EXPECT_EQ(g->value, "v");
}

TEST_F(ActionsTest, GetIgnoresLockKindLock) {
  CommitPut("k", "v", 10, 20);
  ASSERT_DONE(Prewrite(30, Mut(kvrpcpb::Lock, "k"), "k"));
  auto g = Get("k", 40);
  ASSERT_TRUE(g.ok());
  EXPECT_FALSE(g->locked.has_value());
  EXPECT_EQ(g->value, "v");
}

TEST_F(ActionsTest, GetWithOlderDeleteLockIsLocked) {
  CommitPut("k", "v", 10, 20);
  ASSERT_DONE(Prewrite(30, Mut(kvrpcpb::Del, "k"), "p"));
  auto g = Get("k", 40);
  ASSERT_TRUE(g.ok());
  ASSERT_TRUE(g->locked.has_value());
  EXPECT_EQ(g->locked->primary_lock(), "p");
}

// ---- Prewrite ----

TEST_F(ActionsTest, PrewritePutWritesLockAndValue) {
  ASSERT_DONE(Prewrite(10, Mut(kvrpcpb::Put, "k", "v"), "pk", 1000));
  EXPECT_EQ(staged_, 2u);
  EXPECT_EQ(LockOf("k"), (Lock{"pk", WriteKind::kPut, 10, 1000}));
  // The exact lock record: primary, kind, ts, ttl.
  EXPECT_EQ(*engine_.Get(Cf::kLock, EncodeUserKey("k")),
            std::string("pk\x01\0\0\0\0\0\0\0\x0a\0\0\0\0\0\0\x03\xe8", 19));
  EXPECT_EQ(ValueAt("k", 10), "v");
  EXPECT_EQ(Count(Cf::kWrite), 0u);
}

TEST_F(ActionsTest, PrewriteDeleteAndLockWriteNoValue) {
  ASSERT_DONE(Prewrite(10, Mut(kvrpcpb::Del, "d"), "pk", 7));
  ASSERT_DONE(Prewrite(10, Mut(kvrpcpb::Lock, "l"), "pk", 7));
  EXPECT_EQ(LockOf("d"), (Lock{"pk", WriteKind::kDelete, 10, 7}));
  EXPECT_EQ(LockOf("l"), (Lock{"pk", WriteKind::kLock, 10, 7}));
  EXPECT_EQ(Count(Cf::kDefault), 0u);
  EXPECT_EQ(Count(Cf::kWrite), 0u);
}

TEST_F(ActionsTest, PrewriteConflictsWithNewerCommit) {
  CommitPut("k", "v", 15, 20);
  size_t locks = Count(Cf::kLock), values = Count(Cf::kDefault);
  for (uint64_t start : {10u, 20u}) {  // a commit at the start ts conflicts too
    auto e = ErrorOf(Prewrite(start, Mut(kvrpcpb::Put, "k", "x"), "pk"));
    ASSERT_TRUE(e.has_conflict()) << e.ShortDebugString();
    EXPECT_EQ(e.conflict().start_ts(), start);
    EXPECT_EQ(e.conflict().conflict_ts(), 20u);
    EXPECT_EQ(e.conflict().key(), "k");
    EXPECT_EQ(e.conflict().primary(), "pk");
    EXPECT_EQ(staged_, 0u);
  }
  EXPECT_EQ(Count(Cf::kLock), locks);
  EXPECT_EQ(Count(Cf::kDefault), values);
}

TEST_F(ActionsTest, PrewriteAfterOlderCommitSucceeds) {
  CommitPut("k", "v", 5, 8);
  ASSERT_DONE(PrewritePut(10, "k", "v2"));
  EXPECT_EQ(LockOf("k")->ts, 10u);
}

TEST_F(ActionsTest, PrewriteConflictsWithOwnRollback) {
  ASSERT_DONE(Rollback(10, "k"));
  auto e = ErrorOf(PrewritePut(10, "k", "late"));
  ASSERT_TRUE(e.has_conflict()) << e.ShortDebugString();
  EXPECT_EQ(e.conflict().conflict_ts(), 10u);
  EXPECT_FALSE(LockOf("k").has_value());
  EXPECT_EQ(ValueAt("k", 10), std::nullopt);
}

TEST_F(ActionsTest, PrewriteLockedByOtherTxn) {
  ASSERT_DONE(PrewritePut(5, "k", "theirs", 300));
  for (uint64_t start : {10u, 3u}) {  // an older or a newer transaction
    auto e = ErrorOf(PrewritePut(start, "k", "mine"));
    ASSERT_TRUE(e.has_locked()) << e.ShortDebugString();
    EXPECT_EQ(e.locked().primary_lock(), "k");
    EXPECT_EQ(e.locked().lock_version(), 5u);
    EXPECT_EQ(e.locked().key(), "k");
    EXPECT_EQ(e.locked().lock_ttl(), 300u);
    EXPECT_EQ(staged_, 0u);
  }
  EXPECT_EQ(LockOf("k"), (Lock{"k", WriteKind::kPut, 5, 300}));
  EXPECT_EQ(ValueAt("k", 5), "theirs");
  EXPECT_EQ(Count(Cf::kDefault), 1u);
}

TEST_F(ActionsTest, RetriedPrewriteRewritesOwnLock) {
  ASSERT_DONE(Prewrite(10, Mut(kvrpcpb::Put, "k", "v1"), "pk", 100));
  ASSERT_DONE(Prewrite(10, Mut(kvrpcpb::Put, "k", "v2"), "pk", 200));
  EXPECT_EQ(LockOf("k"), (Lock{"pk", WriteKind::kPut, 10, 200}));
  EXPECT_EQ(ValueAt("k", 10), "v2");
  // Retried as a delete: the value goes.
  ASSERT_DONE(Prewrite(10, Mut(kvrpcpb::Del, "k"), "pk", 200));
  EXPECT_EQ(LockOf("k"), (Lock{"pk", WriteKind::kDelete, 10, 200}));
  EXPECT_EQ(ValueAt("k", 10), std::nullopt);
}

TEST_F(ActionsTest, PrewriteOfRollbackOpAborts) {
  auto e = ErrorOf(Prewrite(10, Mut(kvrpcpb::Rollback, "k"), "pk"));
  EXPECT_FALSE(e.abort().empty()) << e.ShortDebugString();
  EXPECT_FALSE(e.has_locked());
  EXPECT_FALSE(e.has_conflict());
  EXPECT_EQ(staged_, 0u);
  EXPECT_EQ(Count(Cf::kLock), 0u);
}

// ---- Commit ----

TEST_F(ActionsTest, CommitWritesRecordAndDeletesLock) {
  ASSERT_DONE(PrewritePut(10, "k", "v"));
  ASSERT_DONE(Commit(10, "k", 20));
  EXPECT_EQ(WriteAt("k", 20), (Write{WriteKind::kPut, 10}));
  EXPECT_EQ(*engine_.Get(Cf::kWrite, EncodeKey("k", 20)), std::string("\x01\0\0\0\0\0\0\0\x0a", 9));
  EXPECT_FALSE(LockOf("k").has_value());
  EXPECT_EQ(ValueAt("k", 10), "v");  // the value stays where it was
  EXPECT_EQ(Count(Cf::kWrite), 1u);
  EXPECT_EQ(Get("k", 20)->value, "v");
  EXPECT_EQ(Get("k", 19)->value, std::nullopt);
}

TEST_F(ActionsTest, CommitKeepsTheLockKind) {
  CommitPut("k", "v", 1, 2);
  ASSERT_DONE(Prewrite(10, Mut(kvrpcpb::Del, "k"), "k"));
  ASSERT_DONE(Prewrite(10, Mut(kvrpcpb::Lock, "l"), "k"));
  ASSERT_DONE(Commit(10, "k", 20));
  ASSERT_DONE(Commit(10, "l", 20));
  EXPECT_EQ(WriteAt("k", 20), (Write{WriteKind::kDelete, 10}));
  EXPECT_EQ(WriteAt("l", 20), (Write{WriteKind::kLock, 10}));
  EXPECT_EQ(Get("k", 25)->value, std::nullopt);
  EXPECT_EQ(Get("k", 15)->value, "v");
}

TEST_F(ActionsTest, CommitIsIdempotent) {
  ASSERT_DONE(PrewritePut(10, "k", "v"));
  ASSERT_DONE(Commit(10, "k", 20));
  ASSERT_DONE(Commit(10, "k", 20));
  EXPECT_EQ(staged_, 0u);
  EXPECT_EQ(Count(Cf::kWrite), 1u);
  // Still done once another transaction has locked the key.
  ASSERT_DONE(PrewritePut(30, "k", "v2"));
  ASSERT_DONE(Commit(10, "k", 20));
  EXPECT_EQ(staged_, 0u);
  EXPECT_EQ(LockOf("k")->ts, 30u);
}

TEST_F(ActionsTest, CommitAfterRollbackAborts) {
  ASSERT_DONE(PrewritePut(10, "k", "v"));
  ASSERT_DONE(Rollback(10, "k"));
  auto e = ErrorOf(Commit(10, "k", 20));
  EXPECT_FALSE(e.abort().empty()) << e.ShortDebugString();
  EXPECT_EQ(WriteAt("k", 20), std::nullopt);
  EXPECT_EQ(WriteAt("k", 10), (Write{WriteKind::kRollback, 10}));
}

TEST_F(ActionsTest, CommitOfOtherTxnLockIsRetryable) {
  ASSERT_DONE(PrewritePut(5, "k", "theirs"));
  auto e = ErrorOf(Commit(10, "k", 20));
  EXPECT_FALSE(e.retryable().empty()) << e.ShortDebugString();
  EXPECT_TRUE(e.abort().empty());
  EXPECT_EQ(staged_, 0u);
  EXPECT_EQ(LockOf("k"), (Lock{"k", WriteKind::kPut, 5, 1000}));
  EXPECT_EQ(Count(Cf::kWrite), 0u);
}

TEST_F(ActionsTest, CommitWithoutLockOrRecordAborts) {
  auto e = ErrorOf(Commit(10, "k", 20));
  EXPECT_NE(e.abort().find("lock not found"), std::string::npos) << e.ShortDebugString();
  EXPECT_EQ(staged_, 0u);
  // Another transaction's older commit is not this one's.
  CommitPut("k", "v", 1, 2);
  e = ErrorOf(Commit(10, "k", 20));
  EXPECT_NE(e.abort().find("lock not found"), std::string::npos) << e.ShortDebugString();
  EXPECT_EQ(Count(Cf::kWrite), 1u);
}

// ---- Rollback ----

TEST_F(ActionsTest, RollbackRemovesLockAndValue) {
  ASSERT_DONE(PrewritePut(10, "k", "v"));
  ASSERT_DONE(Rollback(10, "k"));
  EXPECT_FALSE(LockOf("k").has_value());
  EXPECT_EQ(ValueAt("k", 10), std::nullopt);
  EXPECT_EQ(WriteAt("k", 10), (Write{WriteKind::kRollback, 10}));
  EXPECT_EQ(Count(Cf::kWrite), 1u);
  EXPECT_EQ(Count(Cf::kDefault), 0u);
}

TEST_F(ActionsTest, RollbackOfDeleteLock) {
  CommitPut("k", "v", 1, 2);
  ASSERT_DONE(Prewrite(10, Mut(kvrpcpb::Del, "k"), "k"));
  ASSERT_DONE(Rollback(10, "k"));
  EXPECT_FALSE(LockOf("k").has_value());
  EXPECT_EQ(WriteAt("k", 10), (Write{WriteKind::kRollback, 10}));
  EXPECT_EQ(ValueAt("k", 1), "v");  // older data untouched
  EXPECT_EQ(Get("k", 20)->value, "v");
}

TEST_F(ActionsTest, RollbackWithoutLockWritesRecord) {
  ASSERT_DONE(Rollback(10, "k"));
  EXPECT_EQ(WriteAt("k", 10), (Write{WriteKind::kRollback, 10}));
  EXPECT_EQ(Count(Cf::kWrite), 1u);
}

TEST_F(ActionsTest, RollbackOfCommittedAborts) {
  CommitPut("k", "v", 10, 20);
  auto e = ErrorOf(Rollback(10, "k"));
  EXPECT_FALSE(e.abort().empty()) << e.ShortDebugString();
  EXPECT_EQ(staged_, 0u);
  EXPECT_EQ(WriteAt("k", 20), (Write{WriteKind::kPut, 10}));
  EXPECT_EQ(WriteAt("k", 10), std::nullopt);
  EXPECT_EQ(ValueAt("k", 10), "v");
}

TEST_F(ActionsTest, RollbackTwiceIsANoop) {
  ASSERT_DONE(PrewritePut(10, "k", "v"));
  ASSERT_DONE(Rollback(10, "k"));
  ASSERT_DONE(Rollback(10, "k"));
  EXPECT_EQ(staged_, 0u);
  EXPECT_EQ(WriteAt("k", 10), (Write{WriteKind::kRollback, 10}));
}

TEST_F(ActionsTest, RollbackKeepsOtherTxnLock) {
  ASSERT_DONE(PrewritePut(5, "k", "theirs", 300));
  ASSERT_DONE(Rollback(10, "k"));
  EXPECT_EQ(LockOf("k"), (Lock{"k", WriteKind::kPut, 5, 300}));
  EXPECT_EQ(ValueAt("k", 5), "theirs");
  EXPECT_EQ(WriteAt("k", 10), (Write{WriteKind::kRollback, 10}));
  // The other transaction can still commit.
  ASSERT_DONE(Commit(5, "k", 15));
  EXPECT_EQ(Get("k", 20)->value, "theirs");
}

// ---- CheckTxnStatus ----

class CheckTxnStatusTest : public ActionsTest {
 protected:
  const uint64_t start_ = ComposeTs(1000, 3);
  static constexpr uint64_t kTtl = 100;
};

TEST_F(CheckTxnStatusTest, TtlExpiredRollsBack) {
  ASSERT_DONE(PrewritePut(start_, "pk", "v", kTtl));
  auto s = Check(start_, "pk", ComposeTs(1000 + kTtl, 0));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->action, kvrpcpb::TTLExpireRollback);
  EXPECT_EQ(s->lock_ttl, 0u);
  EXPECT_EQ(s->commit_ts, 0u);
  EXPECT_FALSE(LockOf("pk").has_value());
  EXPECT_EQ(ValueAt("pk", start_), std::nullopt);
  EXPECT_EQ(WriteAt("pk", start_), (Write{WriteKind::kRollback, start_}));
}

TEST_F(CheckTxnStatusTest, TtlNotExpiredIsNoAction) {
  ASSERT_DONE(PrewritePut(start_, "pk", "v", kTtl));
  // Just short of the TTL in physical time, though far past it in raw ts.
  for (uint64_t now : {start_, start_ + kTtl * 2, ComposeTs(1000 + kTtl - 1, (1 << 18) - 1)}) {
    auto s = Check(start_, "pk", now);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_EQ(s->action, kvrpcpb::NoAction);
    EXPECT_EQ(s->lock_ttl, kTtl);
    EXPECT_EQ(s->commit_ts, 0u);
    EXPECT_EQ(staged_, 0u);
  }
  EXPECT_EQ(LockOf("pk"), (Lock{"pk", WriteKind::kPut, start_, kTtl}));
  EXPECT_EQ(ValueAt("pk", start_), "v");
}

TEST_F(CheckTxnStatusTest, CommittedGivesCommitTs) {
  uint64_t commit = ComposeTs(1001, 0);
  CommitPut("pk", "v", start_, commit);
  auto s = Check(start_, "pk", ComposeTs(5000, 0));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->action, kvrpcpb::NoAction);
  EXPECT_EQ(s->commit_ts, commit);
  EXPECT_EQ(s->lock_ttl, 0u);
  EXPECT_EQ(staged_, 0u);
}

TEST_F(CheckTxnStatusTest, RolledBackIsNoActionAndZeros) {
  ASSERT_DONE(PrewritePut(start_, "pk", "v", kTtl));
  ASSERT_DONE(Rollback(start_, "pk"));
  auto s = Check(start_, "pk", ComposeTs(5000, 0));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->action, kvrpcpb::NoAction);
  EXPECT_EQ(s->commit_ts, 0u);
  EXPECT_EQ(s->lock_ttl, 0u);
  EXPECT_EQ(staged_, 0u);
}

TEST_F(CheckTxnStatusTest, NoLockNoWriteWritesRollback) {
  auto s = Check(start_, "pk", ComposeTs(1001, 0));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->action, kvrpcpb::LockNotExistRollback);
  EXPECT_EQ(s->commit_ts, 0u);
  EXPECT_EQ(s->lock_ttl, 0u);
  EXPECT_EQ(WriteAt("pk", start_), (Write{WriteKind::kRollback, start_}));
  // The late prewrite is then refused.
  auto e = ErrorOf(PrewritePut(start_, "pk", "late"));
  EXPECT_TRUE(e.has_conflict()) << e.ShortDebugString();
  // And a second check sees the rollback.
  auto again = Check(start_, "pk", ComposeTs(1001, 0));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->action, kvrpcpb::NoAction);
  EXPECT_EQ(staged_, 0u);
}

TEST_F(CheckTxnStatusTest, OtherTxnLockOnPrimaryIsNotOurs) {
  ASSERT_DONE(PrewritePut(start_ - 1, "pk", "theirs", kTtl));
  auto s = Check(start_, "pk", ComposeTs(9999, 0));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->action, kvrpcpb::LockNotExistRollback);
  EXPECT_EQ(LockOf("pk"), (Lock{"pk", WriteKind::kPut, start_ - 1, kTtl}));
  EXPECT_EQ(WriteAt("pk", start_), (Write{WriteKind::kRollback, start_}));
}

}  // namespace
}  // namespace tinykv::txn
