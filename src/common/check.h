// Invariant checks. A failed check is a bug (or corrupted state that must not
// be served): it logs the location and message and aborts the process. These
// checks stay on in release builds: serving from a broken state is worse than
// stopping (see LogCabin's and etcd raft's use of PANIC).
#pragma once

#include <fmt/format.h>

#include <string>

namespace tinykv::internal {

[[noreturn]] void Panic(const char* file, int line, const std::string& message);

}  // namespace tinykv::internal

// TKV_PANIC("applied {} > committed {}", applied, committed);
#define TKV_PANIC(...) ::tinykv::internal::Panic(__FILE__, __LINE__, ::fmt::format(__VA_ARGS__))

// TKV_CHECK(cond) or TKV_CHECK(cond, "format {}", args...).
#define TKV_CHECK(cond, ...)                                                                   \
  do {                                                                                         \
    if (!(cond)) [[unlikely]] {                                                                \
      ::tinykv::internal::Panic(                                                               \
          __FILE__, __LINE__,                                                                  \
          "check failed: " #cond __VA_OPT__(+std::string(": ") + ::fmt::format(__VA_ARGS__))); \
    }                                                                                          \
  } while (0)
