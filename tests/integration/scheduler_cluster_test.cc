// A real local cluster (tinykv-scheduler + tinykv-server processes on
// loopback): loading data splits regions and every key stays readable
// through tinykv-ctl; four stores get their leaders and regions spread; a
// store dead past max-store-down-time has its replicas rebuilt elsewhere; a
// scheduler restarted under load loses no metadata, its TSO never goes
// back, and clients recover on their own; a deleted store is drained into
// a tombstone.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "local_cluster.h"

namespace tinykv::testing {
namespace {

using std::chrono::seconds;

std::string Key(int i) { return fmt::format("key{:06d}", i); }
std::string Value(int i) { return fmt::format("value-{:06d}-{:0>48}", i, i * 7919); }

// Writes keys [from, to) through the client library in batches.
void Load(client::RawClient& c, int from, int to) {
  for (int i = from; i < to; i += 500) {
    std::vector<client::KvPair> batch;
    for (int j = i; j < std::min(to, i + 500); ++j) batch.push_back({Key(j), Value(j)});
    Status s = c.BatchPut(batch);
    ASSERT_TRUE(s.ok()) << "keys from " << i << ": " << s;
  }
}

LocalClusterOptions Options(int stores, std::map<std::string, std::string> scheduler_config = {}) {
  LocalClusterOptions o;
  o.stores = stores;
  o.scheduler_config = std::move(scheduler_config);
  return o;
}

int RegionCount(LocalCluster& c) {
  auto st = c.Status();
  return st.ok() ? static_cast<int>(st->region_count()) : 0;
}

// Every key in [from, to) has its value, read through the client library.
void ExpectAll(client::RawClient& c, int from, int to) {
  std::vector<std::string> keys;
  for (int i = from; i < to; ++i) keys.push_back(Key(i));
  auto got = c.BatchGet(keys);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), keys.size());
  for (size_t i = 0; i < got->size(); ++i) {
    ASSERT_EQ((*got)[i].key, Key(from + static_cast<int>(i)));
    ASSERT_EQ((*got)[i].value, Value(from + static_cast<int>(i)));
  }
}

TEST(SchedulerCluster, LoadSplitsRegionsAndEveryKeyIsReadableThroughCtl) {
  LocalCluster c(Options(3));
  c.Start();
  ASSERT_TRUE(c.WaitReady(3)) << c.Logs();
  auto client = c.Client();
  ASSERT_NE(client, nullptr);
  constexpr int kKeys = 20000;
  Load(*client, 0, kKeys);
  ASSERT_TRUE(WaitFor([&] { return RegionCount(c) >= 8; }, seconds(90)))
      << "regions: " << RegionCount(c) << "\n"
      << c.Logs();
  // Every key, through tinykv-ctl (batch-get reads each region's keys in
  // one request).
  std::string keys;
  for (int i = 0; i < kKeys; ++i) keys += Key(i) + "\n";
  CommandResult got = c.Ctl({"--timeout", "60", "raw", "batch-get"}, keys);
  ASSERT_EQ(got.exit_code, 0) << got.err;
  std::string want;
  for (int i = 0; i < kKeys; ++i) want += Key(i) + "\t" + Value(i) + "\n";
  EXPECT_TRUE(got.out == want) << "batch-get output differs (" << got.out.size() << " bytes, want "
                               << want.size() << ")";
  // Single gets at the first, a middle and the last key, and a scan across
  // every region.
  for (int i : {0, kKeys / 2, kKeys - 1}) {
    CommandResult one = c.Ctl({"raw", "get", Key(i)});
    ASSERT_EQ(one.exit_code, 0) << one.err;
    EXPECT_EQ(one.out, Value(i) + "\n");
  }
  CommandResult scan = c.Ctl({"--timeout", "60", "raw", "scan", "", "--limit", "30000"});
  ASSERT_EQ(scan.exit_code, 0) << scan.err;
  EXPECT_TRUE(scan.out == want) << "scan output differs";
  EXPECT_EQ(c.Ctl({"raw", "get", "no-such-key"}).exit_code, 1);
  // The region map is consistent: ranges cover the key space without gaps.
  auto st = c.Status();
  ASSERT_TRUE(st.ok()) << st.status();
  std::string expect_start;
  for (const auto& r : st->regions()) {
    EXPECT_EQ(r.region().start_key(), expect_start) << "gap or overlap before region "
                                                    << r.region().id();
    expect_start = r.region().end_key();
  }
  EXPECT_EQ(expect_start, "");
}

