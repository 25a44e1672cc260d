// The routing client (RawClient) against a real cluster in one process: a
// SchedulerServer and three cluster-mode Servers on loopback ports, every
// region with three replicas. Covers the raw API by key and column family,
// scans and batches across regions, routes that went stale (a split, a
// leadership move), a store shut down and restarted on a new port, and the
// outcome a write reports when no store can be reached.
#include "client/raw_client.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "inproc_cluster.h"

namespace tinykv::client {
namespace {

std::string Key(int i) { return fmt::format("k{:03d}", i); }
std::string BatchKey(int i) { return fmt::format("b{:04d}", i); }
std::string Value(int i) { return fmt::format("value-{}", i); }

// What Get answers, as one string: the value, kNone, or the error.
constexpr const char* kNone = "<not found>";
std::string Read(RawClient& c, const std::string& key, const std::string& cf = "") {
  auto r = c.Get(key, cf);
  if (!r.ok()) return "<error: " + r.status().ToString() + ">";
  return r->has_value() ? **r : kNone;
}

std::vector<std::string> KeysOf(const std::vector<KvPair>& pairs) {
  std::vector<std::string> out;
  for (const auto& kv : pairs) out.push_back(kv.key);
  return out;
}

// The keys Scan returns, or the error as the only element.
std::vector<std::string> ScanKeys(RawClient& c, const std::string& start, const std::string& end,
                                  uint32_t limit, const std::string& cf = "") {
  auto r = c.Scan(start, end, limit, cf);
  if (!r.ok()) return {"<error: " + r.status().ToString() + ">"};
  return KeysOf(*r);
}

const std::vector<std::string> kNoKeys;

// Keys(from, to): Key(from) ... Key(to - 1).
std::vector<std::string> Keys(int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i < to; ++i) out.push_back(Key(i));
  return out;
}

class RawClientTest : public InProcClusterTest {
 protected:
  std::unique_ptr<RawClient> NewClient(RawClientOptions options = {}) {
    auto c = RawClient::Connect(scheduler_->address(), options);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::move(c).value() : nullptr;
  }

};

// ---- 1. The raw API by key ----

TEST_F(RawClientTest, PutGetDeleteAndColumnFamilies) {
  auto c = NewClient();
  ASSERT_NE(c, nullptr);

  auto missing = c->Get("nothing");
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_FALSE(missing->has_value());

  Status put = c->Put("k1", "v1");
  ASSERT_TRUE(put.ok()) << put;
  EXPECT_EQ(Read(*c, "k1"), "v1");
  ASSERT_TRUE(c->Put("k1", "v2").ok());
  EXPECT_EQ(Read(*c, "k1"), "v2");

  // An empty value is a value.
  ASSERT_TRUE(c->Put("empty", "").ok());
  EXPECT_EQ(Read(*c, "empty"), "");

  ASSERT_TRUE(c->Delete("k1").ok());
  EXPECT_EQ(Read(*c, "k1"), kNone);
  // Deleting a missing key succeeds.
  EXPECT_TRUE(c->Delete("k1").ok());

  // Column families are independent key spaces; "" is "default".
  ASSERT_TRUE(c->Put("shared", "in-default").ok());
  ASSERT_TRUE(c->Put("shared", "in-lock", "lock").ok());
  EXPECT_EQ(Read(*c, "shared"), "in-default");
  EXPECT_EQ(Read(*c, "shared", "default"), "in-default");
  EXPECT_EQ(Read(*c, "shared", "lock"), "in-lock");
  EXPECT_EQ(Read(*c, "shared", "write"), kNone);
  ASSERT_TRUE(c->Delete("shared", "lock").ok());
  EXPECT_EQ(Read(*c, "shared", "lock"), kNone);
  EXPECT_EQ(Read(*c, "shared"), "in-default");
  ASSERT_TRUE(c->Put("only-lock", "x", "lock").ok());
  EXPECT_EQ(Read(*c, "only-lock"), kNone);
  ASSERT_TRUE(c->Put("in-write", "w", "write").ok());
  EXPECT_EQ(ScanKeys(*c, "", "", 10, "write"), std::vector<std::string>{"in-write"});
  EXPECT_EQ(ScanKeys(*c, "", "", 10, "lock"), std::vector<std::string>{"only-lock"});
  EXPECT_EQ(ScanKeys(*c, "", "", 10), (std::vector<std::string>{"empty", "shared"}));

  // A second client sees what the first wrote.
  auto other = NewClient();
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(Read(*other, "shared"), "in-default");
  EXPECT_EQ(Read(*other, "only-lock", "lock"), "x");
}

TEST_F(RawClientTest, BadRequestsFailAtOnceWithInvalidArgument) {
  // A request that were retried would end in kUnavailable ("gave up") at
  // the client's timeout, so the code alone shows it was not retried (and
  // came back at once, without a timing assertion).
  auto c = NewClient();
  ASSERT_NE(c, nullptr);

  Status put = c->Put("", "v");
  EXPECT_EQ(put.code(), Code::kInvalidArgument) << put;
  auto get = c->Get("");
  EXPECT_EQ(get.status().code(), Code::kInvalidArgument) << get.status();
  Status del = c->Delete("");
  EXPECT_EQ(del.code(), Code::kInvalidArgument) << del;
  Status big_key = c->Put(std::string(5000, 'k'), "v");  // over max-key-size (4 KiB)
  EXPECT_EQ(big_key.code(), Code::kInvalidArgument) << big_key;
  Status bad_cf = c->Put("k", "v", "meta");
  EXPECT_EQ(bad_cf.code(), Code::kInvalidArgument) << bad_cf;
  auto bad_cf_get = c->Get("k", "nosuch");
  EXPECT_EQ(bad_cf_get.status().code(), Code::kInvalidArgument) << bad_cf_get.status();
  Status batch = c->BatchPut({{"a", "1"}, {"", "2"}});
  EXPECT_EQ(batch.code(), Code::kInvalidArgument) << batch;

  // Nothing of the refused requests was written.
  EXPECT_EQ(Read(*c, "k"), kNone);
  EXPECT_EQ(Read(*c, "a"), kNone);
}

// ---- 2. Scans across regions ----

TEST_F(RawClientTest, ScanAcrossRegions) {
  auto c = NewClient();
  ASSERT_NE(c, nullptr);
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(c->Put(Key(i), Value(i)).ok()) << i;
  // Regions [, k050) [k050, k100) [k100, k125x) [k125x, k150) [k150, ).
  for (const char* at : {"k050", "k100", "k150", "k125x"}) ASSERT_NO_FATAL_FAILURE(SplitAt(at));
  ASSERT_EQ(RegionCount(), 5) << Describe();
  auto regions = admin_->ScanRegions("", "", 0);
  ASSERT_TRUE(regions.ok()) << regions.status();
  ASSERT_EQ(regions->size(), 5u);

  auto all = c->Scan("", "", 1000);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 200u);
  for (int i = 0; i < 200; ++i) {
    EXPECT_EQ((*all)[i].key, Key(i));
    EXPECT_EQ((*all)[i].value, Value(i));
  }

