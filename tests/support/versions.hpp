#pragma once

// Versions built by hand, for tests that write or apply them without a node making them.

#include <cstdint>
#include <string>
#include <utility>

#include "kvs/version.hpp"

namespace kvs::test {

// A live version of `path` with `data` as its document, made by `origin_node_id` (which joined
// the cluster at `origin_joined_ms`), with no expiry, owner or group and the default bits.
inline Version make_version(std::string path, std::string uuid, std::int64_t timestamp_ms, std::string data,
                            std::string origin_node_id = "node-a",
                            std::int64_t origin_joined_ms = 1'600'000'000'000) {
  Version version;
  version.path = std::move(path);
  version.uuid = std::move(uuid);
  version.timestamp_ms = timestamp_ms;
  version.data = std::move(data);
  version.origin_node_id = std::move(origin_node_id);
  version.origin_joined_ms = origin_joined_ms;
  return version;
}

}  // namespace kvs::test
