#include "txn/records.h"

#include "common/bytes.h"
#include "txn/keys.h"

namespace tinykv::txn {
namespace {

bool ValidKind(uint8_t k) { return k >= 1 && k <= 4; }

}  // namespace

std::string Write::Encode() const {
  std::string out;
  out += static_cast<char>(kind);
  PutU64(out, start_ts);
  return out;
}

Result<Write> Write::Decode(std::string_view bytes) {
  if (bytes.size() != 9) return Status::Corruption("write record is not 9 bytes");
  auto k = static_cast<uint8_t>(bytes[0]);
  if (!ValidKind(k)) return Status::Corruption("write record of an unknown kind");
  return Write{static_cast<WriteKind>(k), GetU64(bytes.substr(1))};
}

std::string Lock::Encode() const {
  std::string out = primary;
  out += static_cast<char>(kind);
  PutU64(out, ts);
  PutU64(out, ttl_ms);
  return out;
}

Result<Lock> Lock::Decode(std::string_view bytes) {
  if (bytes.size() < 17) return Status::Corruption("lock record under 17 bytes");
  size_t p = bytes.size() - 17;
  auto k = static_cast<uint8_t>(bytes[p]);
  if (!ValidKind(k) || k == static_cast<uint8_t>(WriteKind::kRollback))
    return Status::Corruption("lock record of a bad kind");
  return Lock{std::string(bytes.substr(0, p)), static_cast<WriteKind>(k),
              GetU64(bytes.substr(p + 1)), GetU64(bytes.substr(p + 9))};
}

kvrpcpb::LockInfo Lock::Info(std::string_view user_key) const {
  kvrpcpb::LockInfo info;
  info.set_primary_lock(primary);
  info.set_lock_version(ts);
  info.set_key(std::string(user_key));
  info.set_lock_ttl(ttl_ms);
  return info;
}

bool Lock::ExpiredAt(uint64_t current_ts) const {
  // As a difference: ts + ttl could overflow for a huge ttl.
  uint64_t now = PhysicalMs(current_ts), born = PhysicalMs(ts);
  return now >= born && now - born >= ttl_ms;
}

}  // namespace tinykv::txn