  // An end key inside a region: [k040, k160).
  EXPECT_EQ(ScanKeys(*c, "k040", "k160", 1000), Keys(40, 160));
  // An end key that starts a region.
  EXPECT_EQ(ScanKeys(*c, "", "k100", 1000), Keys(0, 100));
  // A limit that ends in the third region.
  EXPECT_EQ(ScanKeys(*c, "", "", 120), Keys(0, 120));
  // A limit and an end key: the first to be reached wins.
  EXPECT_EQ(ScanKeys(*c, "k010", "k020", 5), Keys(10, 15));
  EXPECT_EQ(ScanKeys(*c, "k010", "k020", 50), Keys(10, 20));
  // Starting in the middle of a region, within it, and across its end.
  EXPECT_EQ(ScanKeys(*c, "k075", "", 10), Keys(75, 85));
  EXPECT_EQ(ScanKeys(*c, "k095", "", 10), Keys(95, 105));
  // A start key that is not a key: from the next one.
  EXPECT_EQ(ScanKeys(*c, "k120a", "k130", 1000), Keys(121, 130));
  // Nothing: limit 0, an empty range, past the last key, another family.
  EXPECT_EQ(ScanKeys(*c, "", "", 0), kNoKeys);
  EXPECT_EQ(ScanKeys(*c, "k050", "k050", 10), kNoKeys);
  EXPECT_EQ(ScanKeys(*c, "z", "", 10), kNoKeys);
  EXPECT_EQ(ScanKeys(*c, "", "", 1000, "lock"), kNoKeys);

