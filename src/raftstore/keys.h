// Keys of the store's internal state in the meta column family. User data
// lives in the data column families under the user's own keys (no prefix):
// regions on a store never overlap, so a key belongs to at most one of them.
//
// Layout (big-endian integers, so that keys sort by region and index):
//   01 01                          StoreIdent
//   01 02                          the first region, while its bootstrap by
//                                  the scheduler is not confirmed (metapb.Region)
//   02 <region u64> 01 <index u64> Raft log entry (eraftpb.Entry)
//   02 <region u64> 02             RaftLocalState
//   02 <region u64> 03             RaftApplyState
//   03 <region u64> 01             RegionLocalState
// docs/formats.md describes the values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tinykv::raftstore::keys {

std::string StoreIdentKey();
std::string PrepareBootstrapKey();
std::string RaftLogKey(uint64_t region_id, uint64_t index);
// [RaftLogKey(region, 0), RaftLogKey(region, UINT64_MAX)] bounds.
std::string RaftLogPrefix(uint64_t region_id);
std::string RaftLogPrefixEnd(uint64_t region_id);
std::string RaftStateKey(uint64_t region_id);
std::string ApplyStateKey(uint64_t region_id);
std::string RegionStateKey(uint64_t region_id);
// Every region's RegionLocalState lies in [RegionStatePrefix(), RegionStatePrefixEnd()).
std::string RegionStatePrefix();
std::string RegionStatePrefixEnd();

// The index in a RaftLogKey. REQUIRES: key is a raft log key.
uint64_t RaftLogIndex(std::string_view key);
// The region id in a RegionStateKey. REQUIRES: key is a region state key.
uint64_t RegionIdOfStateKey(std::string_view key);

}  // namespace tinykv::raftstore::keys
