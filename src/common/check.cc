#include "common/check.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>

namespace tinykv::internal {

void Panic(const char* file, int line, const std::string& message) {
  // Log through spdlog (so that the line lands in the configured log) and on
  // stderr (in case logging is not set up or is the thing that broke).
  spdlog::critical("panic at {}:{}: {}", file, line, message);
  spdlog::shutdown();
  std::fprintf(stderr, "panic at %s:%d: %s\n", file, line, message.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace tinykv::internal
