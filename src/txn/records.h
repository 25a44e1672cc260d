// The records of the lock and write column families (docs/formats.md):
//
//   Write = kind (1 byte) + start_ts (8 bytes BE)                   9 bytes
//   Lock  = primary key + kind (1 byte) + start_ts (8 BE) + ttl (8 BE)
//
// The lock's primary key takes whatever precedes the last 17 bytes. Kinds:
// 1 Put, 2 Delete, 3 Rollback (write records only), 4 Lock (a key locked
// without a new value: readers look past its write record).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"
#include "kvrpcpb.pb.h"

namespace tinykv::txn {

enum class WriteKind : uint8_t { kPut = 1, kDelete = 2, kRollback = 3, kLock = 4 };

struct Write {
  WriteKind kind = WriteKind::kPut;
  uint64_t start_ts = 0;

  std::string Encode() const;
  // Errors: kCorruption.
  static Result<Write> Decode(std::string_view bytes);
  bool operator==(const Write&) const = default;
};

struct Lock {
  std::string primary;
  WriteKind kind = WriteKind::kPut;  // never kRollback
  uint64_t ts = 0;                   // the transaction's start ts
  uint64_t ttl_ms = 0;

  std::string Encode() const;
  // Errors: kCorruption.
  static Result<Lock> Decode(std::string_view bytes);
  bool operator==(const Lock&) const = default;

  // The lock as a client sees it in a KeyError.
  kvrpcpb::LockInfo Info(std::string_view user_key) const;
  // Whether the lock's time to live has passed at current_ts (both TSO
  // timestamps; the TTL counts physical milliseconds from the lock's ts).
  bool ExpiredAt(uint64_t current_ts) const;
};

}  // namespace tinykv::txn
