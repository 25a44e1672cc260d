#include "scheduler/meta_store.h"

#include <fmt/format.h>

#include "common/bytes.h"

namespace tinykv::scheduler {
namespace {

using storage::Cf;

const std::string kClusterIdKey = "c/cluster_id";
const std::string kClusterKey = "c/cluster";
const std::string kAllocKey = "c/alloc";
const std::string kTsoKey = "c/tso";
const std::string kGcSafePointKey = "c/gc_safe_point";
const std::string kStorePrefix = "s/";
const std::string kRegionPrefix = "r/";

std::string IdKey(const std::string& prefix, uint64_t id) {
  std::string k = prefix;
  PutU64(k, id);
  return k;
}

std::string EncodeU64(uint64_t v) {
  std::string s;
  PutU64(s, v);
  return s;
}

Result<uint64_t> DecodeU64(const std::string& key, const std::string& value) {
  if (value.size() != 8) return Status::Corruption(fmt::format("scheduler meta {}: bad u64", key));
  return GetU64(value);
}

template <typename Msg>
Status ParseInto(const std::string& key, std::string_view value, Msg& out) {
  if (!out.ParseFromArray(value.data(), static_cast<int>(value.size())))
    return Status::Corruption(fmt::format("scheduler meta {}: cannot parse", key));
  return Status::OK();
}

template <typename Msg>
Status ScanPrefix(storage::Snapshot& snap, const std::string& prefix, std::vector<Msg>& out) {
  storage::IterOptions opts;
  opts.lower_bound = prefix;
  std::string end = prefix;
  end.back() = static_cast<char>(end.back() + 1);
  opts.upper_bound = end;
  auto it = snap.NewIterator(Cf::kMeta, opts);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    Msg m;
    TKV_RETURN_IF_ERROR(ParseInto(std::string(it->key()), it->value(), m));
    out.push_back(std::move(m));
  }
  return it->status();
}

}  // namespace

Result<LoadedMeta> MetaStore::Load() {
  LoadedMeta meta;
  auto snap = engine_.NewSnapshot();
  auto read_u64 = [&](const std::string& key, uint64_t& out) -> Status {
    TKV_ASSIGN_OR_RETURN(auto v, snap->Get(Cf::kMeta, key));
    if (!v) return Status::OK();
    TKV_ASSIGN_OR_RETURN(out, DecodeU64(key, *v));
    return Status::OK();
  };
  TKV_RETURN_IF_ERROR(read_u64(kClusterIdKey, meta.cluster_id));
  TKV_RETURN_IF_ERROR(read_u64(kAllocKey, meta.alloc_end));
  TKV_RETURN_IF_ERROR(read_u64(kTsoKey, meta.tso_end));
  TKV_RETURN_IF_ERROR(read_u64(kGcSafePointKey, meta.gc_safe_point));
  TKV_ASSIGN_OR_RETURN(auto cluster, snap->Get(Cf::kMeta, kClusterKey));
  if (cluster) {
    metapb::Cluster c;
    TKV_RETURN_IF_ERROR(ParseInto(kClusterKey, *cluster, c));
    meta.cluster = std::move(c);
  }
  TKV_RETURN_IF_ERROR(ScanPrefix(*snap, kStorePrefix, meta.stores));
  TKV_RETURN_IF_ERROR(ScanPrefix(*snap, kRegionPrefix, meta.regions));
  return meta;
}

Status MetaStore::WriteU64(const std::string& key, uint64_t v) {
  storage::WriteBatch wb;
  wb.Put(Cf::kMeta, key, EncodeU64(v));
  return engine_.Write(wb, {.sync = true});
}

Status MetaStore::SaveClusterId(uint64_t id) { return WriteU64(kClusterIdKey, id); }
Status MetaStore::SaveAllocEnd(uint64_t end) { return WriteU64(kAllocKey, end); }
Status MetaStore::SaveTsoEnd(uint64_t end) { return WriteU64(kTsoKey, end); }
Status MetaStore::SaveGcSafePoint(uint64_t sp) { return WriteU64(kGcSafePointKey, sp); }

Status MetaStore::SaveBootstrap(const metapb::Cluster& cluster, const metapb::Store& store,
                                const metapb::Region* region) {
  storage::WriteBatch wb;
  wb.Put(Cf::kMeta, kClusterKey, cluster.SerializeAsString());
  wb.Put(Cf::kMeta, IdKey(kStorePrefix, store.id()), store.SerializeAsString());
  if (region != nullptr) {
    wb.Put(Cf::kMeta, IdKey(kRegionPrefix, region->id()), region->SerializeAsString());
  }
  return engine_.Write(wb, {.sync = true});
}

Status MetaStore::SaveCluster(const metapb::Cluster& cluster) {
  storage::WriteBatch wb;
  wb.Put(Cf::kMeta, kClusterKey, cluster.SerializeAsString());
  return engine_.Write(wb, {.sync = true});
}

Status MetaStore::SaveStore(const metapb::Store& store) {
  storage::WriteBatch wb;
  wb.Put(Cf::kMeta, IdKey(kStorePrefix, store.id()), store.SerializeAsString());
  return engine_.Write(wb, {.sync = true});
}

Status MetaStore::SaveRegions(const std::vector<metapb::Region>& put,
                              const std::vector<uint64_t>& removed) {
  storage::WriteBatch wb;
  for (uint64_t id : removed) wb.Delete(Cf::kMeta, IdKey(kRegionPrefix, id));
  for (const auto& r : put) {
    wb.Put(Cf::kMeta, IdKey(kRegionPrefix, r.id()), r.SerializeAsString());
  }
  if (wb.empty()) return Status::OK();
  return engine_.Write(wb, {.sync = false});
}

}  // namespace tinykv::scheduler
