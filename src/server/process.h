// What the tinykv-server and tinykv-scheduler processes share around their
// servers: signal handling and the --addr-file.
#pragma once

#include <spdlog/spdlog.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/status.h"

namespace grpc {
class Server;
class ServerBuilder;
class Service;
}  // namespace grpc

namespace tinykv::server {

// Blocks SIGINT and SIGTERM in the calling thread and every thread it
// starts afterwards (call first in main, before any thread exists).
void BlockShutdownSignals();
// Waits for SIGINT or SIGTERM; returns its name. A second signal afterwards
// exits the process at once (exit status 128 + signal).
std::string WaitForShutdownSignal();

// Writes `text` to `path` so that readers never see a partial file.
Status WriteFileAtomically(const std::string& path, const std::string& text);

// Applies the logging options and blocks the shutdown signals (call before
// any thread starts). Errors: bad level or unwritable log file.
Status SetUpProcess(const std::string& log_level, const std::string& log_file);

// The tail of a server's main(): writes the address file (if any), waits
// for SIGINT/SIGTERM, shuts the server down. Returns the exit status: 0, or
// 1 if the address file could not be written.
template <typename ServerT>
int ServeUntilSignal(ServerT& server, const std::string& addr_file, const char* program) {
  if (!addr_file.empty()) {
    if (Status s = WriteFileAtomically(addr_file, server.address()); !s.ok()) {
      server.Shutdown();
      spdlog::error("{}", s.ToString());
      std::fprintf(stderr, "%s: %s\n", program, s.ToString().c_str());
      return 1;
    }
  }
  std::string sig = WaitForShutdownSignal();
  spdlog::info("signal received signal={}", sig);
  server.Shutdown();
  if (!addr_file.empty()) std::remove(addr_file.c_str());
  spdlog::shutdown();
  return 0;
}

struct GrpcServerOptions {
  std::string addr;  // HOST:PORT; port 0 picks a free one
  size_t max_message_size = 16u << 20;
  std::vector<grpc::Service*> services;
  // gRPC's own health service and reflection; without them the caller serves
  // what it needs through `configure` (they run on gRPC's callback and
  // synchronous APIs, whose threads the store's server does without).
  bool default_services = true;
  // Adds services and completion queues to the builder.
  std::function<void(grpc::ServerBuilder&)> configure;
};
// Starts a gRPC server, bound exclusively, with gRPC's health checking
// (SERVING) and reflection when default_services. Returns it and the
// address actually listened on.
// Errors: kIOError when the address cannot be bound.
Result<std::pair<std::unique_ptr<grpc::Server>, std::string>> StartGrpcServer(
    const GrpcServerOptions& options);

}  // namespace tinykv::server
