#pragma once

// Key rules of SPEC section 1, below kvs::Node: normalising a raw key, and telling reserved
// (system) keys from client keys. kvs::normalize_key (kvs/node.hpp) is this normalize_key.
// Pure functions; safe from any thread.

#include <cstddef>
#include <string>
#include <string_view>

#include "kvs/status.hpp"

namespace kvs::util {

// The longest key, in bytes, after stripping slashes.
inline constexpr std::size_t kMaxKeyBytes = 1024;

// True when `path` is a reserved key: its first segment starts with '_'. Such keys are the
// system's own (users, groups, revocations, ...); clients cannot write them through /kv/.
// Requires: `path` is normalised (no leading '/').
constexpr bool is_reserved_path(std::string_view path) noexcept { return !path.empty() && path.front() == '_'; }

// Validates and normalises a key: strips leading and trailing '/', then applies SPEC section 1.
// The normalised key, or kInvalidArgument naming the rule broken: empty, longer than
// kMaxKeyBytes, a control character, an empty, "." or ".." segment, or a reserved first
// segment when `allow_reserved` is false.
Result<std::string> normalize_key(std::string_view raw, bool allow_reserved);

// True when `key` passes every rule of normalize_key and is already in normal form, so that
// normalize_key would return it unchanged. Allocates nothing: the read and write paths check
// the (usual) normal key in place instead of copying it.
bool is_normal_key(std::string_view key, bool allow_reserved) noexcept;

// normalize_key without its copy for a key that is already normal: a view of `raw` itself
// when is_normal_key(raw), else of `scratch`, which then holds normalize_key's result. The
// same errors as normalize_key. The view lives as long as `raw` and `scratch`.
Result<std::string_view> normalize_key_view(std::string_view raw, bool allow_reserved, std::string& scratch);

}  // namespace kvs::util
