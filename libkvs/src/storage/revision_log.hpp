#pragma once

// The revision log: the value of each entry in the `revision_log` database (key: big-endian
// u64 id, from Counters::revision_id, so every new entry lands at the end of the database).
// One entry per version this node applied while revision history was on: the version's record
// (record_codec.hpp, with its path), its revision number, and the id of the entry of the
// revision before it. The revisions of one path thus form a chain, newest first, whose head
// its `versions` record names (RevisionRef).
//
// Why a log and not a table keyed by path: a write then appends (the pages of one group
// commit are the same few), where a path-keyed table made every write touch a random page of
// a table as large as `versions`. Entries that fall out of a path's newest max_revisions are
// not deleted by the write that pushes them out (that would touch a random page again) but by
// a sweep that walks the log in id order, a few entries per write (Tables::sweep_revisions),
// so its deletes land on neighbouring pages too.
//
// Pure functions; safe from any thread.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "kvs/status.hpp"
#include "kvs/version.hpp"
#include "storage/record_codec.hpp"

namespace kvs::storage {

// The entry format this build writes.
inline constexpr std::uint8_t kRevisionEntryV1 = 1;

//   offset  size  field
//   0       1     format version (kRevisionEntryV1 = 1)
//   1       8     u64 revision number, little-endian
//   9       8     u64 id of the entry of the revision before it (0: none), little-endian
//   17      ...   the version's record, with its path, to the end
inline constexpr std::size_t kRevisionEntryHeaderBytes = 17;  // the fields before the record
std::string encode_revision_entry(std::uint64_t revision, std::uint64_t previous, std::string_view record);

struct RevisionEntry {
  std::uint64_t revision = 0;
  std::uint64_t previous = 0;
  std::string_view record;  // points into the bytes decoded
};
// kCorruption for an entry of another format or too short to hold one.
Result<RevisionEntry> decode_revision_entry(std::string_view bytes);

// Whether the entry `id` of revision `revision` is among the newest `max_revisions` of the
// chain that `ref` (its path's current reference) heads: what history shows and the sweep
// keeps.
constexpr bool revision_is_kept(const RevisionRef& ref, std::uint64_t id, std::uint64_t revision,
                                std::size_t max_revisions) noexcept {
  return id >= ref.since && id <= ref.head && revision >= 1 && revision <= ref.revision &&
         ref.revision - revision < max_revisions;
}

struct StoredRevision {
  std::uint64_t revision = 0;
  Version version;
};

}  // namespace kvs::storage
