#include "kvs/status.hpp"

#include <string>

namespace kvs {

std::string_view Status::code_name(Code code) noexcept {
  switch (code) {
    case Code::kOk: return "ok";
    case Code::kInvalidArgument: return "invalid_argument";
    case Code::kNotFound: return "not_found";
    case Code::kPreconditionFailed: return "precondition_failed";
    case Code::kUnauthenticated: return "unauthenticated";
    case Code::kPermissionDenied: return "permission_denied";
    case Code::kTooLarge: return "too_large";
    case Code::kReadOnly: return "read_only";
    case Code::kUnavailable: return "unavailable";
    case Code::kRateLimited: return "rate_limited";
    case Code::kCorruption: return "corruption";
    case Code::kIOError: return "io_error";
    case Code::kConflict: return "conflict";
    case Code::kInternal: return "internal";
    case Code::kInsufficientStorage: return "insufficient_storage";
  }
  return "unknown";
}

std::string Status::to_string() const {
  if (is_ok()) return "ok";
  std::string out(code_name());
  if (!message_.empty()) out.append(": ").append(message_);
  return out;
}

Status Status::with_context(std::string_view context) const {
  if (is_ok()) return *this;
  Status copy = *this;
  copy.message_ = std::string(context) + ": " + message_;
  return copy;
}

}  // namespace kvs
