#pragma once

// The record codec: how one Version is laid out as the value of an LMDB entry (in `versions`,
// `revisions` and the change log). Every record begins with a format version byte; the fields
// follow (the layouts are documented field by field in record_codec.cpp). This build writes
// format 2 and reads formats 1 and 2. The document is zstd-compressed when compression is on
// and it pays; a flag says so and decoding decompresses transparently, so the compression
// setting may change between opens.
//
// A `versions` record may also carry a RevisionRef (below), which decoding a Version skips.
//
// A record of format 2 may leave its path out (RecordPath::kFromKey) when it is stored under a
// key that is its path: the `versions` entry of a path of at most keys::kMaxInlinePath bytes.
// Such a record decodes only with that key passed in. Records stored anywhere else (revisions,
// the change log, long paths under hashed keys) carry their path.
//
// Pure functions; safe from any thread (each thread keeps its own zstd contexts).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "kvs/status.hpp"
#include "kvs/version.hpp"

namespace kvs::storage {

// The record formats. Append-only: a new layout gets a new number and the decoder keeps
// reading the old ones. This build writes kRecordFormatV2; builds before it read only
// kRecordFormatV1, which is why the store's format_version went to "2" with it.
inline constexpr std::uint8_t kRecordFormatV1 = 1;
inline constexpr std::uint8_t kRecordFormatV2 = 2;

// When compression pays. Documents shorter than kCompressMinBytes stay raw, and so does any
// document whose zstd frame would not save at least 1/8 of it (LevelDB's rule). Measured with
// bench/storage_bench: decompressing ~200-byte JSON documents (which zstd shrinks by ~16%)
// halved Store::get throughput, from 72% of raw LMDB to 35%; small documents are the common
// case and are read far more often than written, so they stay raw.
inline constexpr std::size_t kCompressMinBytes = 512;
inline constexpr std::size_t kCompressMinSavingDivisor = 8;  // must save >= size / 8

// Documents larger than this are refused by the decoder as corrupt (a guard against a damaged
// length field asking for an absurd allocation).
inline constexpr std::size_t kMaxRecordDataBytes = std::size_t{1} << 30;

struct CodecOptions {
  bool compression_enabled = true;
  int compression_level = 3;  // zstd level; clamped to zstd's range
};

// Whether a record carries its path.
enum class RecordPath : std::uint8_t {
  kStored,   // the path is in the record: it decodes anywhere
  kFromKey,  // left out: the record decodes only with the key it is stored under, which is its
             // path (at most keys::kMaxInlinePath bytes)
};

// Encodes `version` in the current format (kRecordFormatV2), with its path (kStored).
// Throws only std::bad_alloc.
std::string encode_record(const Version& version, const CodecOptions& options);

// The same record without its path (RecordPath::kFromKey): what `versions` stores under a
// short path. Cheaper than encoding again, which would compress the document twice.
// A record already without its path, or not from encode_record, comes back whole.
std::string drop_path(std::string_view record);

// Where the revisions of a path are (storage/revision_log.hpp): what its `versions` record
// carries beside the version, and no other record does. Revisions of one path form a chain in
// the revision log, newest first: `head` is the entry of the current version, revision number
// `revision`; each entry names the one before it. `since` is the entry of revision 1 of this
// chain: an entry of the same path older than it belongs to a chain that was purged.
struct RevisionRef {
  std::uint64_t revision = 0;
  std::uint64_t head = 0;
  std::uint64_t since = 0;
  friend bool operator==(const RevisionRef&, const RevisionRef&) = default;
};

// `record` (from encode_record or drop_path) with `ref` added. A record that has one already,
// or is not of format 2, comes back whole.
std::string with_revision_ref(std::string_view record, const RevisionRef& ref);

// The revision reference of a stored record, nullopt when it has none; errors as for
// decode_record (only the fields up to the uuid are read).
Result<std::optional<RevisionRef>> decode_revision_ref(std::string_view bytes, std::string_view key = {});

// Which part of a record decode_record fills in.
enum class RecordPart : std::uint8_t {
  kAll,       // every field, the document decompressed
  kMetadata,  // every field but the document: `data` stays empty and nothing is decompressed
};

// Decodes a record of any known format, decompressing the document (RecordPart::kAll) or
// leaving it out (kMetadata: for a caller that needs the version's identity and stamps, not
// its value). `key`: the LMDB key the record was read under, the path of a record that leaves
// it out (empty when there is no such key: a record without its path is then corrupt).
// kCorruption for anything malformed: unknown format version, unknown flags, truncation,
// trailing bytes, a path left out with no usable key, a bad zstd frame (kAll only: kMetadata
// never opens the frame).
Result<Version> decode_record(std::string_view bytes, RecordPart part = RecordPart::kAll, std::string_view key = {});
// The same, into `out` (every field is assigned; its strings' buffers are reused), for the read
// path, where each move of a Version copies its short strings again. On failure `out` is left
// partly assigned.
Status decode_record_into(std::string_view bytes, Version& out, RecordPart part = RecordPart::kAll,
                          std::string_view key = {});

// The fields of a record that the store's indexes need, read without touching the document.
// `path` points into `bytes`, or into `key` for a record that leaves its path out; `key` and
// the errors as for decode_record.
struct RecordSummary {
  std::string_view path;
  std::string uuid;  // a copy: a format-2 record may hold it as 16 bytes, not as its text
  std::int64_t timestamp_ms = 0;
  std::optional<std::int64_t> expires_at_ms;
  bool deleted = false;
  bool compressed = false;
  std::optional<RevisionRef> revision_ref;
};
Result<RecordSummary> decode_summary(std::string_view bytes, std::string_view key = {});

}  // namespace kvs::storage
