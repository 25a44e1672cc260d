// How transactional data is laid out in the engine (docs/formats.md,
// "Transactions"). For a user key k:
//
//   lock    CF at Enc(k)               the Lock of the transaction writing k
//   default CF at Enc(k) + ^start_ts   the value a transaction wrote
//   write   CF at Enc(k) + ^commit_ts  the Write record of a commit or rollback
//
// Enc is the memcomparable encoding (common/codec.h) and ^ts the bitwise
// complement of the timestamp, 8 bytes big-endian, so that a key's versions
// sort newest first and all of them sit between Enc(k) and the next key's
// encoding. Region boundaries are engine keys: a region holds user key k
// when Enc(k) is in its range, and then it holds every version of k too.
//
// Timestamps come from the scheduler's TSO: physical milliseconds << 18 |
// a logical counter.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "common/result.h"

namespace tinykv::txn {

inline constexpr uint64_t kTsMax = std::numeric_limits<uint64_t>::max();
inline constexpr int kLogicalBits = 18;

// The physical part of a timestamp, in milliseconds.
inline uint64_t PhysicalMs(uint64_t ts) { return ts >> kLogicalBits; }
inline uint64_t ComposeTs(uint64_t physical_ms, uint64_t logical) {
  return (physical_ms << kLogicalBits) | logical;
}

// Enc(k): the lock CF key of k, and the engine key a region must hold.
std::string EncodeUserKey(std::string_view user_key);
// Enc(k) + ^ts: the default and write CF keys.
std::string EncodeKey(std::string_view user_key, uint64_t ts);

struct DecodedKey {
  std::string user_key;
  uint64_t ts = 0;
};
// The inverse of EncodeKey. Errors: kCorruption.
Result<DecodedKey> DecodeKey(std::string_view key);
// The inverse of EncodeUserKey (a key without a timestamp). Errors: kCorruption.
Result<std::string> DecodeUserKey(std::string_view key);

}  // namespace tinykv::txn
