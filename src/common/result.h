// Result<T>: a value or a non-OK Status (a small std::expected, which is C++23).
//
//   Result<std::string> r = ReadFile(path);
//   if (!r.ok()) return r.status();
//   Use(*r);
//
// Accessing the value of a failed Result is a bug and aborts (TKV_CHECK).
#pragma once

#include <type_traits>
#include <utility>
#include <variant>

#include "common/check.h"
#include "common/status.h"

namespace tinykv {

template <typename T>
class [[nodiscard]] Result {
  static_assert(!std::is_same_v<std::decay_t<T>, Status>, "use Status directly");

 public:
  // Implicit from a value or from a (non-OK) Status, so that functions can
  // `return value;` and `return Status::NotFound(...)`.
  Result(T value) : v_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    TKV_CHECK(!std::get<Status>(v_).ok(), "a Result cannot hold an OK status without a value");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }

  // OK when a value is held.
  Status status() const { return ok() ? Status::OK() : std::get<Status>(v_); }

  T& value() & {
    TKV_CHECK(ok(), "value() of a failed Result: {}", std::get<Status>(v_).ToString());
    return std::get<T>(v_);
  }
  const T& value() const& {
    TKV_CHECK(ok(), "value() of a failed Result: {}", std::get<Status>(v_).ToString());
    return std::get<T>(v_);
  }
  T&& value() && {
    TKV_CHECK(ok(), "value() of a failed Result: {}", std::get<Status>(v_).ToString());
    return std::get<T>(std::move(v_));
  }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace tinykv

// TKV_ASSIGN_OR_RETURN(auto x, MakeX()); returns the Status if MakeX() failed.
#define TKV_CONCAT_INNER_(a, b) a##b
#define TKV_CONCAT_(a, b) TKV_CONCAT_INNER_(a, b)
#define TKV_ASSIGN_OR_RETURN(decl, expr) \
  TKV_ASSIGN_OR_RETURN_IMPL_(TKV_CONCAT_(tkv_result_, __LINE__), decl, expr)
#define TKV_ASSIGN_OR_RETURN_IMPL_(tmp, decl, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  decl = std::move(tmp).value()
