// Expected<T, E>: a value or an error of type E (a small std::expected, which
// is C++23). For domains whose errors are a closed enum rather than a Status,
// such as the Raft library's.
//
// Accessing the value of a failed Expected (or the error of a successful one)
// is a bug and aborts.
#pragma once

#include <utility>
#include <variant>

#include "common/check.h"

namespace tinykv {

template <typename E>
struct Unexpected {
  E error;
};
template <typename E>
Unexpected(E) -> Unexpected<E>;

template <typename T, typename E>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : v_(std::in_place_index<0>, std::move(value)) {}            // NOLINT
  Expected(Unexpected<E> e) : v_(std::in_place_index<1>, std::move(e.error)) {}  // NOLINT

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & {
    TKV_CHECK(has_value(), "value() of an Expected holding an error");
    return std::get<0>(v_);
  }
  const T& value() const& {
    TKV_CHECK(has_value(), "value() of an Expected holding an error");
    return std::get<0>(v_);
  }
  T&& value() && {
    TKV_CHECK(has_value(), "value() of an Expected holding an error");
    return std::get<0>(std::move(v_));
  }
  const E& error() const {
    TKV_CHECK(!has_value(), "error() of an Expected holding a value");
    return std::get<1>(v_);
  }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, E> v_;
};

}  // namespace tinykv
