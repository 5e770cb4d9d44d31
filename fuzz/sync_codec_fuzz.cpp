// Fuzzes every /sync/ body codec (libkvs/src/replication/sync_codec.*). The first byte picks
// the decoder: versions (push, bucket and since answers), Merkle summary, bucket or branch
// indexes, since cursor, leaves. Properties, for each:
//   - a decoded body re-encodes to text that decodes to the same value, and encoding that
//     value again gives the same bytes;
//   - decoded indexes are each below the limit and no more than max_count of them.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "replication/sync_codec.hpp"

using namespace kvs::replication;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 6) {
    case 0: {
      auto page = decode_versions(body);
      if (!page.is_ok()) break;
      std::string encoded = encode_versions(page->versions, page->next);
      auto again = decode_versions(encoded);
      KVS_FUZZ_CHECK(again.is_ok());
      KVS_FUZZ_CHECK(again->versions == page->versions && again->next == page->next);
      KVS_FUZZ_CHECK(encode_versions(again->versions, again->next) == encoded);
      break;
    }
    case 1: {
      auto summary = decode_summary(body);
      if (!summary.is_ok()) break;
      std::string encoded = encode_summary(*summary);
      auto again = decode_summary(encoded);
      KVS_FUZZ_CHECK(again.is_ok());
      KVS_FUZZ_CHECK(again->root == summary->root && again->keys == summary->keys && again->branches == summary->branches);
      KVS_FUZZ_CHECK(encode_summary(*again) == encoded);
      break;
    }
    case 2:
    case 3: {
      const std::string_view name = data[0] % 6 == 2 ? "buckets" : "branches";
      std::string after;
      auto indexes = decode_indexes(body, name, 4096, 64, &after);
      if (!indexes.is_ok()) break;
      KVS_FUZZ_CHECK(indexes->size() <= 64);
      for (std::size_t index : *indexes) KVS_FUZZ_CHECK(index < 4096);
      std::string encoded = encode_indexes(name, *indexes, after);
      std::string after_again;
      auto again = decode_indexes(encoded, name, 4096, 64, &after_again);
      KVS_FUZZ_CHECK(again.is_ok() && *again == *indexes && after_again == after);
      KVS_FUZZ_CHECK(encode_indexes(name, *again, after_again) == encoded);
      break;
    }
    case 4: {
      auto cursor = decode_since(body);
      if (!cursor.is_ok()) break;
      std::string encoded = encode_since(*cursor);
      auto again = decode_since(encoded);
      KVS_FUZZ_CHECK(again.is_ok() && again->timestamp_ms == cursor->timestamp_ms && again->path == cursor->path);
      KVS_FUZZ_CHECK(encode_since(*again) == encoded);
      break;
    }
    default: {
      auto leaves = decode_leaves(body);
      if (!leaves.is_ok()) break;
      std::string encoded = encode_leaves(*leaves);
      auto again = decode_leaves(encoded);
      KVS_FUZZ_CHECK(again.is_ok() && *again == *leaves);
      KVS_FUZZ_CHECK(encode_leaves(*again) == encoded);
      break;
    }
  }
  return 0;
}
