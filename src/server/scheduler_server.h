// SchedulerServer: the composition root of tinykv-scheduler. It opens the
// metadata (RocksDB under <data-dir>/meta), builds the scheduler core and
// its gRPC service (with health checking and reflection), and runs the
// coordinator every schedule-interval on a timer thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/result.h"
#include "server/scheduler_config.h"

namespace grpc {
class Server;
}
namespace tinykv {
class SystemClock;
class UnixClock;
}  // namespace tinykv
namespace tinykv::storage {
class Engine;
}
namespace tinykv::scheduler {
class Cluster;
}

namespace tinykv::server {

class SchedulerService;

class SchedulerServer {
 public:
  // REQUIRES: ValidateSchedulerConfig(config) is OK.
  // Errors: kIOError when the data directory or address cannot be used,
  // kCorruption for damaged metadata.
  static Result<std::unique_ptr<SchedulerServer>> Start(const SchedulerServerConfig& config);
  ~SchedulerServer();

  const std::string& address() const { return address_; }
  uint64_t cluster_id() const;
  // Graceful stop: streams end, calls in flight finish, metadata closed. Idempotent.
  void Shutdown();

 private:
  explicit SchedulerServer(const SchedulerServerConfig& config);
  void RunTicker();

  SchedulerServerConfig config_;
  std::string address_;
  std::unique_ptr<SystemClock> clock_;
  std::unique_ptr<UnixClock> wall_;
  std::unique_ptr<storage::Engine> engine_;
  std::unique_ptr<scheduler::Cluster> core_;
  std::unique_ptr<SchedulerService> service_;
  std::unique_ptr<grpc::Server> grpc_;
  std::thread ticker_;
  std::mutex ticker_mu_;
  std::condition_variable ticker_cv_;
  bool stopping_ = false;
};

}  // namespace tinykv::server
