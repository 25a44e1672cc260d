// tinykv-scheduler configuration: defaults, then a TOML file, then
// command-line flags (flags win). docs/operations.md lists every key;
// config/scheduler.toml is a commented example.
#pragma once

#include <cstddef>
#include <string>

#include "common/result.h"
#include "scheduler/config.h"

namespace tinykv::server {

struct SchedulerServerConfig {
  // [server]
  std::string addr = "127.0.0.1:2379";  // host:port to serve gRPC on; port 0 picks a free one
  std::string data_dir = "./scheduler-data";
  size_t max_message_size = 16u << 20;
  // [schedule], [tso] (see scheduler/config.h for each value's meaning)
  scheduler::SchedulerConfig schedule;
  // [log]
  std::string log_level = "info";
  std::string log_file;
};

// Errors: kIOError (cannot read), kInvalidArgument (syntax, unknown key, bad value).
Result<SchedulerServerConfig> LoadSchedulerConfigFile(const std::string& path,
                                                      SchedulerServerConfig base = {});
Result<SchedulerServerConfig> ParseSchedulerConfig(std::string_view toml_text,
                                                   const std::string& origin,
                                                   SchedulerServerConfig base = {});
Status ValidateSchedulerConfig(const SchedulerServerConfig& config);

}  // namespace tinykv::server
