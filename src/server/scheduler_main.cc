// tinykv-scheduler: the cluster's placement driver (ids, timestamps, region
// routing, balancing and repair).
//
//   tinykv-scheduler --addr 127.0.0.1:2379 --data-dir ./scheduler-data [--config FILE]
//
// Exit status: 0 after a clean shutdown (SIGINT or SIGTERM), 1 when it
// cannot start, 2 for bad flags or configuration.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <optional>

#include "server/process.h"
#include "server/scheduler_config.h"
#include "server/scheduler_server.h"
#include "server/toml_config.h"

namespace {

using tinykv::Status;

constexpr int kExitStartFailed = 1;
constexpr int kExitUsage = 2;

int Fail(int code, const std::string& message) {
  spdlog::error("{}", message);
  std::fprintf(stderr, "tinykv-scheduler: %s\n", message.c_str());
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tinykv-scheduler: the TinyKV cluster's placement driver", "tinykv-scheduler"};
  std::string config_file, addr_file;
  std::optional<std::string> addr, data_dir, log_level, log_file, max_store_down_time;
  std::optional<uint32_t> max_replicas;
  app.add_option("--config", config_file, "TOML configuration file (flags override it)");
  app.add_option("--addr", addr, "HOST:PORT to serve on (port 0: any free port)");
  app.add_option("--data-dir", data_dir, "folder for the cluster's metadata");
  app.add_option("--max-replicas", max_replicas, "replicas per region (at bootstrap)");
  app.add_option("--max-store-down-time", max_store_down_time,
                 "after this long without a heartbeat a store's replicas are rebuilt elsewhere "
                 "(e.g. 30m, 90s)");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical or off");
  app.add_option("--log-file", log_file, "append logs to this file instead of stderr");
  app.add_option("--addr-file", addr_file,
                 "once serving, write the address actually listened on to this file");
  app.set_version_flag("--version", "tinykv-scheduler 0.1.0");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : kExitUsage;
  }

  tinykv::server::SchedulerServerConfig config;
  if (!config_file.empty()) {
    auto loaded = tinykv::server::LoadSchedulerConfigFile(config_file);
    if (!loaded.ok()) return Fail(kExitUsage, loaded.status().ToString());
    config = std::move(loaded).value();
  }
  if (addr) config.addr = *addr;
  if (data_dir) config.data_dir = *data_dir;
  if (max_replicas) config.schedule.max_replicas = *max_replicas;
  if (max_store_down_time) {
    auto d = tinykv::server::ParseDuration(*max_store_down_time);
    if (!d.ok()) return Fail(kExitUsage, "--max-store-down-time: " + d.status().ToString());
    config.schedule.max_store_down_time_ms = static_cast<uint64_t>(d->count());
  }
  if (log_level) config.log_level = *log_level;
  if (log_file) config.log_file = *log_file;
  if (Status s = tinykv::server::ValidateSchedulerConfig(config); !s.ok())
    return Fail(kExitUsage, s.ToString());
  if (Status s = tinykv::server::SetUpProcess(config.log_level, config.log_file); !s.ok())
    return Fail(kExitUsage, s.ToString());
  auto server = tinykv::server::SchedulerServer::Start(config);
  if (!server.ok()) return Fail(kExitStartFailed, server.status().ToString());
  return tinykv::server::ServeUntilSignal(**server, addr_file, "tinykv-scheduler");
}
