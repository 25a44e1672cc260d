// tinykv-server: a TinyKV store node.
//
//   tinykv-server --scheduler 127.0.0.1:2379 --addr 127.0.0.1:20160 --data-dir ./data
//   tinykv-server --standalone --addr 127.0.0.1:20160 --data-dir ./data [--config FILE]
//
// Exit status: 0 after a clean shutdown (SIGINT or SIGTERM), 1 when the server
// cannot start, 2 for bad flags or configuration.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <optional>

#include "server/config.h"
#include "server/process.h"
#include "server/server.h"

namespace {

using tinykv::Status;
using tinykv::server::Config;

constexpr int kExitStartFailed = 1;
constexpr int kExitUsage = 2;

int Fail(int code, const std::string& message) {
  spdlog::error("{}", message);
  std::fprintf(stderr, "tinykv-server: %s\n", message.c_str());
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tinykv-server: a TinyKV store node", "tinykv-server"};
  std::string config_file, addr_file;
  std::optional<std::string> addr, data_dir, log_level, log_file;
  bool standalone = false;
  app.add_option("--config", config_file, "TOML configuration file (flags override it)");
  app.add_option("--addr", addr, "HOST:PORT to serve on (port 0: any free port)");
  app.add_option("--data-dir", data_dir, "folder for all on-disk state");
  app.add_flag("--standalone", standalone, "single node without replication");
  std::optional<uint64_t> store_id, cluster_id;
  std::optional<std::string> initial_cluster, scheduler, advertise_addr;
  app.add_option("--scheduler", scheduler, "cluster mode: the scheduler's HOST:PORT");
  app.add_option("--advertise-addr", advertise_addr,
                 "cluster mode: HOST:PORT other stores and clients use for this store");
  app.add_option("--store-id", store_id, "fixed-membership cluster mode: this store's id");
  app.add_option("--initial-cluster", initial_cluster,
                 "fixed-membership cluster mode: every store, as ID=HOST:PORT,ID=HOST:PORT,...");
  app.add_option("--cluster-id", cluster_id,
                 "fixed-membership cluster mode: the cluster's id (default 1)");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical or off");
  app.add_option("--log-file", log_file, "append logs to this file instead of stderr");
  app.add_option("--addr-file", addr_file,
                 "once serving, write the address actually listened on to this file");
  app.set_version_flag("--version", "tinykv-server 0.1.0");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);  // prints the help, the version or the error
    return code == 0 ? 0 : kExitUsage;
  }

  Config config;
  if (!config_file.empty()) {
    auto loaded = tinykv::server::LoadConfigFile(config_file);
    if (!loaded.ok()) return Fail(kExitUsage, loaded.status().ToString());
    config = std::move(loaded).value();
  }
  if (addr) config.addr = *addr;
  if (data_dir) config.data_dir = *data_dir;
  if (standalone) config.standalone = true;
  if (store_id) config.store_id = *store_id;
  if (cluster_id) config.cluster_id = *cluster_id;
  if (initial_cluster) config.initial_cluster = *initial_cluster;
  if (scheduler) config.scheduler = *scheduler;
  if (advertise_addr) config.advertise_addr = *advertise_addr;
  if (log_level) config.log_level = *log_level;
  if (log_file) config.log_file = *log_file;
  if (Status s = tinykv::server::ValidateConfig(config); !s.ok())
    return Fail(kExitUsage, s.ToString());
  if (Status s = tinykv::server::SetUpProcess(config.log_level, config.log_file); !s.ok())
    return Fail(kExitUsage, s.ToString());
  auto server = tinykv::server::Server::Start(config);
  if (!server.ok()) return Fail(kExitStartFailed, server.status().ToString());
  return tinykv::server::ServeUntilSignal(**server, addr_file, "tinykv-server");
}
