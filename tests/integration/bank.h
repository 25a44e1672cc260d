// The bank workload of the transaction tests: accounts acct00.. holding
// balances; a transfer moves a random amount between two random accounts in
// one transaction that also writes a marker key (xfer/WORKER/N), so that
// afterwards every transfer can be matched with its reported outcome.
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "client/txn_client.h"

namespace tinykv::bank {

inline std::string Account(int i) { return fmt::format("acct{:02d}", i); }
inline constexpr const char* kAccountsStart = "acct";
inline constexpr const char* kAccountsEnd = "acct~";
inline constexpr const char* kMarkersStart = "xfer/";
inline constexpr const char* kMarkersEnd = "xfer0";

struct Transfer {
  int from = 0, to = 0, amount = 0;
  std::string outcome;  // committed, aborted or unknown
};

// One transfer by worker `worker` (its n-th); nullopt when it did not get
// as far as committing (a read failed).
inline std::optional<std::pair<std::string, Transfer>> RunTransfer(client::TxnClient& c,
                                                                    std::mt19937& rng, int accounts,
                                                                    int worker, int n) {
  Transfer tr;
  tr.from = static_cast<int>(rng() % accounts);
  tr.to = static_cast<int>((tr.from + 1 + rng() % (accounts - 1)) % accounts);
  tr.amount = static_cast<int>(rng() % 50) + 1;
  auto t = c.Begin();
  if (!t.ok()) return std::nullopt;
  auto fv = (*t)->Get(Account(tr.from));
  auto tv = (*t)->Get(Account(tr.to));
  if (!fv.ok() || !tv.ok() || !fv->has_value() || !tv->has_value()) return std::nullopt;
  (*t)->Put(Account(tr.from), std::to_string(std::stol(**fv) - tr.amount));
  (*t)->Put(Account(tr.to), std::to_string(std::stol(**tv) + tr.amount));
  std::string marker = fmt::format("{}{}/{}", kMarkersStart, worker, n);
  (*t)->Put(marker, "1");
  Status s = (*t)->Commit();
  tr.outcome = s.ok() ? "committed" : client::IsOutcomeUnknown(s) ? "unknown" : "aborted";
  return std::make_pair(marker, tr);
}

// The sum of every account in one snapshot, or nullopt if the read failed;
// `count` gets the number of accounts seen.
inline std::optional<long> SnapshotTotal(client::TxnClient& c, size_t* count) {
  auto t = c.Begin();
  if (!t.ok()) return std::nullopt;
  auto all = (*t)->Scan(kAccountsStart, kAccountsEnd, 1000);
  if (!all.ok()) return std::nullopt;
  long sum = 0;
  for (const auto& kv : *all) sum += std::stol(kv.value);
  *count = all->size();
  return sum;
}

// How many transfers have committed so far (their markers, in one snapshot);
// 0 if the read failed.
inline size_t CommittedTransfers(client::TxnClient& c) {
  auto t = c.Begin();
  if (!t.ok()) return 0;
  auto markers = (*t)->Scan(kMarkersStart, kMarkersEnd, 1000000);
  return markers.ok() ? markers->size() : 0;
}

// Checks the final state against the transfers: every transfer reported
// committed has its marker, none reported aborted has one, and each
// account holds its initial balance plus exactly the transfers whose marker
// is there (none applied twice or half). Returns how many committed.
inline int Reconcile(client::TxnClient& c, const std::map<std::string, Transfer>& transfers,
                     int accounts, long initial) {
  auto t = c.Begin();
  EXPECT_TRUE(t.ok()) << t.status();
  if (!t.ok()) return 0;
  auto balances = (*t)->Scan(kAccountsStart, kAccountsEnd, 1000);
  auto markers = (*t)->Scan(kMarkersStart, kMarkersEnd, 1000000);
  EXPECT_TRUE(balances.ok()) << balances.status();
  EXPECT_TRUE(markers.ok()) << markers.status();
  if (!balances.ok() || !markers.ok()) return 0;
  std::set<std::string> present;
  for (const auto& kv : *markers) present.insert(kv.key);
  std::vector<long> expect(accounts, initial);
  int committed = 0;
  for (const auto& [marker, tr] : transfers) {
    bool there = present.count(marker) > 0;
    if (tr.outcome == "committed") {
      EXPECT_TRUE(there) << marker << " was reported committed and is not there";
    } else if (tr.outcome == "aborted") {
      EXPECT_FALSE(there) << marker << " was reported not committed and is there";
    }
    if (there) {
      ++committed;
      expect[tr.from] -= tr.amount;
      expect[tr.to] += tr.amount;
    }
  }
  for (const auto& m : present) {
    EXPECT_EQ(transfers.count(m), 1u) << "a marker no worker wrote: " << m;
  }
  EXPECT_EQ(balances->size(), static_cast<size_t>(accounts));
  for (size_t i = 0; i < balances->size() && i < expect.size(); ++i) {
    EXPECT_EQ(std::stol((*balances)[i].value), expect[i]) << Account(static_cast<int>(i));
  }
  return committed;
}

}  // namespace tinykv::bank
