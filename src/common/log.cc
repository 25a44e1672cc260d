#include "common/log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>

namespace tinykv {
namespace {

constexpr const char* kPattern = "%Y-%m-%dT%H:%M:%S.%e%z %-5!l [%t] %v";

}  // namespace

Status ValidateLogLevel(const std::string& level) {
  // spdlog maps unknown names to "off"; only accept "off" when asked for.
  if (level != "off" && spdlog::level::from_str(level) == spdlog::level::off) {
    return Status::InvalidArgument("unknown log level '" + level +
                                   "' (trace, debug, info, warn, error, critical, off)");
  }
  return Status::OK();
}

Status InitLogging(const LogOptions& options) {
  TKV_RETURN_IF_ERROR(ValidateLogLevel(options.level));
  std::shared_ptr<spdlog::logger> logger;
  try {
    if (options.file.empty()) {
      logger = std::make_shared<spdlog::logger>("tinykv",
                                                std::make_shared<spdlog::sinks::stderr_sink_mt>());
    } else {
      logger = std::make_shared<spdlog::logger>(
          "tinykv", std::make_shared<spdlog::sinks::basic_file_sink_mt>(options.file));
    }
  } catch (const spdlog::spdlog_ex& e) {
    return Status::IOError(std::string("cannot open log file: ") + e.what());
  }
  logger->set_pattern(kPattern);
  logger->set_level(spdlog::level::from_str(options.level));
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
  // A log file is read while the process runs: flush info lines too.
  spdlog::flush_every(std::chrono::seconds(1));
  return Status::OK();
}

}  // namespace tinykv
