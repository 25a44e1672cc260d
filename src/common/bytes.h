// Text forms of binary keys and values, for command lines and logs, and the
// big-endian integer coding of keys (so that keys sort by number).
//
// Escaped form: printable ASCII stands for itself, except the backslash, which
// is written "\\"; other bytes are "\n", "\r", "\t" or "\xNN". A text value thus
// prints unchanged, and any byte string round-trips:
//   UnescapeBytes(EscapeBytes(b)) == b for every b.
// Hex form: two lowercase hex digits per byte ("0aff"); FromHex also accepts
// upper case.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace tinykv {

std::string EscapeBytes(std::string_view bytes);
// Errors: kInvalidArgument for a dangling or unknown escape.
Result<std::string> UnescapeBytes(std::string_view text);

std::string ToHex(std::string_view bytes);
// Errors: kInvalidArgument for an odd length or a non-hex digit.
Result<std::string> FromHex(std::string_view text);

// Appends v as 8 big-endian bytes.
void PutU64(std::string& out, uint64_t v);
// The first 8 bytes of `in`, big-endian. REQUIRES: in.size() >= 8.
uint64_t GetU64(std::string_view in);

}  // namespace tinykv
