#include "common/check.h"

#include <cstdio>
#include <cstdlib>

#include <spdlog/spdlog.h>

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
