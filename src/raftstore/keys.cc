#include "raftstore/keys.h"

#include "common/bytes.h"
#include "common/check.h"

namespace tinykv::raftstore::keys {
namespace {

constexpr char kStorePrefix = 0x01;
constexpr char kRaftPrefix = 0x02;
constexpr char kRegionPrefix = 0x03;
constexpr char kStoreIdentSuffix = 0x01;
constexpr char kPrepareBootstrapSuffix = 0x02;
constexpr char kRaftLogSuffix = 0x01;
constexpr char kRaftStateSuffix = 0x02;
constexpr char kApplyStateSuffix = 0x03;
constexpr char kRegionStateSuffix = 0x01;

std::string RegionKey(char prefix, uint64_t region_id, char suffix) {
  std::string k;
  k.reserve(10);
  k += prefix;
  PutU64(k, region_id);
  k += suffix;
  return k;
}

}  // namespace

std::string StoreIdentKey() { return std::string{kStorePrefix, kStoreIdentSuffix}; }
std::string PrepareBootstrapKey() { return std::string{kStorePrefix, kPrepareBootstrapSuffix}; }

std::string RaftLogKey(uint64_t region_id, uint64_t index) {
  std::string k = RegionKey(kRaftPrefix, region_id, kRaftLogSuffix);
  PutU64(k, index);
  return k;
}

std::string RaftLogPrefix(uint64_t region_id) {
  return RegionKey(kRaftPrefix, region_id, kRaftLogSuffix);
}

std::string RaftLogPrefixEnd(uint64_t region_id) {
  return RegionKey(kRaftPrefix, region_id, kRaftLogSuffix + 1);
}

std::string RaftStateKey(uint64_t region_id) {
  return RegionKey(kRaftPrefix, region_id, kRaftStateSuffix);
}

std::string ApplyStateKey(uint64_t region_id) {
  return RegionKey(kRaftPrefix, region_id, kApplyStateSuffix);
}

std::string RegionStateKey(uint64_t region_id) {
  return RegionKey(kRegionPrefix, region_id, kRegionStateSuffix);
}

std::string RegionStatePrefix() { return std::string{kRegionPrefix}; }

std::string RegionStatePrefixEnd() { return std::string{kRegionPrefix + 1}; }

uint64_t RaftLogIndex(std::string_view key) {
  TKV_CHECK(key.size() == 18 && key[0] == kRaftPrefix && key[9] == kRaftLogSuffix,
            "not a raft log key");
  return GetU64(key.substr(10));
}

uint64_t RegionIdOfStateKey(std::string_view key) {
  TKV_CHECK(key.size() == 10 && key[0] == kRegionPrefix && key[9] == kRegionStateSuffix,
            "not a region state key");
  return GetU64(key.substr(1));
}

}  // namespace tinykv::raftstore::keys
