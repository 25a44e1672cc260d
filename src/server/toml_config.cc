#include "server/toml_config.h"

#include <fmt/format.h>

#include <charconv>
#include <cstdio>

namespace tinykv::server {

Result<size_t> ParseByteSize(std::string_view text) {
  size_t number = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc() || end == text.data()) {
    return Status::InvalidArgument(fmt::format("'{}' is not a size", text));
  }
  std::string_view unit(end, text.data() + text.size() - end);
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  static const std::map<std::string_view, size_t> kUnits = {
      {"", 1},
      {"B", 1},
      {"KB", 1ull << 10},
      {"KiB", 1ull << 10},
      {"MB", 1ull << 20},
      {"MiB", 1ull << 20},
      {"GB", 1ull << 30},
      {"GiB", 1ull << 30},
  };
  auto it = kUnits.find(unit);
  if (it == kUnits.end()) {
    return Status::InvalidArgument(
        fmt::format("unknown size unit '{}' in '{}' (B, KiB, MiB, GiB)", unit, text));
  }
  if (number > SIZE_MAX / it->second)
    return Status::InvalidArgument(fmt::format("size '{}' is too large", text));
  return number * it->second;
}

Result<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  int64_t number = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc() || end == text.data() || number < 0) {
    return Status::InvalidArgument(fmt::format("'{}' is not a duration", text));
  }
  std::string_view unit(end, text.data() + text.size() - end);
  if (unit == "ms") return std::chrono::milliseconds(number);
  if (unit == "s") return std::chrono::milliseconds(number * 1000);
  if (unit == "m") return std::chrono::milliseconds(number * 60'000);
  if (unit == "h") return std::chrono::milliseconds(number * 3'600'000);
  return Status::InvalidArgument(fmt::format("unknown duration unit in '{}' (ms, s, m, h)", text));
}

namespace toml_config {

Result<std::string> AsString(const toml::node& n) {
  if (auto v = n.value<std::string>()) return *v;
  return Status::InvalidArgument("expected a string");
}

Result<bool> AsBool(const toml::node& n) {
  if (auto v = n.value_exact<bool>()) return *v;
  return Status::InvalidArgument("expected true or false");
}

Result<size_t> AsSize(const toml::node& n) {
  if (auto v = n.value_exact<int64_t>()) {
    if (*v < 0) return Status::InvalidArgument("must not be negative");
    return static_cast<size_t>(*v);
  }
  if (auto s = n.value_exact<std::string>()) return ParseByteSize(*s);
  return Status::InvalidArgument("expected a size such as 4096 or \"8MiB\"");
}

Result<std::chrono::milliseconds> AsDuration(const toml::node& n) {
  if (auto s = n.value_exact<std::string>()) return ParseDuration(*s);
  return Status::InvalidArgument("expected a duration such as \"10s\" or \"500ms\"");
}

Result<uint64_t> AsU64(const toml::node& n) {
  if (auto v = n.value_exact<int64_t>(); v && *v >= 0) return static_cast<uint64_t>(*v);
  return Status::InvalidArgument("expected a non-negative integer");
}

Result<uint64_t> AsMs(const toml::node& n) {
  auto d = AsDuration(n);
  if (!d.ok()) return d.status();
  return static_cast<uint64_t>(d->count());
}

Result<double> AsDouble(const toml::node& n) {
  if (auto v = n.value<double>()) return *v;
  return Status::InvalidArgument("expected a number");
}

Status Apply(std::string_view toml_text, const std::string& origin,
             const std::function<Status(const std::string& name, const toml::node&)>& set) {
  toml::table root;
  try {
    root = toml::parse(toml_text, origin);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return Status::InvalidArgument(
        fmt::format("{}:{}:{}: {}", origin, where.line, where.column, e.description()));
  }
  for (const auto& [section, node] : root) {
    const toml::table* table = node.as_table();
    if (table == nullptr) {
      return Status::InvalidArgument(
          fmt::format("{}: '{}' must be a section ([{}])", origin, section.str(), section.str()));
    }
    for (const auto& [key, value] : *table) {
      std::string name = fmt::format("{}.{}", section.str(), key.str());
      Status s = set(name, value);
      if (s.IsNotFound()) {
        return Status::InvalidArgument(fmt::format("{}: unknown key '{}'", origin, name));
      }
      if (!s.ok()) {
        return Status::InvalidArgument(
            fmt::format("{}:{}: {}: {}", origin, value.source().begin.line, name, s.message()));
      }
    }
  }
  return Status::OK();
}

Result<std::string> ReadFile(const std::string& path) {
  std::string text;
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return Status::IOError(fmt::format("cannot read config file {}", path));
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  bool failed = std::ferror(f);
  std::fclose(f);
  if (failed) return Status::IOError(fmt::format("error reading config file {}", path));
  return text;
}

}  // namespace toml_config
}  // namespace tinykv::server
