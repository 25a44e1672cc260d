// MetaStore: the scheduler's persistent metadata, in the meta column family
// of an Engine (RocksDB in tinykv-scheduler, MemEngine in tests).
//
// Layout (docs/formats.md; big-endian integers):
//   "c/cluster_id"        u64                  this cluster's id (first start)
//   "c/cluster"           metapb.Cluster       present once bootstrapped
//   "c/alloc"             u64                  ids below this may have been handed out
//   "c/tso"               u64                  timestamps below this (physical ms) may have been
//   "c/gc_safe_point"     u64
//   "s/" <store id u64>   metapb.Store
//   "r/" <region id u64>  metapb.Region
//
// Everything but regions is written with sync: a scheduler crash never
// forgets a store, an id or a timestamp it handed out. Regions are written
// without sync: a machine crash may lose the last changes, which the
// regions' leaders report again in their next heartbeats.
//
// Thread safety: none; the scheduler core is called by one thread at a time.
#pragma once

#include <map>
#include <optional>
#include <vector>

#include "common/result.h"
#include "metapb.pb.h"
#include "storage/engine.h"

namespace tinykv::scheduler {

struct LoadedMeta {
  uint64_t cluster_id = 0;                 // 0: never started
  std::optional<metapb::Cluster> cluster;  // set once bootstrapped
  uint64_t alloc_end = 0;
  uint64_t tso_end = 0;
  uint64_t gc_safe_point = 0;
  std::vector<metapb::Store> stores;
  std::vector<metapb::Region> regions;
};

class MetaStore {
 public:
  // `engine` must outlive the MetaStore.
  explicit MetaStore(storage::Engine& engine) : engine_(engine) {}

  Result<LoadedMeta> Load();

  Status SaveClusterId(uint64_t id);
  // Bootstrap: the cluster, its first store and (if any) its first region,
  // in one atomic write.
  Status SaveBootstrap(const metapb::Cluster& cluster, const metapb::Store& store,
                       const metapb::Region* region);
  Status SaveCluster(const metapb::Cluster& cluster);
  Status SaveAllocEnd(uint64_t end);
  Status SaveTsoEnd(uint64_t end);
  Status SaveGcSafePoint(uint64_t safe_point);
  Status SaveStore(const metapb::Store& store);
  // Puts `put` and deletes the regions in `removed`, atomically, unsynced.
  Status SaveRegions(const std::vector<metapb::Region>& put, const std::vector<uint64_t>& removed);

 private:
  Status WriteU64(const std::string& key, uint64_t v);
  storage::Engine& engine_;
};

}  // namespace tinykv::scheduler
