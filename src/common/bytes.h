// Text forms of binary keys and values, for command lines and logs.
//
// Escaped form: printable ASCII stands for itself, except the backslash, which
// is written "\\"; other bytes are "\n", "\r", "\t" or "\xNN". A text value thus
// prints unchanged, and any byte string round-trips:
//   UnescapeBytes(EscapeBytes(b)) == b for every b.
// Hex form: two lowercase hex digits per byte ("0aff"); FromHex also accepts
// upper case.
#pragma once

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

}  // namespace tinykv
