// The transactional client (TxnClient, Txn) against a real cluster in one
// process (inproc_cluster.h): snapshot isolation, own writes, conflicts,
// transactions spanning regions, clients that stop half-way through a
// commit, and a bank of accounts moved between by concurrent transfers while
// regions split and leaders move.
#include "client/txn_client.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "common/codec.h"
#include "bank.h"
#include "inproc_cluster.h"

namespace tinykv::client {
namespace {

class TxnClientTest : public InProcClusterTest {
 protected:
  std::unique_ptr<TxnClient> NewClient(TxnOptions options = {}) {
    auto c = TxnClient::Connect(scheduler_->address(), {}, options);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::move(c).value() : nullptr;
  }

  std::unique_ptr<Txn> Begin(TxnClient& c) {
    auto t = c.Begin();
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? std::move(t).value() : nullptr;
  }

  // What a fresh transaction reads for key: the value, "<none>" or the error.
  std::string Read(TxnClient& c, const std::string& key) {
    auto t = Begin(c);
    if (!t) return "<no txn>";
    auto v = t->Get(key);
    if (!v.ok()) return "<error: " + v.status().ToString() + ">";
    return v->has_value() ? **v : "<none>";
  }

  Status PutAll(TxnClient& c, const std::map<std::string, std::string>& kvs) {
    auto t = Begin(c);
    if (!t) return Status::Internal("no txn");
    for (const auto& [k, v] : kvs) t->Put(k, v);
    return t->Commit();
  }

  // Splits so that user key `key` starts a region (regions are ranges of
  // encoded keys).
  void SplitAtUserKey(const std::string& key) { SplitAt(EncodeBytes(key)); }
};

TEST_F(TxnClientTest, CommitThenReadAndOwnWrites) {
  auto c = NewClient();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(PutAll(*c, {{"a", "1"}, {"b", "2"}}).ok());
  EXPECT_EQ(Read(*c, "a"), "1");
  EXPECT_EQ(Read(*c, "b"), "2");
  EXPECT_EQ(Read(*c, "zz"), "<none>");

  auto t = Begin(*c);
  ASSERT_NE(t, nullptr);
  t->Put("a", "10");
  t->Delete("b");
  t->Put("c", "3");
  EXPECT_EQ(**t->Get("a"), "10");  // own writes
  EXPECT_FALSE(t->Get("b")->has_value());
  auto all = t->Scan("", "", 10);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].key, "a");
  EXPECT_EQ((*all)[0].value, "10");
  EXPECT_EQ((*all)[1].key, "c");
  // Not visible to others before commit.
  EXPECT_EQ(Read(*c, "a"), "1");
  ASSERT_TRUE(t->Commit().ok());
  EXPECT_GT(t->commit_ts(), t->start_ts());
  EXPECT_EQ(Read(*c, "a"), "10");
  EXPECT_EQ(Read(*c, "b"), "<none>");
  EXPECT_EQ(Read(*c, "c"), "3");
}

TEST_F(TxnClientTest, SnapshotIsolationAndWriteConflicts) {
  auto c = NewClient();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(PutAll(*c, {{"x", "old"}}).ok());
  auto t1 = Begin(*c);
  ASSERT_NE(t1, nullptr);
  ASSERT_TRUE(PutAll(*c, {{"x", "new"}}).ok());
  // t1 reads its snapshot, not the later commit.
  EXPECT_EQ(**t1->Get("x"), "old");
  // Writing x now conflicts with the commit after t1's start.
  t1->Put("x", "t1");
  Status s = t1->Commit();
  EXPECT_TRUE(IsWriteConflict(s)) << s;
  EXPECT_EQ(Read(*c, "x"), "new");

  // Two transactions on one key: the first to prewrite wins.
  auto a = Begin(*c);
  auto b = Begin(*c);
  a->Put("y", "a");
  b->Put("y", "b");
  ASSERT_TRUE(a->Commit().ok());
  EXPECT_TRUE(IsWriteConflict(b->Commit()));
  EXPECT_EQ(Read(*c, "y"), "a");

  // Rollback leaves nothing behind.
  auto r = Begin(*c);
  r->Put("z", "1");
  ASSERT_TRUE(r->Rollback().ok());
  EXPECT_EQ(Read(*c, "z"), "<none>");
}

TEST_F(TxnClientTest, TransactionsSpanRegions) {
  auto c = NewClient();
  ASSERT_NE(c, nullptr);
  SplitAtUserKey("m");
  ASSERT_NE(RouteOf(EncodeBytes("a")).region.id(), RouteOf(EncodeBytes("z")).region.id());
  std::map<std::string, std::string> kvs;
  for (char ch = 'a'; ch <= 'z'; ++ch) kvs[std::string(1, ch)] = std::string(1, ch) + "v";
  ASSERT_TRUE(PutAll(*c, kvs).ok());
  auto t = Begin(*c);
  auto all = t->Scan("", "", 100);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 26u);
  for (size_t i = 0; i < all->size(); ++i) EXPECT_EQ((*all)[i].key, std::string(1, 'a' + i));
  auto part = t->Scan("k", "p", 100);
  ASSERT_TRUE(part.ok());
  EXPECT_EQ(part->size(), 5u);  // k l m n o, across the boundary
  auto few = t->Scan("", "", 3);
  ASSERT_TRUE(few.ok());
  EXPECT_EQ(few->size(), 3u);
}

