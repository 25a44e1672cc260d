#include "common/codec.h"

namespace tinykv {
namespace {

constexpr size_t kGroup = 8;
constexpr unsigned char kMarker = 0xFF;

}  // namespace

void AppendEncodedBytes(std::string& out, std::string_view key) {
  out.reserve(out.size() + (key.size() / kGroup + 1) * (kGroup + 1));
  for (size_t i = 0;; i += kGroup) {
    size_t n = key.size() - i < kGroup ? key.size() - i : kGroup;
    out.append(key.substr(i, n));
    size_t pad = kGroup - n;
    out.append(pad, '\0');
    out += static_cast<char>(kMarker - pad);
    if (pad > 0) return;
  }
}

std::string EncodeBytes(std::string_view key) {
  std::string out;
  AppendEncodedBytes(out, key);
  return out;
}

Result<DecodedBytes> DecodeBytes(std::string_view in) {
  DecodedBytes d;
  for (size_t i = 0;; i += kGroup + 1) {
    if (in.size() < i + kGroup + 1) return Status::Corruption("truncated memcomparable key");
    auto marker = static_cast<unsigned char>(in[i + kGroup]);
    size_t pad = kMarker - marker;
    if (pad > kGroup) return Status::Corruption("bad memcomparable group marker");
    std::string_view group = in.substr(i, kGroup);
    for (size_t j = kGroup - pad; j < kGroup; ++j) {
      if (group[j] != '\0') return Status::Corruption("non-zero memcomparable padding");
    }
    d.key.append(group.substr(0, kGroup - pad));
    if (pad > 0) {
      d.consumed = i + kGroup + 1;
      return d;
    }
  }
}

std::string_view TrimToEncodedPrefix(std::string_view key) {
  auto d = DecodeBytes(key);
  if (!d.ok()) return key;
  size_t rest = key.size() - d->consumed;
  if (rest == 0 || rest > 8) return key;
  return key.substr(0, d->consumed);
}

}  // namespace tinykv
