#include "server/server.h"

#include <fmt/format.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <spdlog/spdlog.h>

#include <filesystem>

#include "server/kv_service.h"
#include "server/raw_kv.h"
#include "storage/rocks/rocks_engine.h"
#include "storage/standalone_storage.h"

namespace tinykv::server {

Server::Server(const Config& config) : config_(config) {}

Server::~Server() { Shutdown(); }

Result<std::unique_ptr<Server>> Server::Start(const Config& config) {
  TKV_CHECK(ValidateConfig(config).ok());
  if (!config.standalone) {
    return Status::NotSupported(
        "cluster mode is not available yet; start with --standalone (one node, no replication)");
  }
  std::unique_ptr<Server> server(new Server(config));

  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec) {
    return Status::IOError(
        fmt::format("cannot create data dir {}: {}", config.data_dir, ec.message()));
  }
  storage::RocksOptions rocks;
  rocks.path = config.data_dir + "/kv";
  rocks.block_cache_bytes = config.block_cache_size;
  TKV_ASSIGN_OR_RETURN(server->engine_, storage::OpenRocksEngine(rocks));

  server->storage_ = std::make_unique<storage::StandaloneStorage>(
      *server->engine_,
      storage::StandaloneOptions{.sync_writes = config.sync_write,
                                 .max_pending_bytes = config.max_pending_write_size});
  server->raw_ = std::make_unique<RawKv>(
      *server->storage_, RawKvLimits{.max_key_size = config.max_key_size,
                                     .max_value_size = config.max_value_size,
                                     .max_scan_limit = config.max_scan_limit,
                                     .max_response_bytes = config.max_message_size});
  server->service_ = std::make_unique<KvService>(*server->raw_);

  // Both are process-wide switches read when a server is built.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(config.addr, grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(static_cast<int>(config.max_message_size));
  // gRPC enables SO_REUSEPORT by default, which would let a second server bind
  // the same port and split the traffic: make binding exclusive.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(server->service_.get());
  server->grpc_ = builder.BuildAndStart();
  if (server->grpc_ == nullptr || port == 0) {
    server->grpc_.reset();
    return Status::IOError(
        fmt::format("cannot listen on {} (in use, or not a local address?)", config.addr));
  }
  server->address_ = fmt::format("{}:{}", config.addr.substr(0, config.addr.rfind(':')), port);
  server->grpc_->GetHealthCheckService()->SetServingStatus(true);
  spdlog::info("server started mode=standalone addr={} data_dir={} sync_write={}", server->address_,
               config.data_dir, config.sync_write);
  return server;
}

void Server::Shutdown() {
  if (grpc_ != nullptr) {
    spdlog::info("server stopping addr={} grace_ms={}", address_, config_.shutdown_timeout.count());
    grpc_->GetHealthCheckService()->SetServingStatus(false);
    grpc_->Shutdown(std::chrono::system_clock::now() + config_.shutdown_timeout);
    grpc_->Wait();
    grpc_.reset();
  }
  if (storage_ != nullptr) storage_->Stop();
  service_.reset();
  raw_.reset();
  storage_.reset();
  if (engine_ != nullptr) {
    engine_.reset();
    spdlog::info("server stopped data_dir={}", config_.data_dir);
  }
}

}  // namespace tinykv::server