// A client that prewrote and stopped before committing its primary: once
// its locks expire, readers roll them back and see the old values.
TEST_F(TxnClientTest, CrashBeforePrimaryCommitIsRolledBack) {
  auto c = NewClient();
  ASSERT_NE(c, nullptr);
  SplitAtUserKey("m");
  ASSERT_TRUE(PutAll(*c, {{"a", "old"}, {"z", "old"}}).ok());
  TxnOptions short_ttl;
  short_ttl.lock_ttl_ms = 300;
  auto crashing = NewClient(short_ttl);
  auto t = Begin(*crashing);
  t->Put("a", "new");
  t->Put("z", "new");
  ASSERT_TRUE(t->Prewrite().ok());
  t.reset();  // the client stops here
  // A reader waits for the locks to expire, then rolls them back.
  EXPECT_EQ(Read(*c, "z"), "old");
  EXPECT_EQ(Read(*c, "a"), "old");
  // And the key can be written again.
  ASSERT_TRUE(PutAll(*c, {{"a", "later"}}).ok());
  EXPECT_EQ(Read(*c, "a"), "later");
}

// A client that committed its primary and stopped before the secondaries:
// it is committed, and readers finish the job.
TEST_F(TxnClientTest, CrashAfterPrimaryCommitIsCommitted) {
  auto c = NewClient();
  ASSERT_NE(c, nullptr);
  SplitAtUserKey("m");
  ASSERT_TRUE(PutAll(*c, {{"a", "old"}, {"z", "old"}}).ok());
  auto crashing = NewClient();
  auto t = Begin(*crashing);
  t->Put("a", "new");
  t->Put("z", "new");
  ASSERT_TRUE(t->Prewrite().ok());
  ASSERT_TRUE(t->CommitPrimary().ok());
  EXPECT_EQ(t->primary(), "a");
  t.reset();  // before the secondary "z"
  // The lock on z is alive (3 s TTL), but its primary is committed: the
  // reader commits it at once.
  EXPECT_EQ(Read(*c, "z"), "new");
  EXPECT_EQ(Read(*c, "a"), "new");
}

// The bank: 20 accounts in 4 regions; concurrent transfers while a region
// splits and leaders move. Every snapshot sums to the same total, and the
// final balances are exactly the initial ones plus the transfers that
// committed (each leaves a marker key written in the same transaction).
TEST_F(TxnClientTest, BankTransfersKeepTheTotal) {
  constexpr int kAccounts = 20;
  constexpr int kInitial = 1000;
  auto account = bank::Account;
  for (int b : {5, 10, 15}) ASSERT_NO_FATAL_FAILURE(SplitAtUserKey(account(b)));
  auto c = NewClient();
  ASSERT_NE(c, nullptr);
  {
    std::map<std::string, std::string> init;
    for (int i = 0; i < kAccounts; ++i) init[account(i)] = std::to_string(kInitial);
    ASSERT_TRUE(PutAll(*c, init).ok());
  }
  std::mutex mu;
  std::map<std::string, bank::Transfer> transfers;  // by marker key
  std::atomic<bool> stop{false};
  std::atomic<int> bad_sums{0}, snapshots{0};
  std::string first_bad;

  auto worker = [&](int id) {
    auto client = NewClient();
    std::mt19937 rng(id);
    for (int n = 0; !stop.load(); ++n) {
      auto done = bank::RunTransfer(*client, rng, kAccounts, id, n);
      if (!done) continue;
      std::lock_guard lock(mu);
      transfers.insert(*done);
    }
  };
  auto checker = [&] {
    auto client = NewClient();
    while (!stop.load()) {
      size_t n = 0;
      auto sum = bank::SnapshotTotal(*client, &n);
      if (!sum) continue;
      ++snapshots;
      if (n != kAccounts || *sum != kAccounts * kInitial) {
        std::lock_guard lock(mu);
        if (bad_sums++ == 0) first_bad = fmt::format("{} accounts, sum {}", n, *sum);
      }
    }
  };
  std::vector<std::thread> threads;
  // Stops and joins the clients however the test body ends (an ASSERT in
  // a helper returns early).
  struct Joiner {
    std::atomic<bool>& stop;
    std::vector<std::thread>& threads;
    ~Joiner() {
      stop = true;
      for (auto& th : threads) {
        if (th.joinable()) th.join();
      }
    }
  } joiner{stop, threads};
  for (int i = 0; i < 4; ++i) threads.emplace_back(worker, i);
  threads.emplace_back(checker);
  // Disturb, each time once more transfers have committed: a split inside a
  // busy range, then leaders moving.
  auto after_more_commits = [&](size_t n) {
    size_t target = bank::CommittedTransfers(*c) + n;
    EXPECT_TRUE(Eventually([&] { return bank::CommittedTransfers(*c) >= target; }))
        << "transfers stopped committing: " << Describe();
  };
  after_more_commits(20);
  SplitAtUserKey(account(12));
  for (int round = 0; round < 2; ++round) {
    after_more_commits(10);
    RegionRoute r = RouteOf(EncodeBytes(account(3)));
    uint64_t target = store_ids_[(IndexOf(r.leader.store_id()) + 1) % kStores];
    TransferLeader(r.region.id(), target);
  }
  after_more_commits(20);
  stop = true;
  for (auto& th : threads) th.join();

  EXPECT_EQ(bad_sums.load(), 0) << first_bad;
  EXPECT_GT(snapshots.load(), 0);
  int committed = bank::Reconcile(*c, transfers, kAccounts, kInitial);
  EXPECT_GT(committed, 10) << "too few transfers committed to mean anything";
  std::cout << "bank: " << transfers.size() << " transfers tried, " << committed
            << " committed, " << snapshots.load() << " snapshots checked\n";
}

}  // namespace
}  // namespace tinykv::client