  // Small pages: a region is read in several requests.
  RawClientOptions o;
  o.scan_batch = 7;
  auto paged = NewClient(o);
  ASSERT_NE(paged, nullptr);
  EXPECT_EQ(ScanKeys(*paged, "k003", "k197", 1000), Keys(3, 197));
  EXPECT_EQ(ScanKeys(*paged, "", "", 50), Keys(0, 50));  // exactly the first region
  EXPECT_EQ(ScanKeys(*paged, "k049", "", 2), Keys(49, 51));
}

// ---- 3. Routes that went stale ----

TEST_F(RawClientTest, RecoversFromASplitItDidNotSee) {
  auto c = NewClient();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Put("a", "1").ok());
  ASSERT_TRUE(c->Put("z", "1").ok());
  auto before = c->cache().Locate("m");
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_EQ(before->region.start_key(), "");
  ASSERT_EQ(before->region.end_key(), "");
  const uint64_t version = before->region.region_epoch().version();

  // Split behind the client's back: its cached region (all keys) is stale.
  ASSERT_NO_FATAL_FAILURE(SplitAt("m"));

  // The right half first: the old region answers KeyNotInRegion (or
  // EpochNotMatch), and the client finds the new one.
  Status z = c->Put("z", "2");
  ASSERT_TRUE(z.ok()) << z;
  EXPECT_EQ(Read(*c, "z"), "2");
  ASSERT_TRUE(c->Put("y", "2").ok());
  // The left half keeps the region id with a newer epoch.
  Status a = c->Put("a", "2");
  ASSERT_TRUE(a.ok()) << a;
  EXPECT_EQ(Read(*c, "a"), "2");
  EXPECT_EQ(Read(*c, "y"), "2");

  // The cache now holds both halves.
  auto left = c->cache().Locate("a");
  auto right = c->cache().Locate("z");
  ASSERT_TRUE(left.ok() && right.ok());
  EXPECT_EQ(left->region.id(), before->region.id());
  EXPECT_EQ(left->region.end_key(), "m");
  EXPECT_GT(left->region.region_epoch().version(), version);
  EXPECT_EQ(right->region.start_key(), "m");
  EXPECT_NE(right->region.id(), before->region.id());

  // The left half first this time, through a client that cached [, m).
  auto c2 = NewClient();
  ASSERT_NE(c2, nullptr);
  ASSERT_TRUE(c2->Put("b", "3").ok());
  ASSERT_NO_FATAL_FAILURE(SplitAt("c"));
  Status b = c2->Put("b", "4");
  ASSERT_TRUE(b.ok()) << b;
  ASSERT_TRUE(c2->Put("d", "4").ok());
  EXPECT_EQ(Read(*c2, "b"), "4");
  EXPECT_EQ(Read(*c2, "d"), "4");
  // A scan through the first client (it cached [, m) before "c" split it).
  EXPECT_EQ(ScanKeys(*c, "", "", 100), (std::vector<std::string>{"a", "b", "d", "y", "z"}));
}

