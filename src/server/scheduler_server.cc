#include "server/scheduler_server.h"

#include <fmt/format.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <random>

#include "common/clock.h"
#include "scheduler/cluster.h"
#include "server/process.h"
#include "server/scheduler_service.h"
#include "storage/rocks/rocks_engine.h"

namespace tinykv::server {

SchedulerServer::SchedulerServer(const SchedulerServerConfig& config) : config_(config) {}

SchedulerServer::~SchedulerServer() { Shutdown(); }

uint64_t SchedulerServer::cluster_id() const { return core_->cluster_id(); }

Result<std::unique_ptr<SchedulerServer>> SchedulerServer::Start(
    const SchedulerServerConfig& config) {
  TKV_CHECK(ValidateSchedulerConfig(config).ok());
  std::unique_ptr<SchedulerServer> s(new SchedulerServer(config));
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec) {
    return Status::IOError(
        fmt::format("cannot create data dir {}: {}", config.data_dir, ec.message()));
  }
  storage::RocksOptions rocks;
  rocks.path = config.data_dir + "/meta";
  rocks.block_cache_bytes = 8u << 20;
  TKV_ASSIGN_OR_RETURN(s->engine_, storage::OpenRocksEngine(rocks));
  s->clock_ = std::make_unique<SystemClock>();
  s->wall_ = std::make_unique<UnixClock>();
  scheduler::ClusterDeps deps;
  deps.config = config.schedule;
  deps.engine = s->engine_.get();
  deps.clock = s->clock_.get();
  deps.wall = s->wall_.get();
  deps.seed = std::random_device{}();
  TKV_ASSIGN_OR_RETURN(s->core_, scheduler::Cluster::Open(deps));

  // The address is known only once listening; GetMembers reports it.
  s->service_ = std::make_unique<SchedulerService>(*s->core_, config.addr);
  TKV_ASSIGN_OR_RETURN(auto grpc_server,
                       StartGrpcServer({.addr = config.addr,
                                        .max_message_size = config.max_message_size,
                                        .services = {s->service_.get()},
                                        .default_services = true,
                                        .configure = nullptr}));
  s->grpc_ = std::move(grpc_server.first);
  s->address_ = std::move(grpc_server.second);
  s->service_->SetAddress(s->address_);
  s->ticker_ = std::thread([p = s.get()] { p->RunTicker(); });
  spdlog::info("scheduler started addr={} data_dir={} cluster_id={} bootstrapped={}", s->address_,
               config.data_dir, s->core_->cluster_id(), s->core_->bootstrapped());
  return s;
}

void SchedulerServer::RunTicker() {
  auto interval = std::chrono::milliseconds(config_.schedule.schedule_interval_ms);
  std::unique_lock<std::mutex> lock(ticker_mu_);
  while (!stopping_) {
    if (ticker_cv_.wait_for(lock, interval, [this] { return stopping_; })) break;
    lock.unlock();
    service_->Tick();
    lock.lock();
  }
}

void SchedulerServer::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(ticker_mu_);
    stopping_ = true;
  }
  ticker_cv_.notify_all();
  if (ticker_.joinable()) ticker_.join();
  if (grpc_ != nullptr) {
    spdlog::info("scheduler stopping addr={}", address_);
    grpc_->GetHealthCheckService()->SetServingStatus(false);
    service_->CloseStreams();
    grpc_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    grpc_->Wait();
    grpc_.reset();
  }
  service_.reset();
  core_.reset();
  if (engine_ != nullptr) {
    engine_.reset();
    spdlog::info("scheduler stopped data_dir={}", config_.data_dir);
  }
}

}  // namespace tinykv::server
