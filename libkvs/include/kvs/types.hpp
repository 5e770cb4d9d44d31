#pragma once

// The values kvs::Node's data calls take and return (SPEC section 1, "/kv"): documents, range
// pages, revision history and key metadata, and the options structs of every checked call. They
// are plain values the caller owns; a result is a copy taken at the call, never a view into the
// store, so it stays valid after the Node changes or closes. Concurrent const use is safe.
//
// Options structs share one shape: the Caller the call is made for comes first, then the call's
// own knobs, each with an in-class default; the struct is the call's last parameter, defaulted to
// `{}` (the embedding application, Caller::local(), unchecked).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kvs/auth.hpp"
#include "kvs/export.hpp"
#include "kvs/status.hpp"
#include "kvs/version.hpp"

namespace kvs {

// ---- Options -------------------------------------------------------------------------------

// The options of a checked call that has no knob of its own (users, groups, leave, backups,
// verify_audit).
struct CallOptions {
  Caller caller;
};

struct PutOptions {
  Caller caller;
  // Absent: the node's default_ttl. Zero: no expiry.
  std::optional<std::chrono::milliseconds> ttl{};
  // Apply only while the current version has this uuid, or for "*" while the key exists
  // (kPreconditionFailed otherwise).
  std::optional<std::string> if_match{};
  // Apply only when the key does not exist (kPreconditionFailed otherwise).
  bool if_none_match{false};
  // The group of a key this write creates (`X-KVS-Group`); ignored on replace.
  std::string group_uuid{};
};

struct RemoveOptions {
  Caller caller;
  // As PutOptions::if_match ("*": any version).
  std::optional<std::string> if_match{};
};

struct ReadOptions {
  Caller caller;
};

// Node::mint_token.
struct TokenOptions {
  Caller caller;
  // How long the token lives. Absent: the node's token_ttl.
  std::optional<std::chrono::milliseconds> ttl{};
};

// ---- Documents -----------------------------------------------------------------------------

struct WriteResult {
  std::string uuid;
  std::int64_t timestamp_ms = 0;
};

// A live key as a reader sees it.
struct Entry {
  std::string path;
  std::string uuid;
  std::int64_t timestamp_ms = 0;
  std::string data;                           // JSON text
  std::optional<std::int64_t> expires_at_ms;
};

// ---- Ranges --------------------------------------------------------------------------------

inline constexpr std::size_t kMaxRangeLimit = 10000;

struct RangeQuery {
  Caller caller;
  std::string start_key;                      // inclusive; empty: from the first key
  std::string end_key;                        // exclusive; empty: to the last key
  std::string prefix;                         // non-empty: only keys starting with it
  std::size_t limit{100};                     // 1..kMaxRangeLimit
  bool values{false};                         // include each item's data
  std::size_t max_bytes{0};                   // page ends before its JSON passes this; 0: max_range_bytes
  // "/": one-level listing. A key with another '/' after `prefix` is not an item; its prefix up
  // to and including that '/' is listed once in RangeResult::prefixes instead (when the caller
  // may read a key under it), counted against `limit`. Empty: every key. Nothing else is valid.
  std::string delimiter;
};

struct RangeItem {
  std::string path;
  std::string uuid;
  std::int64_t timestamp_ms = 0;
  std::optional<std::string> data;            // set when the query asked for values
};

struct RangeResult {
  std::vector<RangeItem> items;
  std::vector<std::string> prefixes;          // with a delimiter: the rolled-up prefixes, in key order
  std::optional<std::string> next_start_key;  // set when more keys follow
  // The change-feed position the page was read at: watching with since=cursor sees every
  // change made after this page, with no gap.
  std::string cursor;
};

// ---- History -------------------------------------------------------------------------------

// One revision this node applied to a key. Revision numbers start at 1 per key.
struct Revision {
  std::uint64_t revision = 0;
  std::string uuid;
  std::int64_t timestamp_ms = 0;
  std::optional<std::string> data;            // absent for a tombstone
  bool deleted = false;
};

struct History {
  std::string path;
  std::vector<Revision> revisions;            // newest first
};

// ---- Key metadata --------------------------------------------------------------------------

struct KeyMeta {
  std::string owner_uuid;
  std::string group_uuid;
  std::uint16_t permissions = kDefaultPermissions;
};

struct MetaUpdate {
  std::optional<std::string> owner_uuid;
  std::optional<std::string> group_uuid;
  std::optional<std::uint16_t> permissions;
};

// ---- Keys and documents --------------------------------------------------------------------

// Validates and normalises a key: strips leading and trailing '/', then applies SPEC
// section 1. `allow_reserved` admits a first segment starting with '_' (internal keys).
KVS_EXPORT Result<std::string> normalize_key(std::string_view raw, bool allow_reserved = false);

// Checks that `json` is one complete JSON document.
KVS_EXPORT Status validate_json(std::string_view json);

}  // namespace kvs