TEST_F(RawClientTest, FollowsALeaderThatMoved) {
  auto c = NewClient();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Put("a", "1").ok());
  auto cached = c->cache().Locate("a");
  ASSERT_TRUE(cached.ok()) << cached.status();
  const uint64_t region_id = cached->region.id();
  ASSERT_NE(RouteOf("a").leader.store_id(), 0u);

  for (int round = 0; round < 2; ++round) {
    const int from = LeaderOf("a");
    ASSERT_GE(from, 0);
    const uint64_t to = store_ids_[(from + 1) % kStores];
    ASSERT_NO_FATAL_FAILURE(TransferLeader(region_id, to));
    // The cached leader is now a follower: it answers NotLeader.
    EXPECT_EQ(Read(*c, "a"), std::to_string(round + 1)) << "round " << round;
    Status put = c->Put("a", std::to_string(round + 2));
    ASSERT_TRUE(put.ok()) << put;
    EXPECT_EQ(Read(*c, "a"), std::to_string(round + 2));
    // The client learned where the leader is.
    auto now = c->cache().Locate("a");
    ASSERT_TRUE(now.ok());
    EXPECT_EQ(now->leader.store_id(), to) << "round " << round;
  }
  // A write first, after a move.
  const int from = LeaderOf("a");
  ASSERT_GE(from, 0);
  ASSERT_NO_FATAL_FAILURE(TransferLeader(region_id, store_ids_[(from + 1) % kStores]));
  Status put = c->Put("a", "last");
  ASSERT_TRUE(put.ok()) << put;
  EXPECT_EQ(Read(*c, "a"), "last");
}

// ---- 4. Batches across regions ----

TEST_F(RawClientTest, BatchPutAndBatchGetAcrossRegions) {
  for (const std::string& at : {BatchKey(750), BatchKey(1500), BatchKey(2250)}) {
    ASSERT_NO_FATAL_FAILURE(SplitAt(at));
  }
  ASSERT_EQ(RegionCount(), 4) << Describe();
  auto c = NewClient();
  ASSERT_NE(c, nullptr);

  // 3,000 keys, unsorted, with two keys given twice: the last value wins.
  std::vector<KvPair> pairs;
  pairs.push_back({BatchKey(10), "first"});
  pairs.push_back({BatchKey(2999), "first"});
  for (int i = 2999; i >= 0; --i) pairs.push_back({BatchKey(i), Value(i)});
  pairs.push_back({BatchKey(10), "last"});
  Status put = c->BatchPut(pairs);
  ASSERT_TRUE(put.ok()) << put;

  EXPECT_EQ(Read(*c, BatchKey(10)), "last");
  EXPECT_EQ(Read(*c, BatchKey(2999)), Value(2999));
  auto scanned = c->Scan("", "", 5000);
  ASSERT_TRUE(scanned.ok()) << scanned.status();
  EXPECT_EQ(scanned->size(), 3000u);

  // Every key, 100 missing ones and some duplicates, in no order; a client
  // that sends at most 300 keys per request.
  RawClientOptions o;
  o.max_batch_keys = 300;
  auto small = NewClient(o);
  ASSERT_NE(small, nullptr);
  std::vector<std::string> keys;
  for (int i = 3099; i >= 0; --i) keys.push_back(BatchKey(i));
  keys.push_back(BatchKey(7));
  keys.push_back(BatchKey(1500));
  auto got = small->BatchGet(keys);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 3000u);
  for (int i = 0; i < 3000; ++i) {
    ASSERT_EQ((*got)[i].key, BatchKey(i));
    ASSERT_EQ((*got)[i].value, i == 10 ? "last" : Value(i)) << BatchKey(i);
  }

  // Only missing keys, and none at all.
  auto none = small->BatchGet({BatchKey(5000), "a", "zzz"});
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty());
  auto empty = small->BatchGet({});
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->empty());
  EXPECT_TRUE(small->BatchPut({}).ok());

  // Column families stay apart in batches too.
  ASSERT_TRUE(
      small->BatchPut({{BatchKey(1), "lock-1"}, {BatchKey(2000), "lock-2000"}}, "lock").ok());
  auto locks = c->BatchGet({BatchKey(1), BatchKey(2), BatchKey(2000)}, "lock");
  ASSERT_TRUE(locks.ok()) << locks.status();
  EXPECT_EQ(*locks, (std::vector<KvPair>{{BatchKey(1), "lock-1"}, {BatchKey(2000), "lock-2000"}}));
  EXPECT_EQ(Read(*c, BatchKey(1)), Value(1));
}

