// Process-wide logging set-up. Code logs through spdlog's default logger
// (spdlog::info(...) etc.); this header only configures it.
//
// Line format (one event per line, key=value fields after the message):
//   2026-11-22T02:55:08.123+0000 INFO  [12345] server started addr=127.0.0.1:20160
// Messages follow the convention "<what happened> key=value key=value", so
// lines can be filtered with grep and parsed as logfmt.
#pragma once

#include <string>

#include "common/status.h"

namespace tinykv {

struct LogOptions {
  // trace, debug, info, warn, error, critical or off.
  std::string level = "info";
  // Empty: stderr. Otherwise appended to this file.
  std::string file;
};

// Errors: kInvalidArgument for an unknown level, kIOError if the file cannot
// be opened. Call once at start-up, before other threads log.
Status InitLogging(const LogOptions& options);

// Checks a level name without changing anything.
Status ValidateLogLevel(const std::string& level);

}  // namespace tinykv
