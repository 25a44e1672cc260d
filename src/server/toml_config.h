// The TOML configuration machinery shared by tinykv-server and
// tinykv-scheduler: a table of "section.key" -> setter, value parsers (sizes
// with units, durations), and a parse loop that refuses unknown keys (a
// typo must not silently fall back to a default).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include <toml++/toml.h>

#include "common/result.h"

namespace tinykv::server {

// "16MiB", "4KiB", "512", "1GB" (units are powers of 1024, as in TiKV).
Result<size_t> ParseByteSize(std::string_view text);
// "500ms", "10s", "2m".
Result<std::chrono::milliseconds> ParseDuration(std::string_view text);

namespace toml_config {

Result<std::string> AsString(const toml::node& n);
Result<bool> AsBool(const toml::node& n);
// A size is an integer number of bytes or a string with a unit.
Result<size_t> AsSize(const toml::node& n);
Result<std::chrono::milliseconds> AsDuration(const toml::node& n);
Result<uint64_t> AsU64(const toml::node& n);
// A duration, as milliseconds.
Result<uint64_t> AsMs(const toml::node& n);
// A number (integer or floating point).
Result<double> AsDouble(const toml::node& n);

// Sets one field of a configuration C from a TOML value.
template <typename C>
using Setter = std::function<Status(const toml::node&, C&)>;
template <typename C>
using Fields = std::map<std::string, Setter<C>>;

// A setter for `c.*member` (or c.*outer.*member) through a parser.
template <typename C, typename T, typename Parse>
Setter<C> Field(Parse parse, T C::*member) {
  return [parse, member](const toml::node& n, C& c) -> Status {
    auto v = parse(n);
    if (!v.ok()) return v.status();
    c.*member = static_cast<T>(*v);
    return Status::OK();
  };
}
template <typename C, typename Inner, typename T, typename Parse>
Setter<C> Nested(Parse parse, Inner C::*outer, T Inner::*member) {
  return [parse, outer, member](const toml::node& n, C& c) -> Status {
    auto v = parse(n);
    if (!v.ok()) return v.status();
    (c.*outer).*member = static_cast<T>(*v);
    return Status::OK();
  };
}

// Applies every key of the TOML text through `fields`, type-erased.
// Errors: kInvalidArgument (syntax, unknown key, bad value), naming the
// origin and line.
Status Apply(std::string_view toml_text, const std::string& origin,
             const std::function<Status(const std::string& name, const toml::node&)>& set);

template <typename C>
Result<C> Parse(std::string_view toml_text, const std::string& origin, C base,
                const Fields<C>& fields) {
  TKV_RETURN_IF_ERROR(Apply(toml_text, origin,
                            [&](const std::string& name, const toml::node& n) -> Status {
                              auto f = fields.find(name);
                              if (f == fields.end()) return Status::NotFound(name);
                              return f->second(n, base);
                            }));
  return base;
}

// Reads a whole file. Errors: kIOError.
Result<std::string> ReadFile(const std::string& path);

}  // namespace toml_config
}  // namespace tinykv::server
