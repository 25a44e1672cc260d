// A real cluster in one process for client tests: a SchedulerServer and
// three cluster-mode Servers on loopback ports, every region with three
// replicas, and helpers to split regions, move leaders and stop or restart
// stores. Tests derive their fixture from InProcClusterTest.
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "client/scheduler_client.h"
#include "common/log.h"
#include "server/config.h"
#include "server/scheduler_config.h"
#include "server/scheduler_server.h"
#include "server/server.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"

namespace tinykv::client {

using server::SchedulerServer;
using server::SchedulerServerConfig;
using server::Server;
using std::chrono::milliseconds;
using std::chrono::seconds;

// Generous: the suite runs under ASan on a 2-core machine next to other builds.
inline constexpr auto kWait = seconds(120);
inline constexpr int kStores = 3;

// Polls `condition` (which asks the cluster something) every 50 ms.
inline bool Eventually(const std::function<bool()>& condition, milliseconds timeout = kWait) {
  return testing::WaitFor(
      [&] {
        if (condition()) return true;
        std::this_thread::sleep_for(milliseconds(50));
        return false;
      },
      timeout);
}

class InProcClusterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Quiet unless asked: TINYKV_TEST_VERBOSE=info (or debug) shows the
    // servers' logs.
    const char* v = std::getenv("TINYKV_TEST_VERBOSE");
    LogOptions log;
    log.level = v != nullptr && *v != '\0' ? v : "warn";
    Status s = InitLogging(log);
    ASSERT_TRUE(s.ok()) << s;
  }

  void SetUp() override {
    SchedulerServerConfig sc;
    sc.addr = "127.0.0.1:0";
    sc.data_dir = dir_.Join("scheduler");
    sc.schedule.schedule_interval_ms = 50;
    // The replica checker brings the first region to three replicas; no
    // balancing, so that leaders stay where a test puts them.
    sc.schedule.leader_schedule_limit = 0;
    sc.schedule.region_schedule_limit = 0;
    auto sched = SchedulerServer::Start(sc);
    ASSERT_TRUE(sched.ok()) << sched.status();
    scheduler_ = std::move(sched).value();

    SchedulerClientOptions so;
    so.timeout = seconds(30);
    admin_ = std::make_unique<SchedulerClient>(scheduler_->address(), so);

    stores_.resize(kStores);
    store_ids_.resize(kStores);
    for (int i = 0; i < kStores; ++i) ASSERT_NO_FATAL_FAILURE(StartStore(i));
    ASSERT_TRUE(Eventually([&] { return Healthy(kStores); })) << Describe();
  }

  void TearDown() override {
    for (auto& s : stores_) {
      if (s != nullptr) s->Shutdown();
    }
    stores_.clear();
    if (scheduler_ != nullptr) scheduler_->Shutdown();
  }

  server::Config StoreConfig(int i) const {
    server::Config c;
    c.standalone = false;
    c.scheduler = scheduler_->address();
    c.addr = "127.0.0.1:0";
    c.data_dir = dir_.Join(fmt::format("store{}", i));
    c.block_cache_size = 8u << 20;
    c.store_heartbeat_interval = milliseconds(200);
    c.shutdown_timeout = seconds(3);
    c.raftstore.region_heartbeat_tick_ms = 300;
    c.raftstore.raft_base_tick_ms = 50;
    c.raftstore.raft_election_ticks = 10;
    c.raftstore.raft_heartbeat_ticks = 2;
    return c;
  }

  // Starts store `i` (again, on its data directory and a new port) and
  // waits until the scheduler knows it at its address.
  void StartStore(int i) {
    auto s = Server::Start(StoreConfig(i));
    ASSERT_TRUE(s.ok()) << "store " << i << ": " << s.status();
    stores_[i] = std::move(s).value();
    const std::string addr = stores_[i]->address();
    uint64_t id = 0;
    bool registered = Eventually([&] {
      auto all = admin_->GetAllStores(true);
      if (!all.ok()) return false;
      for (const auto& st : *all) {
        if (st.address() == addr) id = st.id();
      }
      return id != 0;
    });
    ASSERT_TRUE(registered) << "store " << i << " at " << addr << " never registered";
    if (store_ids_[i] != 0) {
      EXPECT_EQ(id, store_ids_[i]) << "store " << i << " changed its id";
    }
    store_ids_[i] = id;
  }

  void StopStore(int i) {
    stores_[i]->Shutdown();
    stores_[i].reset();
  }

  // The index of the store with this id; -1 if none has it.
  int IndexOf(uint64_t store_id) const {
    auto it = std::find(store_ids_.begin(), store_ids_.end(), store_id);
    if (it == store_ids_.end()) return -1;
    return static_cast<int>(it - store_ids_.begin());
  }

  // The index of the store leading the region that holds `key`.
  int LeaderOf(const std::string& key) {
    int i = IndexOf(RouteOf(key).leader.store_id());
    EXPECT_GE(i, 0) << "no known leader for " << key << ": " << Describe();
    return i;
  }

  // At least `up` stores heartbeat, and every region has three replicas
  // (none pending) and a leader.
  bool Healthy(int up) {
    auto st = admin_->GetClusterStatus(0);
    if (!st.ok()) return false;
    int n = 0;
    for (const auto& s : st->stores()) {
      n += s.store().state() == metapb::Up && !s.disconnected() && s.last_heartbeat_age_ms() > 0;
    }
    if (n < up || st->regions_size() == 0) return false;
    for (const auto& r : st->regions()) {
      if (r.region().peers_size() != kStores || r.leader().id() == 0 || r.pending_peers_size() != 0)
        return false;
    }
    return true;
  }

  // The cluster as the scheduler sees it, for failure messages.
  std::string Describe() {
    auto st = admin_->GetClusterStatus(0);
    if (!st.ok()) return "cluster status: " + st.status().ToString();
    return st->ShortDebugString();
  }

  // The region holding `key` as the scheduler knows it (region id 0: none).
  RegionRoute RouteOf(const std::string& key) {
    auto r = admin_->GetRegion(key);
    if (!r.ok() || !r->has_value()) return {};
    return **r;
  }

  // Splits the region holding `key` so that `key` starts a region, through
  // AddOperator, and waits until both halves are fully replicated with
  // leaders. Asking again while the split runs is refused by the scheduler
  // ("already runs an operator"), so the request is simply repeated.
  void SplitAt(const std::string& key) {
    bool split = Eventually([&] {
      RegionRoute r = RouteOf(key);
      if (r.region.id() == 0) return false;  // a split is being reported
      if (r.region.start_key() == key) return r.leader.id() != 0;
      schedulerpb::AddOperatorRequest req;
      req.set_region_id(r.region.id());
      req.mutable_split()->add_keys(key);
      (void)admin_->AddOperator(req);
      return false;
    });
    ASSERT_TRUE(split) << "no region starts at " << key << ": " << Describe();
    ASSERT_TRUE(Eventually([&] { return Healthy(kStores); })) << Describe();
  }

  // Moves the leadership of `region_id` to `store_id` through AddOperator.
  void TransferLeader(uint64_t region_id, uint64_t store_id) {
    bool moved = Eventually([&] {
      auto r = admin_->GetRegionById(region_id);
      if (!r.ok() || !r->has_value()) return false;
      if ((*r)->leader.store_id() == store_id) return true;
      schedulerpb::AddOperatorRequest req;
      req.set_region_id(region_id);
      req.set_transfer_leader_store_id(store_id);
      (void)admin_->AddOperator(req);  // refused while one runs: asked again
      return false;
    });
    ASSERT_TRUE(moved) << "region " << region_id << " not led by store " << store_id << ": "
                       << Describe();
  }

  int RegionCount() {
    auto st = admin_->GetClusterStatus(0);
    return st.ok() ? static_cast<int>(st->region_count()) : 0;
  }

  testing::TempDir dir_;
  std::unique_ptr<SchedulerServer> scheduler_;
  std::unique_ptr<SchedulerClient> admin_;
  std::vector<std::unique_ptr<Server>> stores_;  // null while a store is down
  std::vector<uint64_t> store_ids_;
};

}  // namespace tinykv::client
