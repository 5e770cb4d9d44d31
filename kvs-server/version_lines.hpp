#pragma once

// The export line format: one JSON object per stored version, one per line, as `kvs-server
// export` writes, `kvs-server import` reads and GET /admin/export streams. The one encoder and
// the one parser of it. Pure functions; safe from any thread.
//
// Fields, in this order: path, uuid, timestamp (ms), data (the stored JSON text embedded as
// is; null for a tombstone), origin_node_id, origin_joined_timestamp (ms), expires_at (ms or
// null), owner_uuid, group_uuid, permissions (0..4095), deleted (true for a tombstone).

#include <string>

#include "kvs/status.hpp"
#include "kvs/version.hpp"

namespace kvs::server {

// One export line for `version`, newline included.
std::string version_line(const Version& version);

// Parses one export line back into a Version; kInvalidArgument names the bad field. The
// document is kept as the exact text of the line's "data" member. Requires: no newline.
Result<Version> parse_version_line(const std::string& line);

}  // namespace kvs::server
