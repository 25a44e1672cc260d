#include "txn/keys.h"

#include "common/bytes.h"
#include "common/codec.h"

namespace tinykv::txn {

std::string EncodeUserKey(std::string_view user_key) { return EncodeBytes(user_key); }

std::string EncodeKey(std::string_view user_key, uint64_t ts) {
  std::string out;
  AppendEncodedBytes(out, user_key);
  PutU64(out, ~ts);
  return out;
}

Result<DecodedKey> DecodeKey(std::string_view key) {
  auto d = DecodeBytes(key);
  if (!d.ok()) return d.status();
  if (key.size() - d->consumed != 8) return Status::Corruption("MVCC key without a timestamp");
  return DecodedKey{std::move(d->key), ~GetU64(key.substr(d->consumed))};
}

Result<std::string> DecodeUserKey(std::string_view key) {
  auto d = DecodeBytes(key);
  if (!d.ok()) return d.status();
  if (d->consumed != key.size()) return Status::Corruption("trailing bytes after a user key");
  return std::move(d->key);
}

}  // namespace tinykv::txn