// ---- 5. A store down, then back on a new port ----

// Reads everything through `c`: it finds the regions' new leaders if the
// cached ones are down (a read to a store that cannot be reached fails at
// once and goes to the next peer).
void ExpectValues(RawClient& c, const std::function<std::string(int)>& value_of) {
  for (int i = 0; i < 200; ++i) {
    auto got = c.Get(Key(i));
    ASSERT_TRUE(got.ok()) << Key(i) << ": " << got.status();
    ASSERT_TRUE(got->has_value()) << Key(i);
    EXPECT_EQ(**got, value_of(i)) << Key(i);
  }
}

TEST_F(RawClientTest, SurvivesAStoreShutDownAndItsRestart) {
  ASSERT_NO_FATAL_FAILURE(SplitAt(Key(100)));
  auto c = NewClient();
  ASSERT_NE(c, nullptr);
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(c->Put(Key(i), Value(i)).ok()) << i;

  // Shut down the store leading the first region: the client's cached
  // leader for it is gone. Reads first (a write first, to the cached
  // leader, is WriteFirstAfterTheLeadersStoreShutDown below).
  const int victim = LeaderOf(Key(0));
  ASSERT_GE(victim, 0);
  const std::string old_address = stores_[victim]->address();
  StopStore(victim);
  ASSERT_NO_FATAL_FAILURE(ExpectValues(*c, Value));
  auto scanned = c->Scan("", "", 1000);
  ASSERT_TRUE(scanned.ok()) << scanned.status();
  EXPECT_EQ(scanned->size(), 200u);
  for (int i = 0; i < 200; i += 10) {
    Status s = c->Put(Key(i), "after-" + Value(i));
    ASSERT_TRUE(s.ok()) << Key(i) << ": " << s << "\n" << Describe();
  }
  ASSERT_NO_FATAL_FAILURE(
      ExpectValues(*c, [](int i) { return (i % 10 == 0 ? "after-" : "") + Value(i); }));

  // A new client, once the scheduler knows the new leaders.
  ASSERT_TRUE(Eventually([&] {
    auto regions = admin_->ScanRegions("", "", 0);
    if (!regions.ok()) return false;
    for (const auto& r : *regions) {
      if (r.leader.id() == 0 || r.leader.store_id() == store_ids_[victim]) return false;
    }
    return true;
  })) << Describe();
  auto fresh = NewClient();
  ASSERT_NE(fresh, nullptr);
  Status fresh_put = fresh->Put("fresh", "1");
  ASSERT_TRUE(fresh_put.ok()) << fresh_put;
  EXPECT_EQ(Read(*fresh, Key(5)), Value(5));
  EXPECT_EQ(Read(*fresh, Key(150)), "after-" + Value(150));

  // Back on the same data directory and a new port: it registers its new
  // address and catches up.
  ASSERT_NO_FATAL_FAILURE(StartStore(victim));
  EXPECT_NE(stores_[victim]->address(), old_address);
  ASSERT_TRUE(Eventually([&] { return Healthy(kStores); })) << Describe();
  auto meta = admin_->GetStore(store_ids_[victim]);
  ASSERT_TRUE(meta.ok()) << meta.status();
  EXPECT_EQ(meta->store().address(), stores_[victim]->address());
  for (int i = 0; i < 200; i += 7) {
    Status s = c->Put(Key(i), "restarted-" + Value(i));
    ASSERT_TRUE(s.ok()) << Key(i) << ": " << s;
    EXPECT_EQ(Read(*c, Key(i)), "restarted-" + Value(i));
  }

  // The restarted store is a working replica: with another store down, the
  // two left (one of them the restarted one) still serve both regions.
  // The store stopped is a current leader, so that the restarted store has
  // to take part in electing a new one.
  const int other = LeaderOf(Key(0));
  ASSERT_GE(other, 0);
  ASSERT_NE(other, victim);
  StopStore(other);
  auto value_now = [](int i) {
    if (i % 7 == 0) return "restarted-" + Value(i);
    return (i % 10 == 0 ? "after-" : "") + Value(i);
  };
  ASSERT_NO_FATAL_FAILURE(ExpectValues(*c, value_now));
  for (int i = 0; i < 200; i += 13) {
    Status s = c->Put(Key(i), "two-left-" + Value(i));
    ASSERT_TRUE(s.ok()) << Key(i) << ": " << s << "\n" << Describe();
  }
  for (int i = 0; i < 200; i += 13) EXPECT_EQ(Read(*c, Key(i)), "two-left-" + Value(i));
}