TEST(SchedulerCluster, FourStoresGetLeadersAndRegionsSpread) {
  LocalCluster c(Options(4));
  c.Start();
  ASSERT_TRUE(c.WaitReady(4)) << c.Logs();
  auto client = c.Client();
  ASSERT_NE(client, nullptr);
  Load(*client, 0, 20000);
  std::string last;
  bool balanced = WaitFor(
      [&] {
        auto st = c.Status();
        if (!st.ok() || st->regions_size() < 8) return false;
        uint32_t leaders = 0, most = 0;
        bool all_hold = true;
        for (const auto& s : st->stores()) {
          leaders += s.leader_count();
          most = std::max(most, s.leader_count());
          all_hold = all_hold && s.region_count() > 0 && s.leader_count() > 0;
        }
        last = st->ShortDebugString().substr(0, 2000);
        return all_hold && leaders == static_cast<uint32_t>(st->regions_size()) &&
               2 * most <= leaders;
      },
      seconds(150));
  EXPECT_TRUE(balanced) << "last status: " << last << "\n" << c.Logs();
  ExpectAll(*client, 0, 20000);
}

TEST(SchedulerCluster, StoreDownPastMaxDownTimeHasItsReplicasRebuilt) {
  LocalCluster c(Options(4, {{"schedule.max-store-down-time", "\"6s\""}}));
  c.Start();
  ASSERT_TRUE(c.WaitReady(4)) << c.Logs();
  auto client = c.Client();
  ASSERT_NE(client, nullptr);
  Load(*client, 0, 8000);
  ASSERT_TRUE(WaitFor([&] { return RegionCount(c) >= 4; }, seconds(90))) << c.Logs();
  // The store holding the most replicas dies and stays down.
  auto st = c.Status();
  ASSERT_TRUE(st.ok());
  int victim = 1;
  uint32_t most = 0;
  for (int i = 1; i <= 4; ++i) {
    uint64_t id = c.StoreId(i);
    for (const auto& s : st->stores()) {
      if (s.store().id() == id && s.region_count() >= most) {
        most = s.region_count();
        victim = i;
      }
    }
  }
  uint64_t dead = c.StoreId(victim);
  ASSERT_EQ(c.Kill(victim), 128 + SIGKILL);
  // Every region returns to three replicas, none on the dead store.
  std::string last;
  bool repaired = WaitFor(
      [&] {
        auto s = c.Status();
        if (!s.ok() || s->regions_size() == 0) return false;
        last = s->ShortDebugString().substr(0, 2000);
        for (const auto& r : s->regions()) {
          if (r.region().peers_size() != 3 || r.leader().id() == 0 || r.pending_peers_size() != 0)
            return false;
          for (const auto& p : r.region().peers()) {
            if (p.store_id() == dead) return false;
          }
        }
        return true;
      },
      seconds(150));
  ASSERT_TRUE(repaired) << "last status: " << last << "\n" << c.Logs();
  ExpectAll(*client, 0, 8000);
  // And the cluster takes writes.
  Load(*client, 8000, 9000);
  ExpectAll(*client, 8000, 9000);
}

