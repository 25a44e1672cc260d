#include "local_cluster.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <thread>

namespace tinykv::testing {

namespace {

// Small regions and quick reports, so that a test sees splits, moves and
// repairs within seconds.
const std::map<std::string, std::string> kStoreDefaults = {
    {"server.store-heartbeat-interval", "\"500ms\""},
    {"raftstore.region-max-size", "\"64KiB\""},
    {"raftstore.region-split-size", "\"48KiB\""},
    {"raftstore.split-region-check-tick-interval", "\"500ms\""},
    {"raftstore.region-heartbeat-interval", "\"1s\""},
    {"raftstore.raft-log-gc-tick-interval", "\"1s\""},
};
const std::map<std::string, std::string> kSchedulerDefaults = {
    {"schedule.store-disconnect-time", "\"3s\""},
};

void WriteToml(const std::string& path, std::map<std::string, std::string> settings,
               const std::map<std::string, std::string>& overrides) {
  for (const auto& [k, v] : overrides) settings[k] = v;
  std::map<std::string, std::vector<std::string>> sections;
  for (const auto& [k, v] : settings) {
    size_t dot = k.find('.');
    sections[k.substr(0, dot)].push_back(k.substr(dot + 1) + " = " + v);
  }
  std::ofstream out(path);
  for (const auto& [section, lines] : sections) {
    out << "[" << section << "]\n";
    for (const auto& l : lines) out << l << "\n";
  }
}

}  // namespace

LocalCluster::LocalCluster(LocalClusterOptions options) : options_(std::move(options)) {
  scheduler_addr_ = "127.0.0.1:" + std::to_string(FreePort());
  for (int i = 1; i <= options_.stores; ++i) {
    store_addrs_[i] = "127.0.0.1:" + std::to_string(FreePort());
  }
  WriteToml(Join("store.toml"), kStoreDefaults, options_.store_config);
  WriteToml(Join("scheduler.toml"), kSchedulerDefaults, options_.scheduler_config);
}

LocalCluster::~LocalCluster() {
  for (auto& [i, p] : stores_) {
    if (p && p->Running()) {
      p->Signal(SIGTERM);
      (void)p->Wait();
    }
  }
  if (scheduler_ && scheduler_->Running()) {
    scheduler_->Signal(SIGTERM);
    (void)scheduler_->Wait();
  }
}

void LocalCluster::Start() {
  StartScheduler();
  for (int i = 1; i <= options_.stores; ++i) StartStore(i);
}

void LocalCluster::StartScheduler() {
  scheduler_ = std::make_unique<Subprocess>(
      std::vector<std::string>{TINYKV_SCHEDULER_BIN, "--config", Join("scheduler.toml"), "--addr",
                               scheduler_addr_, "--data-dir", Join("scheduler")},
      Join("scheduler.log"));
}

void LocalCluster::StartStore(int i) {
  stores_[i] = std::make_unique<Subprocess>(
      std::vector<std::string>{TINYKV_SERVER_BIN, "--config", Join("store.toml"), "--scheduler",
                               scheduler_addr_, "--addr", store_addrs_.at(i), "--data-dir",
                               Join("store" + std::to_string(i))},
      Join("store" + std::to_string(i) + ".log"));
}

int LocalCluster::Kill(int i) {
  stores_.at(i)->Signal(SIGKILL);
  return stores_.at(i)->Wait();
}

int LocalCluster::KillScheduler() {
  scheduler_->Signal(SIGKILL);
  return scheduler_->Wait();
}

int LocalCluster::Stop(int i) {
  stores_.at(i)->Signal(SIGTERM);
  return stores_.at(i)->Wait();
}

int LocalCluster::StopScheduler() {
  scheduler_->Signal(SIGTERM);
  return scheduler_->Wait();
}

bool LocalCluster::Running(int i) {
  auto it = stores_.find(i);
  return it != stores_.end() && it->second && it->second->Running();
}

CommandResult LocalCluster::Ctl(std::vector<std::string> args, const std::string& stdin_data) {
  args.insert(args.begin(), {TINYKV_CTL_BIN, "--scheduler", scheduler_addr_});
  return RunCommand(args, stdin_data);
}

std::unique_ptr<client::RawClient> LocalCluster::Client(std::chrono::milliseconds timeout) {
  client::RawClientOptions o;
  o.timeout = timeout;
  o.scheduler.timeout = timeout;
  auto c = client::RawClient::Connect(scheduler_addr_, o);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? std::move(c).value() : nullptr;
}

Result<schedulerpb::GetClusterStatusResponse> LocalCluster::Status() {
  client::SchedulerClientOptions o;
  o.timeout = std::chrono::seconds(5);
  client::SchedulerClient c(scheduler_addr_, o);
  return c.GetClusterStatus(0);
}

uint64_t LocalCluster::StoreId(int i) {
  uint64_t id = 0;
  WaitFor([&] {
    auto st = Status();
    if (!st.ok()) return false;
    for (const auto& s : st->stores()) {
      if (s.store().address() == store_addrs_.at(i)) id = s.store().id();
    }
    return id != 0;
  });
  return id;
}

bool LocalCluster::WaitReady(int n, std::chrono::milliseconds timeout) {
  int want = std::min(n, 3);
  return WaitFor(
      [&] {
        auto st = Status();
        if (!st.ok()) return false;
        int up = 0;
        for (const auto& s : st->stores()) {
          up += s.store().state() == metapb::Up && !s.disconnected() &&
                s.last_heartbeat_age_ms() > 0;
        }
        if (up < n || st->regions_size() == 0) return false;
        for (const auto& r : st->regions()) {
          if (r.region().peers_size() != want || r.leader().id() == 0 ||
              r.pending_peers_size() != 0)
            return false;
        }
        return true;
      },
      timeout);
}

std::string LocalCluster::Logs() const {
  std::string out = "--- scheduler.log (tail) ---\n";
  auto tail = [](const std::string& s) {
    return s.size() > 6000 ? "...\n" + s.substr(s.size() - 6000) : s;
  };
  out += tail(ReadFileOrEmpty(Join("scheduler.log")));
  for (const auto& [i, addr] : store_addrs_) {
    out += "--- store" + std::to_string(i) + ".log (tail) ---\n";
    out += tail(ReadFileOrEmpty(Join("store" + std::to_string(i) + ".log")));
  }
  return out;
}

}  // namespace tinykv::testing