TEST_F(RawClientTest, WriteFirstAfterTheLeadersStoreShutDown) {
  auto c = NewClient();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Put(Key(0), Value(0)).ok());
  const int victim = LeaderOf(Key(0));
  ASSERT_GE(victim, 0);
  StopStore(victim);
  // The client still caches the stopped store as the leader: the write must
  // go on to the other peers (one of which is elected) within the timeout.
  Status s = c->Put(Key(0), "after");
  ASSERT_TRUE(s.ok()) << s << "\n" << Describe();
  EXPECT_EQ(Read(*c, Key(0)), "after");
}

// ---- 6. Outcomes when no store answers ----

TEST_F(RawClientTest, NoStoreReachableMeansUnavailableNotUnknown) {
  {
    auto warm = NewClient();
    ASSERT_NE(warm, nullptr);
    ASSERT_TRUE(warm->Put("k", "v").ok());
  }
  for (int i = 0; i < kStores; ++i) StopStore(i);

  // A new client: the scheduler still answers (routes and store
  // addresses), but no store does. raw_client.cc: a write attempt first
  // waits for a connection (StoreClient::Invoke, WaitForConnected within
  // the operation's remaining time); when none comes it is kUnavailable,
  // "nothing sent", and the retry loop gives up at the deadline with
  // GaveUp(), kUnavailable. kDeadlineExceeded (outcome unknown) is only for
  // a write that was sent, which cannot happen here.
  RawClientOptions o;
  o.timeout = milliseconds(200);
  auto c = NewClient(o);
  ASSERT_NE(c, nullptr);
  for (int attempt = 0; attempt < 3; ++attempt) {
    Status put = c->Put("k", "v2");
    EXPECT_EQ(put.code(), Code::kUnavailable) << put;
    EXPECT_FALSE(IsOutcomeUnknown(put));
    Status del = c->Delete("k");
    EXPECT_EQ(del.code(), Code::kUnavailable) << del;
    Status batch = c->BatchPut({{"a", "1"}, {"b", "2"}});
    EXPECT_EQ(batch.code(), Code::kUnavailable) << batch;
    // Reads are retried on every peer, then give up the same way.
    auto get = c->Get("k");
    EXPECT_EQ(get.status().code(), Code::kUnavailable) << get.status();
    auto scan = c->Scan("", "", 10);
    EXPECT_EQ(scan.status().code(), Code::kUnavailable) << scan.status();
  }
}

}  // namespace
}  // namespace tinykv::client
