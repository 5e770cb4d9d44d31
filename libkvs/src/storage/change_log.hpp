#pragma once

// The change log's entries: the value of each entry in the `changes` database (key: big-endian
// u64 sequence number). One entry per change this node applied, written in the same
// transaction as the change itself (storage/tables.cpp), so the log holds exactly the
// committed changes, in commit order, and the change feed (feed/) can serve them again after a
// restart. An entry holds all an event needs, so that serving it reads nothing else: the kind
// of change, when this node applied it (for retention by age), and the event's version as a
// record (storage/record_codec.hpp) whose owner, group and permission bits say who may see the
// change and which, for a put, carries the document (compressed as in `versions`), so a
// replayed put has its document even once max_revisions has dropped that revision.
//
// Pure functions; safe from any thread.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "kvs/status.hpp"
#include "kvs/version.hpp"
#include "storage/record_codec.hpp"

namespace kvs::storage {

// The entry format this build writes. Entries written before the log held events are a bare
// path (never starting with a control byte); decode_change refuses them, and the feed treats
// them as changes it no longer keeps.
inline constexpr std::uint8_t kChangeFormatV1 = 1;

struct ChangeEntry {
  // Disk values: append-only.
  enum class Type : std::uint8_t { kPut = 0, kDelete = 1 };
  std::uint64_t sequence = 0;
  Type type = Type::kPut;
  std::int64_t applied_ms = 0;  // wall-clock ms when this node applied the change
  // The event's version: path, uuid and timestamp_ms are the event's own (for an expiry: the
  // expired version's uuid and its expires_at_ms). owner_uuid, group_uuid and permissions are
  // who may see it: the version's own for a put; for a delete, the version it replaced (the
  // tombstone's own when it replaced nothing). `data`: a put's document (RecordPart::kAll).
  Version version;
};

// The entry of a change whose event version is already encoded as `record`.
//   offset  size  field
//   0       1     format version (kChangeFormatV1 = 1)
//   1       1     type (ChangeEntry::Type)
//   2       8     i64 applied_ms, little-endian
//   10      ...   the event version's record, to the end (record_codec.cpp)
std::string encode_change(ChangeEntry::Type type, std::int64_t applied_ms, std::string_view record);

// What trimming the log removes, oldest first: entries applied before cutoff_ms, then more
// while the log holds over max_bytes (keys and values); at most `limit` entries in all.
struct ChangeTrim {
  std::int64_t cutoff_ms = 0;
  std::uint64_t max_bytes = 0;
  std::size_t limit = 0;
};

// Decodes an entry stored under `sequence`. `part` as for decode_record: kMetadata leaves the
// document out and does not decompress it. kCorruption for a malformed entry or one of an
// unknown (or the old, path-only) format.
Result<ChangeEntry> decode_change(std::uint64_t sequence, std::string_view bytes, RecordPart part = RecordPart::kAll);

// The applied_ms of an entry without decoding its record; nullopt when the entry is not of a
// known format (an old path-only entry).
std::optional<std::int64_t> change_applied_ms(std::string_view bytes) noexcept;

}  // namespace kvs::storage