TEST(SchedulerCluster, SchedulerRestartUnderLoadLosesNothing) {
  LocalCluster c(Options(3));
  c.Start();
  ASSERT_TRUE(c.WaitReady(3)) << c.Logs();
  auto client = c.Client(seconds(60));
  ASSERT_NE(client, nullptr);
  Load(*client, 0, 3000);
  ASSERT_TRUE(WaitFor([&] { return RegionCount(c) >= 2; }, seconds(60))) << c.Logs();

  // Writers run through the restart; each remembers what was acknowledged.
  std::atomic<bool> stop{false};
  std::atomic<int> acked_after_restart{0};
  std::atomic<bool> restarted{false};
  std::mutex mu;
  std::set<int> acked;
  std::vector<std::thread> writers;
  for (int w = 0; w < 3; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 100000 + w; !stop; i += 3) {
        Status s = client->Put(Key(i), Value(i));
        if (s.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          acked.insert(i);
          if (restarted) ++acked_after_restart;
        }
      }
    });
  }
  uint64_t before_ts = 0;
  for (int i = 0; i < 100; ++i) {
    auto ts = client->scheduler().GetTimestamp();
    ASSERT_TRUE(ts.ok()) << ts.status();
    ASSERT_GT(*ts, before_ts);
    before_ts = *ts;
  }
  auto before = c.Status();
  ASSERT_TRUE(before.ok());
  std::this_thread::sleep_for(seconds(1));

  ASSERT_EQ(c.KillScheduler(), 128 + SIGKILL);
  std::this_thread::sleep_for(seconds(2));
  c.StartScheduler();
  restarted = true;

  // The same client: timestamps continue above the old ones.
  auto after_ts = client->scheduler().GetTimestamp();
  ASSERT_TRUE(after_ts.ok()) << after_ts.status() << "\n" << c.Logs();
  EXPECT_GT(*after_ts, before_ts);
  // Stores and regions are all still known.
  auto after = c.Status();
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->stores_size(), before->stores_size());
  for (const auto& s : before->stores()) {
    bool found = false;
    for (const auto& t : after->stores()) {
      found |= t.store().id() == s.store().id() && t.store().address() == s.store().address();
    }
    EXPECT_TRUE(found) << "store " << s.store().id() << " lost";
  }
  EXPECT_GE(after->region_count(), before->region_count());
  EXPECT_EQ(after->cluster().id(), before->cluster().id());
  // Writers go on without being restarted, and new regions can split.
  ASSERT_TRUE(WaitFor([&] { return acked_after_restart > 200; }, seconds(60))) << c.Logs();
  stop = true;
  for (auto& t : writers) t.join();
  ExpectAll(*client, 0, 3000);
  std::vector<std::string> keys;
  for (int i : acked) keys.push_back(Key(i));
  auto got = client->BatchGet(keys);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->size(), keys.size()) << "an acknowledged write is missing";
}

TEST(SchedulerCluster, DeletedStoreIsDrainedIntoATombstone) {
  LocalCluster c(Options(4));
  c.Start();
  ASSERT_TRUE(c.WaitReady(4)) << c.Logs();
  auto client = c.Client();
  ASSERT_NE(client, nullptr);
  Load(*client, 0, 4000);
  uint64_t id = c.StoreId(1);  // the store that bootstrapped: it holds replicas
  CommandResult del = c.Ctl({"store", "delete", std::to_string(id)});
  ASSERT_EQ(del.exit_code, 0) << del.err;
  EXPECT_NE(del.out.find("Offline"), std::string::npos) << del.out;
  bool tombstone = WaitFor(
      [&] {
        auto st = c.Status();
        if (!st.ok()) return false;
        for (const auto& s : st->stores()) {
          if (s.store().id() == id)
            return s.store().state() == metapb::Tombstone && s.region_count() == 0;
        }
        return false;
      },
      seconds(150));
  ASSERT_TRUE(tombstone) << c.Logs();
  ExpectAll(*client, 0, 4000);
  // Removing another would leave fewer stores than replicas: refused.
  CommandResult refuse = c.Ctl({"store", "delete", std::to_string(c.StoreId(2))});
  EXPECT_EQ(refuse.exit_code, 2);
  EXPECT_NE(refuse.err.find("cannot remove store"), std::string::npos) << refuse.err;
  // The tombstone store may not come back.
  c.Stop(1);
  c.StartStore(1);
  ASSERT_TRUE(WaitFor([&] { return !c.Running(1); }, seconds(60)));
}

