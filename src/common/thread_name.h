// Names threads, so that top -H, perf and gdb tell the store's threads apart
// ("raft-poller", "grpc-kv-0", ...).
#pragma once

#include <string>
#include <string_view>
#include <thread>
#include <utility>

namespace tinykv {

// Names the calling thread. Linux keeps at most 15 characters; longer names
// are cut.
void NameThisThread(std::string_view name);

// A thread named `name` that runs `fn`.
template <typename Fn>
std::thread NamedThread(std::string name, Fn&& fn) {
  return std::thread([name = std::move(name), fn = std::forward<Fn>(fn)]() mutable {
    NameThisThread(name);
    fn();
  });
}

}  // namespace tinykv
