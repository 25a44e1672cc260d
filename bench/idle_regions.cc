// idle_regions: the memory cost of many idle regions on one store.
//
//   idle_regions [--regions N] [--idle-seconds S] [--dir DIR]
//
// Builds a store on RocksDB (the production engine and configuration
// defaults) hosting N regions of one replica each, runs it with the
// production StoreRunner until every region has elected its leader and
// written a few keys, lets it idle, and prints the resident set size
// (VmRSS) before the store is created, once it holds the regions, and after
// idling. The data directory is removed afterwards.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "common/clock.h"
#include "raftstore/peer_storage.h"
#include "raftstore/runner.h"
#include "raftstore/store.h"
#include "storage/rocks/rocks_engine.h"

namespace {

using namespace tinykv;

// Single-replica regions send no messages.
class NoTransport final : public raftstore::Transport {
 public:
  void Send(raft_serverpb::RaftMessage) override {}
  void Flush() override {}
};

uint64_t RssKiB() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

std::string Key(uint64_t i) { return fmt::format("r{:08}", i); }

int Fail(const std::string& what) {
  std::fprintf(stderr, "idle_regions: %s\n", what.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t regions = 1000, idle_seconds = 10;
  std::string dir = fmt::format("/tmp/tinykv-idle-regions-{}", getpid());
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--regions") {
      regions = std::strtoull(argv[i + 1], nullptr, 10);
    } else if (flag == "--idle-seconds") {
      idle_seconds = std::strtoull(argv[i + 1], nullptr, 10);
    } else if (flag == "--dir") {
      dir = argv[i + 1];
    } else {
      return Fail("unknown flag " + flag);
    }
  }
  spdlog::set_level(spdlog::level::warn);  // a thousand elections are not news
  std::filesystem::remove_all(dir);
  uint64_t rss_start = RssKiB();
  {
    storage::RocksOptions ro;
    ro.path = dir;
    auto engine = storage::OpenRocksEngine(ro);
    if (!engine.ok()) return Fail(engine.status().ToString());

    // Bootstrap: the store's identity, then N adjacent regions covering all keys.
    if (Status s = raftstore::Store::Bootstrap(**engine, 1, 1, std::nullopt); !s.ok())
      return Fail(s.ToString());
    storage::WriteBatch wb;
    for (uint64_t i = 0; i < regions; ++i) {
      metapb::Region r;
      r.set_id(i + 1);
      r.set_start_key(i == 0 ? "" : Key(i));
      r.set_end_key(i + 1 == regions ? "" : Key(i + 1));
      r.mutable_region_epoch()->set_conf_ver(1);
      r.mutable_region_epoch()->set_version(1);
      auto* p = r.add_peers();
      p->set_id(i + 1);
      p->set_store_id(1);
      raftstore::PeerStorage::WriteInitialState(r, wb);
    }
    if (Status s = (*engine)->Write(wb, storage::WriteOptions{.sync = true}); !s.ok())
      return Fail(s.ToString());

    SystemClock clock;
    NoTransport transport;
    raftstore::StoreDeps deps;
    deps.store_id = 1;
    deps.engine = engine->get();
    deps.transport = &transport;
    deps.clock = &clock;
    raftstore::Store store(deps);
    if (Status s = store.Start(); !s.ok()) return Fail(s.ToString());
    raftstore::StoreRunner runner(store, clock);
    runner.Start();

    // Every region elects itself; then one write to each.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    auto leaders = [&] {
      uint64_t n = 0;
      for (const auto& r : store.Regions()) n += r.leader;
      return n;
    };
    while (leaders() < regions && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (leaders() < regions)
      return Fail(fmt::format("only {} of {} regions elected a leader", leaders(), regions));
    std::atomic<uint64_t> acked{0}, failed{0};
    for (const auto& r : store.Regions()) {
      raft_cmdpb::RaftCmdRequest req;
      req.mutable_header()->set_region_id(r.region.id());
      *req.mutable_header()->mutable_peer() = r.region.peers(0);
      *req.mutable_header()->mutable_region_epoch() = r.region.region_epoch();
      auto* put = req.add_requests();
      put->set_cmd_type(raft_cmdpb::Put);
      put->mutable_put()->set_key(r.region.start_key() + "k");
      put->mutable_put()->set_value(std::string(100, 'v'));
      store.Propose(std::move(req), [&](raftstore::WriteResponse resp) {
        (resp.region_error || !resp.status.ok() ? failed : acked)++;
      });
    }
    while (acked + failed < regions && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (acked < regions)
      return Fail(fmt::format("{} of {} writes failed", regions - acked, regions));
    uint64_t rss_loaded = RssKiB();
    std::this_thread::sleep_for(std::chrono::seconds(idle_seconds));
    uint64_t rss_idle = RssKiB();
    runner.Stop();
    store.Stop();
    std::printf("regions: %lu (one replica each, RocksDB engine, default raftstore config)\n",
                static_cast<unsigned long>(regions));
    std::printf("RSS before the store: %.1f MiB\n", rss_start / 1024.0);
    std::printf("RSS with the regions loaded and written: %.1f MiB\n", rss_loaded / 1024.0);
    std::printf("RSS after %lu s idle: %.1f MiB (%.1f KiB per region above the start)\n",
                static_cast<unsigned long>(idle_seconds), rss_idle / 1024.0,
                (static_cast<double>(rss_idle) - static_cast<double>(rss_start)) / regions);
  }
  std::filesystem::remove_all(dir);
  return 0;
}
