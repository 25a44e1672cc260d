#include "storage/engine.h"

#include "common/check.h"

namespace tinykv::storage {

std::string_view CfName(Cf cf) {
  switch (cf) {
    case Cf::kDefault:
      return "default";
    case Cf::kLock:
      return "lock";
    case Cf::kWrite:
      return "write";
    case Cf::kMeta:
      return "meta";
  }
  TKV_PANIC("invalid column family {}", static_cast<int>(cf));
}

std::optional<Cf> CfFromName(std::string_view name) {
  for (Cf cf : kAllCfs) {
    if (CfName(cf) == name) return cf;
  }
  return std::nullopt;
}

void WriteBatch::Put(Cf cf, std::string_view key, std::string_view value) {
  ops_.push_back(Op{OpType::kPut, cf, std::string(key), std::string(value)});
  byte_size_ += key.size() + value.size();
}

void WriteBatch::Delete(Cf cf, std::string_view key) {
  ops_.push_back(Op{OpType::kDelete, cf, std::string(key), {}});
  byte_size_ += key.size();
}

void WriteBatch::DeleteRange(Cf cf, std::string_view begin, std::string_view end) {
  TKV_CHECK(begin <= end, "DeleteRange with begin > end");
  ops_.push_back(Op{OpType::kDeleteRange, cf, std::string(begin), std::string(end)});
  byte_size_ += begin.size() + end.size();
}

void WriteBatch::DeleteFrom(Cf cf, std::string_view begin) {
  ops_.push_back(Op{OpType::kDeleteFrom, cf, std::string(begin), {}});
  byte_size_ += begin.size();
}

void WriteBatch::Append(WriteBatch&& other) {
  if (ops_.empty()) {
    ops_ = std::move(other.ops_);
  } else {
    ops_.reserve(ops_.size() + other.ops_.size());
    for (Op& op : other.ops_) ops_.push_back(std::move(op));
  }
  byte_size_ += other.byte_size_;
  other.Clear();
}

void WriteBatch::Clear() {
  ops_.clear();
  byte_size_ = 0;
}

}  // namespace tinykv::storage
