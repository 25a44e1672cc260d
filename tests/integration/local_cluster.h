// A real local cluster for process tests: one tinykv-scheduler and N
// tinykv-server processes on loopback ports, data in a temporary folder,
// driven with tinykv-ctl and the client library. Every process it starts is
// killed when it is destroyed (and if the test aborts: PR_SET_PDEATHSIG).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "client/raw_client.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"

namespace tinykv::testing {

struct LocalClusterOptions {
  int stores = 3;
  // Configuration of every store and of the scheduler, as "section.key" ->
  // TOML value, over defaults that make regions small and reports quick.
  std::map<std::string, std::string> store_config;
  std::map<std::string, std::string> scheduler_config;
};

class LocalCluster {
 public:
  explicit LocalCluster(LocalClusterOptions options);
  ~LocalCluster();

  // Starts the scheduler, then every store (each waits for the scheduler).
  void Start();
  void StartScheduler();
  void StartStore(int i);  // 1-based
  // SIGKILL; returns the exit status.
  int Kill(int i);
  int KillScheduler();
  // SIGTERM and wait; returns the exit status (0 for a clean stop).
  int Stop(int i);
  int StopScheduler();
  bool Running(int i);

  const std::string& scheduler_addr() const { return scheduler_addr_; }
  std::string store_addr(int i) const { return store_addrs_.at(i); }
  std::string store_dir(int i) const { return Join("store" + std::to_string(i)); }
  int stores() const { return options_.stores; }

  // tinykv-ctl --scheduler ADDR args... (stdin given).
  CommandResult Ctl(std::vector<std::string> args, const std::string& stdin_data = "");
  // A client library connection to the cluster.
  std::unique_ptr<client::RawClient> Client(std::chrono::milliseconds timeout =
                                                std::chrono::seconds(30));
  // The cluster as GetClusterStatus reports it.
  Result<schedulerpb::GetClusterStatusResponse> Status();
  // The store id (the scheduler's) of store process i, once it registered.
  uint64_t StoreId(int i);

  // Waits (up to `timeout`) until `n` stores are up and every region has
  // min(n, 3) replicas, a leader and no pending peer. Returns whether it did.
  bool WaitReady(int n, std::chrono::milliseconds timeout = std::chrono::seconds(90));
  // The logs of every process, for failure messages.
  std::string Logs() const;

 private:
  std::string Join(const std::string& name) const { return dir_.Join(name); }
  LocalClusterOptions options_;
  TempDir dir_;
  std::string scheduler_addr_;
  std::map<int, std::string> store_addrs_;
  std::unique_ptr<Subprocess> scheduler_;
  std::map<int, std::unique_ptr<Subprocess>> stores_;
};

}  // namespace tinykv::testing