TEST(SchedulerCluster, OperatorsFromCtlMoveSplitAndShowRegions) {
  // No automatic scheduling: every change here is asked for with tinykv-ctl.
  LocalCluster c(Options(3, {{"schedule.replica-schedule-limit", "0"},
                             {"schedule.leader-schedule-limit", "0"},
                             {"schedule.region-schedule-limit", "0"}}));
  c.Start();
  uint64_t s1 = c.StoreId(1), s2 = c.StoreId(2), s3 = c.StoreId(3);
  ASSERT_TRUE(s1 && s2 && s3) << c.Logs();
  auto client = c.Client();
  ASSERT_NE(client, nullptr);
  auto route = [&](const std::string& key) {
    client::RegionRoute out;
    auto r = client->scheduler().GetRegion(key);
    if (r.ok() && r->has_value()) out = **r;
    return out;
  };
  auto holds = [&](const std::string& key, uint64_t store) {
    client::RegionRoute r = route(key);
    for (const auto& p : r.region.peers()) {
      if (p.store_id() == store) return true;
    }
    return false;
  };
  ASSERT_TRUE(WaitFor([&] { return route("m").leader.id() != 0; }, seconds(60))) << c.Logs();
  ASSERT_EQ(c.Ctl({"raw", "put", "m", "middle"}).exit_code, 0);
  std::string rid = std::to_string(route("m").region.id());
  // The bootstrap region has one replica; add two.
  uint64_t first = route("m").leader.store_id();
  std::vector<uint64_t> others;
  for (uint64_t s : {s1, s2, s3}) {
    if (s != first) others.push_back(s);
  }
  for (uint64_t s : others) {
    CommandResult add = c.Ctl({"operator", "add-peer", rid, std::to_string(s)});
    ASSERT_EQ(add.exit_code, 0) << add.err;
    EXPECT_NE(add.out.find("add peer"), std::string::npos) << add.out;
    ASSERT_TRUE(WaitFor([&] { return holds("m", s) && route("m").region.peers_size() > 1; },
                        seconds(60)))
        << c.Logs();
    ASSERT_TRUE(WaitFor(
        [&] {
          auto op = client->scheduler().GetOperator(route("m").region.id());
          return op.ok() && op->status() == schedulerpb::SUCCESS;
        },
        seconds(60)));
  }
  CommandResult show = c.Ctl({"operator", "show", rid});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_NE(show.out.find("admin-add-peer"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("SUCCESS"), std::string::npos) << show.out;
  // Split at "m": "m" starts the right half.
  CommandResult split = c.Ctl({"operator", "split", rid, "m"});
  ASSERT_EQ(split.exit_code, 0) << split.err;
  ASSERT_TRUE(WaitFor([&] { return route("m").region.start_key() == "m"; }, seconds(60)))
      << c.Logs();
  CommandResult region = c.Ctl({"region", "m"});
  ASSERT_EQ(region.exit_code, 0) << region.err;
  EXPECT_NE(region.out.find("range [m, +inf)"), std::string::npos) << region.out;
  ASSERT_TRUE(WaitFor([&] { return route("m").leader.id() != 0; }, seconds(60)));
  rid = std::to_string(route("m").region.id());
  // Move the right half's leadership to another store.
  uint64_t target = route("m").leader.store_id() == others[0] ? others[1] : others[0];
  ASSERT_EQ(c.Ctl({"operator", "transfer-leader", rid, std::to_string(target)}).exit_code, 0);
  ASSERT_TRUE(WaitFor([&] { return route("m").leader.store_id() == target; }, seconds(60)))
      << c.Logs();
  // Remove a replica that is not the leader's.
  uint64_t gone = target == others[0] ? others[1] : others[0];
  ASSERT_EQ(c.Ctl({"operator", "remove-peer", rid, std::to_string(gone)}).exit_code, 0);
  ASSERT_TRUE(WaitFor([&] { return !holds("m", gone); }, seconds(60))) << c.Logs();
  CommandResult get = c.Ctl({"raw", "get", "m"});
  EXPECT_EQ(get.out, "middle\n") << get.err;
  // Bad requests get clear errors.
  CommandResult bad = c.Ctl({"operator", "add-peer", rid, "999"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("store 999 not found"), std::string::npos) << bad.err;
  CommandResult lead = c.Ctl({"operator", "transfer-leader", rid, std::to_string(target)});
  EXPECT_EQ(lead.exit_code, 2);
  EXPECT_NE(lead.err.find("already leads"), std::string::npos) << lead.err;
  // The cluster table lists every store and both regions.
  CommandResult table = c.Ctl({"cluster"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("STORE  ADDRESS"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("2 regions"), std::string::npos) << table.out;
  for (int i = 1; i <= 3; ++i) EXPECT_NE(table.out.find(c.store_addr(i)), std::string::npos);
}

TEST(SchedulerCluster, AStoreOfAnotherClusterIsRefused) {
  LocalCluster a(Options(1));
  a.Start();
  ASSERT_TRUE(a.WaitReady(1)) << a.Logs();
  ASSERT_EQ(a.Stop(1), 0);
  LocalCluster b(Options(0));
  b.StartScheduler();
  // Store 1 of cluster A, pointed at cluster B's scheduler, does not start.
  CommandResult r = RunCommand({TINYKV_SERVER_BIN, "--scheduler", b.scheduler_addr(), "--addr",
                                "127.0.0.1:" + std::to_string(FreePort()), "--data-dir",
                                a.store_dir(1)});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("but the scheduler at " + b.scheduler_addr() + " serves cluster"),
            std::string::npos)
      << r.err;
  auto st = b.Status();
  EXPECT_FALSE(st.ok()) << "cluster B must still be empty (not bootstrapped)";
}

}  // namespace
}  // namespace tinykv::testing
