#include "server/process.h"

#include <absl/synchronization/mutex.h>

#include <fmt/format.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/impl/server_builder_plugin.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/log.h"

namespace tinykv::server {
namespace {

sigset_t ShutdownSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  return signals;
}

// Drops the builder plugins (reflection) gRPC offers to every server.
class NoPlugins final : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    plugins->clear();
  }
};

}  // namespace

void BlockShutdownSignals() {
  sigset_t signals = ShutdownSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
}

std::string WaitForShutdownSignal() {
  sigset_t signals = ShutdownSignals();
  int sig = 0;
  sigwait(&signals, &sig);
  // A second signal means "stop now": durable state is safe without the
  // clean shutdown.
  std::thread([signals] {
    int again = 0;
    sigwait(&signals, &again);
    spdlog::warn("second signal, exiting without a clean shutdown");
    spdlog::shutdown();
    std::_Exit(128 + again);
  }).detach();
  return sig == SIGINT ? "SIGINT" : "SIGTERM";
}

Status WriteFileAtomically(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text << "\n";
    if (!out) return Status::IOError("cannot write " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Status::IOError("cannot rename " + tmp + ": " + ec.message());
  return Status::OK();
}

Status SetUpProcess(const std::string& log_level, const std::string& log_file) {
  TKV_RETURN_IF_ERROR(InitLogging({.level = log_level, .file = log_file}));
  // Debian's Abseil checks every mutex acquisition of gRPC for lock-order
  // cycles (a debugging aid): measured at a few percent of a store's CPU.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // The shutdown signals are taken only by WaitForShutdownSignal (the mask is
  // inherited by the threads gRPC and RocksDB start).
  BlockShutdownSignals();
  return Status::OK();
}

Result<std::pair<std::unique_ptr<grpc::Server>, std::string>> StartGrpcServer(
    const GrpcServerOptions& options) {
  // Both are process-wide: the health switch is read when a server is built,
  // and reflection, once registered, is offered to every builder (NoPlugins
  // takes it back).
  grpc::EnableDefaultHealthCheckService(options.default_services);
  if (options.default_services) grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  if (!options.default_services) builder.SetOption(std::make_unique<NoPlugins>());
  int port = 0;
  builder.AddListeningPort(options.addr, grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(static_cast<int>(options.max_message_size));
  // gRPC enables SO_REUSEPORT by default, which would let a second server bind
  // the same port and split the traffic: make binding exclusive.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Peers ping every 10 s to find dead connections: allow it (gRPC's
  // default would answer frequent pings by closing the connection).
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  for (grpc::Service* s : options.services) builder.RegisterService(s);
  if (options.configure) options.configure(builder);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return Status::IOError(
        fmt::format("cannot listen on {} (in use, or not a local address?)", options.addr));
  }
  std::string host = options.addr.substr(0, options.addr.rfind(':'));
  if (options.default_services) server->GetHealthCheckService()->SetServingStatus(true);
  return std::make_pair(std::move(server), fmt::format("{}:{}", host, port));
}

}  // namespace tinykv::server
