// Status: the outcome of an operation that can fail in an expected way.
//
// A Status is OK or carries a Code and a human-readable message. Expected
// failures (bad input, I/O errors, a missing file) are returned as a Status or
// a Result<T> (common/result.h); broken invariants are bugs and go through
// TKV_CHECK (common/check.h) instead.
//
// Status is [[nodiscard]]: ignoring one is a compile error under -Werror. Code
// that really means to drop a Status says so with IgnoreError().
//
// Thread safety: a Status is a value; distinct objects may be used from
// different threads without synchronisation.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

namespace tinykv {

enum class Code : uint8_t {
  kOk = 0,
  kNotFound,          // the thing asked for does not exist
  kInvalidArgument,   // the caller asked for something malformed or over a limit
  kCorruption,        // stored data failed a check
  kIOError,           // the disk or the OS failed
  kNotSupported,      // a valid request this build does not serve
  kBusy,              // overloaded: retry later
  kUnavailable,       // cannot serve now (shutting down, not connected): retry
  kDeadlineExceeded,  // gave up waiting; the outcome of a write is unknown
  kAborted,           // gave up because of a conflict
  kInternal,          // an unexpected failure inside a library or the server
};

// The stable name of a code ("InvalidArgument"), used in messages on the wire.
std::string_view CodeName(Code code);

class [[nodiscard]] Status {
 public:
  // OK.
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status OK() { return Status(); }
  static Status NotFound(std::string msg) { return {Code::kNotFound, std::move(msg)}; }
  static Status InvalidArgument(std::string msg) {
    return {Code::kInvalidArgument, std::move(msg)};
  }
  static Status Corruption(std::string msg) { return {Code::kCorruption, std::move(msg)}; }
  static Status IOError(std::string msg) { return {Code::kIOError, std::move(msg)}; }
  static Status NotSupported(std::string msg) { return {Code::kNotSupported, std::move(msg)}; }
  static Status Busy(std::string msg) { return {Code::kBusy, std::move(msg)}; }
  static Status Unavailable(std::string msg) { return {Code::kUnavailable, std::move(msg)}; }
  static Status DeadlineExceeded(std::string msg) {
    return {Code::kDeadlineExceeded, std::move(msg)};
  }
  static Status Aborted(std::string msg) { return {Code::kAborted, std::move(msg)}; }
  static Status Internal(std::string msg) { return {Code::kInternal, std::move(msg)}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsInvalidArgument() const { return code_ == Code::kInvalidArgument; }

  // "OK", or "<CodeName>: <message>". ParseStatus() reads this form back, which
  // is how a typed error crosses a protocol field that only holds a string.
  std::string ToString() const;

  // Returns this status with `context + ": "` prepended to the message.
  Status WithContext(std::string_view context) const;

  // Explicitly discards the status (documents that the failure does not matter).
  void IgnoreError() const {}

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// Parses the output of Status::ToString(). Text without a known code prefix
// becomes Code::kInternal with the whole text as the message.
Status ParseStatus(std::string_view text);

std::ostream& operator<<(std::ostream& os, const Status& s);

}  // namespace tinykv

// Returns from the current function if `expr` (a Status) is not OK.
#define TKV_RETURN_IF_ERROR(expr)              \
  do {                                         \
    ::tinykv::Status tkv_status_ = (expr);     \
    if (!tkv_status_.ok()) return tkv_status_; \
  } while (0)
