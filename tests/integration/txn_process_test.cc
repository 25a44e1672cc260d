// Transactions on a real local cluster (tinykv-scheduler + 3 tinykv-server
// processes): tinykv-ctl's txn commands and script mode, and a bank of
// accounts moved between by several client processes at once while a
// leader moves, with the total checked in snapshots and the final balances
// reconciled with the transfers that committed.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "client/txn_client.h"
#include "common/codec.h"
#include "bank.h"
#include "local_cluster.h"

namespace tinykv::testing {
namespace {

using std::chrono::seconds;

TEST(TxnProcess, CtlTxnCommandsAndScript) {
  LocalCluster c(LocalClusterOptions{});
  c.Start();
  ASSERT_TRUE(c.WaitReady(3)) << c.Logs();
  EXPECT_EQ(c.Ctl({"txn", "put", "k1", "v1"}).exit_code, 0);
  EXPECT_EQ(c.Ctl({"txn", "put", "k2", "v2"}).exit_code, 0);
  CommandResult got = c.Ctl({"txn", "get", "k1"});
  EXPECT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(got.out, "v1\n");
  CommandResult scan = c.Ctl({"txn", "scan", ""});
  EXPECT_EQ(scan.out, "k1\tv1\nk2\tv2\n") << scan.err;
  EXPECT_EQ(c.Ctl({"txn", "delete", "k1"}).exit_code, 0);
  EXPECT_EQ(c.Ctl({"txn", "get", "k1"}).exit_code, 1);

  CommandResult script = c.Ctl({"txn", "script"},
                               "# move 5 from a to b\n"
                               "begin\nput a 10\nput b 0\ncommit\n"
                               "begin\nget a\nget b\nput a 5\nput b 5\nget a\ncommit\n"
                               "begin\nscan a c\nget nothing\nrollback\n");
  ASSERT_EQ(script.exit_code, 0) << script.err;
  std::istringstream lines(script.out);
  std::vector<std::string> l;
  for (std::string x; std::getline(lines, x);) l.push_back(x);
  ASSERT_EQ(l.size(), 12u) << script.out;
  EXPECT_EQ(l[0].rfind("BEGIN ", 0), 0u);
  EXPECT_EQ(l[1].rfind("COMMIT ", 0), 0u);
  EXPECT_EQ(l[3], "10");
  EXPECT_EQ(l[4], "0");
  EXPECT_EQ(l[5], "5");  // own write
  EXPECT_EQ(l[8], "a\t5");
  EXPECT_EQ(l[9], "b\t5");
  EXPECT_EQ(l[6].rfind("COMMIT ", 0), 0u);
  EXPECT_EQ(l[10], "(not found)");
  EXPECT_EQ(l[11], "ROLLBACK");
  EXPECT_EQ(c.Ctl({"txn", "get", "a"}).out, "5\n");

  CommandResult bad = c.Ctl({"txn", "script"}, "get a\n");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("outside a transaction"), std::string::npos) << bad.err;
  CommandResult unfinished = c.Ctl({"txn", "script"}, "begin\nput q 1\n");
  EXPECT_EQ(unfinished.exit_code, 2);
  EXPECT_EQ(c.Ctl({"txn", "get", "q"}).exit_code, 1);  // rolled back, never written
  CommandResult json = c.Ctl({"--json", "txn", "get", "a"});
  EXPECT_EQ(json.out, "{\"found\":true,\"key\":\"a\",\"value\":\"5\"}\n");
}

TEST(TxnProcess, BankAcrossClientProcesses) {
  constexpr int kAccounts = 20;
  constexpr int kInitial = 1000;
  constexpr int kWorkers = 3;
  LocalCluster c(LocalClusterOptions{});
  c.Start();
  ASSERT_TRUE(c.WaitReady(3)) << c.Logs();
  auto account = bank::Account;
  auto raw = c.Client();
  ASSERT_NE(raw, nullptr);
  client::SchedulerClient& sched = raw->scheduler();
  // Accounts in three regions (region boundaries are encoded keys).
  for (int b : {7, 14}) {
    const std::string key = EncodeBytes(account(b));
    ASSERT_TRUE(WaitFor(
        [&] {
          auto r = sched.GetRegion(key);
          if (!r.ok() || !r->has_value()) return false;
          if ((*r)->region.start_key() == key) return true;
          schedulerpb::AddOperatorRequest req;
          req.set_region_id((*r)->region.id());
          req.mutable_split()->add_keys(key);
          (void)sched.AddOperator(req);  // refused while one runs: asked again
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
          return false;
        },
        seconds(60)))
        << c.Logs();
  }
  ASSERT_TRUE(c.WaitReady(3)) << c.Logs();
  client::TxnClient txns(*raw, {});
  {
    auto t = txns.Begin();
    ASSERT_TRUE(t.ok());
    for (int i = 0; i < kAccounts; ++i) (*t)->Put(account(i), std::to_string(kInitial));
    ASSERT_TRUE((*t)->Commit().ok());
  }

  std::atomic<bool> stop{false};
  std::atomic<int> snapshots{0}, bad{0};
  std::thread checker([&] {
    while (!stop) {
      size_t n = 0;
      auto sum = bank::SnapshotTotal(txns, &n);
      if (!sum) continue;
      ++snapshots;
      if (n != kAccounts || *sum != kAccounts * kInitial) ++bad;
    }
  });
  std::vector<CommandResult> results(kWorkers);
  std::vector<std::thread> workers;
  for (int i = 0; i < kWorkers; ++i) {
    workers.emplace_back([&, i] {
      results[i] = RunCommand({TINYKV_BANK_WORKER_BIN, c.scheduler_addr(), std::to_string(i),
                               std::to_string(kAccounts), "8"});
    });
  }
  // Move the leadership of the middle region twice while they run, each
  // time once more transfers have committed.
  for (int round = 0; round < 2; ++round) {
    size_t target = bank::CommittedTransfers(txns) + 20;
    if (!WaitFor([&] { return bank::CommittedTransfers(txns) >= target; }, seconds(8))) break;
    auto r = sched.GetRegion(EncodeBytes(account(10)));
    if (!r.ok() || !r->has_value() || (*r)->leader.store_id() == 0) continue;
    schedulerpb::AddOperatorRequest req;
    req.set_region_id((*r)->region.id());
    req.set_transfer_leader_store_id(c.StoreId(1) == (*r)->leader.store_id() ? c.StoreId(2)
                                                                              : c.StoreId(1));
    (void)sched.AddOperator(req);
  }
  for (auto& w : workers) w.join();
  stop = true;
  checker.join();

  std::map<std::string, bank::Transfer> transfers;
  for (int i = 0; i < kWorkers; ++i) {
    ASSERT_EQ(results[i].exit_code, 0) << results[i].err;
    std::istringstream in(results[i].out);
    std::string marker;
    bank::Transfer t;
    while (in >> marker >> t.from >> t.to >> t.amount >> t.outcome) transfers[marker] = t;
  }
  EXPECT_EQ(bad.load(), 0) << "snapshots whose total was off";
  EXPECT_GT(snapshots.load(), 0);
  int committed = bank::Reconcile(txns, transfers, kAccounts, kInitial);
  EXPECT_GT(committed, 10);
  std::cout << "bank: " << transfers.size() << " transfers by " << kWorkers << " processes, "
            << committed << " committed, " << snapshots.load() << " snapshots checked\n";
}

}  // namespace
}  // namespace tinykv::testing
