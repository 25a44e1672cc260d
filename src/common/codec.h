// The memcomparable byte encoding (TiKV's "EncodeBytes"): a byte string
// becomes groups of 8 bytes, each followed by a marker byte, so that
// encoded strings compare (bytewise) in the same order as the originals and
// no encoded string is a prefix of another:
//
//   each full 8-byte group of the input:   the 8 bytes, then 0xFF
//   the last group (0 to 7 bytes, padded
//   with zeros up to 8):                    the 8 bytes, then 0xFF - pad
//
// An empty string encodes as 8 zeros and 0xF7; an input of 8 bytes as its
// group, 0xFF, then 8 zeros and 0xF7.
//
// Transactions store their keys this way (txn/keys.h), with a timestamp
// appended, so that all versions of a key sort together and region
// boundaries between user keys fall between their versions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/result.h"

namespace tinykv {

std::string EncodeBytes(std::string_view key);
void AppendEncodedBytes(std::string& out, std::string_view key);

struct DecodedBytes {
  std::string key;
  size_t consumed = 0;  // bytes of the input the encoded form took
};
// Decodes the encoded string at the start of `in`. Errors: kCorruption when
// `in` does not start with a well-formed encoding.
Result<DecodedBytes> DecodeBytes(std::string_view in);

// A split point that keeps every version of a transactional key on one side:
// when `key` is an encoded string followed by 1 to 8 more bytes (a
// timestamp), the encoded string alone; otherwise `key` itself.
std::string_view TrimToEncodedPrefix(std::string_view key);

}  // namespace tinykv
