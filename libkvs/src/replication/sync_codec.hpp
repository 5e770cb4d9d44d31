#pragma once

// The bodies of the peer-to-peer /sync/ requests and answers (SPEC section 2, Cluster), JSON
// text, each object opening with its format version "v":1. Every request is a signed POST.
//
//   POST /sync/push              {"v":1,"versions":[V...]}            -> {"applied":N}
//   POST /sync/merkle/branches   {"v":1}                              -> {"v":1,"root":H,"keys":N,"branches":[H x64]}
//   POST /sync/merkle/leaves     {"v":1,"branches":[b...]}            -> {"v":1,"leaves":[[H x64]...]} (request order)
//   POST /sync/bucket            {"v":1,"buckets":[k...],"after":P}   -> {"v":1,"versions":[V...],"next":P}
// H is a 64-char lower-case hex digest (replication/merkle.hpp). A /sync/bucket answer lists
// the versions of the named leaf buckets with path > "after" in key order, tombstones
// included; "next" (absent at the end) is the "after" of the following page.
//
// V, one version, field by field:
//   path, uuid, origin_node_id, owner_uuid, group_uuid   strings; a value that is not clean
//                  UTF-8 text is sent hex-encoded instead as "<name>_hex"
//   timestamp, origin_joined_timestamp                   integers, ms since the epoch
//   expires_at     integer ms, or null
//   permissions    integer 0..4095
//   deleted        boolean
//   data           the stored JSON document as a JSON string (escaped text, so that a
//                  document with numbers beyond 64 bits survives the receiver's parser); ""
//                  for a tombstone
//
// Pure functions, safe from any thread.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kvs/cluster.hpp"
#include "kvs/status.hpp"
#include "kvs/version.hpp"
#include "replication/merkle.hpp"

namespace kvs::replication {

inline constexpr std::int64_t kSyncFormat = 1;

// Appends V for `version` to `out`.
void append_version(std::string& out, const Version& version);

struct VersionPage {
  std::vector<Version> versions;
  std::optional<std::string> next;  // /sync/bucket: more to fetch after this path
};

// {"v":1,"versions":[...]} (and "next" when set).
std::string encode_versions(const std::vector<Version>& versions, const std::optional<std::string>& next = {});
// kInvalidArgument naming the fault for anything but a body encode_versions could write.
Result<VersionPage> decode_versions(std::string_view body);

struct MerkleSummary {
  Digest root{};
  std::uint64_t keys = 0;
  std::vector<Digest> branches;  // kBranchCount
};
std::string encode_summary(const MerkleSummary& summary);
Result<MerkleSummary> decode_summary(std::string_view body);

// A list of small indexes under `name`: {"v":1,"<name>":[...]} plus "after" for buckets.
std::string encode_indexes(std::string_view name, const std::vector<std::size_t>& indexes,
                           const std::string& after = {});
// The indexes (each < `limit`, at most `max_count` of them) and "after" ("" when absent).
Result<std::vector<std::size_t>> decode_indexes(std::string_view body, std::string_view name, std::size_t limit,
                                                std::size_t max_count, std::string* after = nullptr);

// POST /sync/since (bootstrap): the versions of the time index whose (timestamp_ms, path)
// comes after the cursor's, oldest first; the answer is a VersionPage whose "next" is set when
// more follow (the next cursor is then the last version's timestamp and path).
// {"v":1,"since":ms,"after":"path"}; an empty path takes every version of `timestamp_ms`.
inline constexpr std::string_view kSinceTarget = peer_protocol::kSyncSince;
struct SinceCursor {
  std::int64_t timestamp_ms = 0;
  std::string path;
};
std::string encode_since(const SinceCursor& cursor);
Result<SinceCursor> decode_since(std::string_view body);

// {"v":1,"leaves":[[H...]...]}
std::string encode_leaves(const std::vector<std::vector<Digest>>& leaves);
Result<std::vector<std::vector<Digest>>> decode_leaves(std::string_view body);

}  // namespace kvs::replication
