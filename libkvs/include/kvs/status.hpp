#pragma once

// Status and Result<T>: how every kvs call reports an expected failure. No exception leaves the
// public API; a caller checks `is_ok()` and reads `code()` and `message()`. Both are value types:
// copy them freely, and use a const one from many threads at once.

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "kvs/export.hpp"

namespace kvs {

class [[nodiscard]] KVS_EXPORT Status {
 public:
  // Append-only: the numeric values appear in logs and peer messages.
  enum class Code : std::uint8_t {
    kOk = 0,
    kInvalidArgument,
    kNotFound,
    kPreconditionFailed,
    kUnauthenticated,
    kPermissionDenied,
    kTooLarge,
    kReadOnly,
    kUnavailable,
    kRateLimited,
    kCorruption,
    kIOError,
    kConflict,
    kInternal,
    kInsufficientStorage,  // the LMDB map or the disk is full (REST 507)
  };

  Status() noexcept = default;

  static Status ok() noexcept { return Status(); }
  static Status invalid_argument(std::string message) { return {Code::kInvalidArgument, std::move(message)}; }
  static Status not_found(std::string message) { return {Code::kNotFound, std::move(message)}; }
  static Status precondition_failed(std::string message) { return {Code::kPreconditionFailed, std::move(message)}; }
  static Status unauthenticated(std::string message) { return {Code::kUnauthenticated, std::move(message)}; }
  static Status permission_denied(std::string message) { return {Code::kPermissionDenied, std::move(message)}; }
  static Status too_large(std::string message) { return {Code::kTooLarge, std::move(message)}; }
  static Status read_only(std::string message) { return {Code::kReadOnly, std::move(message)}; }
  static Status unavailable(std::string message) { return {Code::kUnavailable, std::move(message)}; }
  static Status rate_limited(std::string message) { return {Code::kRateLimited, std::move(message)}; }
  static Status corruption(std::string message) { return {Code::kCorruption, std::move(message)}; }
  static Status io_error(std::string message) { return {Code::kIOError, std::move(message)}; }
  static Status conflict(std::string message) { return {Code::kConflict, std::move(message)}; }
  static Status internal(std::string message) { return {Code::kInternal, std::move(message)}; }
  static Status insufficient_storage(std::string message) {
    return {Code::kInsufficientStorage, std::move(message)};
  }

  bool is_ok() const noexcept { return code_ == Code::kOk; }
  explicit operator bool() const noexcept { return is_ok(); }
  Code code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }

  // The snake_case name of the code: "not_found". It is the REST error body's "code" field.
  std::string_view code_name() const noexcept { return code_name(code_); }
  static std::string_view code_name(Code code) noexcept;

  // "not_found: key users/john", or "ok".
  std::string to_string() const;

  // Returns a copy whose message is `context: message`.
  Status with_context(std::string_view context) const;

  friend bool operator==(const Status& a, const Status& b) noexcept { return a.code_ == b.code_; }

 private:
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  Code code_ = Code::kOk;
  std::string message_;
};

// Either a T or a non-ok Status. Reading the value of a failed Result is a bug (it aborts).
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT: implicit by design
    if (status_.is_ok()) status_ = Status::internal("Result built from an ok Status without a value");
  }

  bool is_ok() const noexcept { return value_.has_value(); }
  explicit operator bool() const noexcept { return is_ok(); }
  const Status& status() const noexcept { return status_; }

  T& value() & { check(); return *value_; }
  const T& value() const& { check(); return *value_; }
  T&& value() && { check(); return std::move(*value_); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  void check() const {
    if (!value_) std::abort();
  }

  std::optional<T> value_;
  Status status_;
};

}  // namespace kvs
