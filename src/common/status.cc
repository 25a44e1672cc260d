#include "common/status.h"

#include <array>

namespace tinykv {
namespace {

constexpr std::array<std::string_view, 11> kCodeNames = {
    "OK",   "NotFound",    "InvalidArgument",  "Corruption", "IOError",  "NotSupported",
    "Busy", "Unavailable", "DeadlineExceeded", "Aborted",    "Internal",
};

}  // namespace

std::string_view CodeName(Code code) {
  auto i = static_cast<size_t>(code);
  return i < kCodeNames.size() ? kCodeNames[i] : std::string_view("Unknown");
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string out(CodeName(code_));
  out += ": ";
  out += message_;
  return out;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  std::string msg(context);
  msg += ": ";
  msg += message_;
  return Status(code_, std::move(msg));
}

Status ParseStatus(std::string_view text) {
  if (text == "OK") return Status::OK();
  for (size_t i = 1; i < kCodeNames.size(); ++i) {
    std::string_view name = kCodeNames[i];
    if (text.size() >= name.size() + 2 && text.substr(0, name.size()) == name &&
        text.substr(name.size(), 2) == ": ") {
      return Status(static_cast<Code>(i), std::string(text.substr(name.size() + 2)));
    }
  }
  return Status::Internal(std::string(text));
}

std::ostream& operator<<(std::ostream& os, const Status& s) { return os << s.ToString(); }

}  // namespace tinykv
