// tinykv-server: a TinyKV store node.
//
//   tinykv-server --standalone --addr 127.0.0.1:20160 --data-dir ./data [--config FILE]
//
// Exit status: 0 after a clean shutdown (SIGINT or SIGTERM), 1 when the server
// cannot start, 2 for bad flags or configuration.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include "common/log.h"
#include "server/config.h"
#include "server/server.h"

namespace {

using tinykv::Status;
using tinykv::server::Config;

constexpr int kExitStartFailed = 1;
constexpr int kExitUsage = 2;

// Writes `text` to `path` so that readers never see a partial file.
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
  std::optional<std::string> initial_cluster;
  app.add_option("--store-id", store_id, "cluster mode: this store's id");
  app.add_option("--initial-cluster", initial_cluster,
                 "cluster mode: every store, as ID=HOST:PORT,ID=HOST:PORT,...");
  app.add_option("--cluster-id", cluster_id, "cluster mode: the cluster's id (default 1)");
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
  if (log_level) config.log_level = *log_level;
  if (log_file) config.log_file = *log_file;
  if (Status s = tinykv::server::ValidateConfig(config); !s.ok())
    return Fail(kExitUsage, s.ToString());
  if (Status s = tinykv::InitLogging({.level = config.log_level, .file = config.log_file});
      !s.ok()) {
    return Fail(kExitUsage, s.ToString());
  }

  // Block the shutdown signals in every thread (the mask is inherited by the
  // threads gRPC and RocksDB start), and take them with sigwait below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = tinykv::server::Server::Start(config);
  if (!server.ok()) return Fail(kExitStartFailed, server.status().ToString());
  if (!addr_file.empty()) {
    if (Status s = WriteFileAtomically(addr_file, (*server)->address()); !s.ok()) {
      (*server)->Shutdown();
      return Fail(kExitStartFailed, s.ToString());
    }
  }

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("signal received signal={}", sig == SIGINT ? "SIGINT" : "SIGTERM");
  // A second signal means "stop now": the write-ahead log keeps acknowledged
  // writes safe even without the clean shutdown.
  std::thread([signals] {
    int again = 0;
    sigwait(&signals, &again);
    spdlog::warn("second signal, exiting without a clean shutdown");
    spdlog::shutdown();
    std::_Exit(128 + again);
  }).detach();

  (*server)->Shutdown();
  if (!addr_file.empty()) std::remove(addr_file.c_str());
  spdlog::shutdown();
  return 0;
}
