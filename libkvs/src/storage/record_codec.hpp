#pragma once

// The record codec: how one Version is laid out as the value of an LMDB entry (in `versions`
// and `revisions`). Every record begins with a format version byte; the fields follow, each
// explicitly sized (the layout is documented field by field in record_codec.cpp). The document
// is zstd-compressed when compression is on and it pays; a flag says so and decoding
// decompresses transparently, so the compression setting may change between opens.
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

// The record format this build writes and reads. Append-only: a new layout gets a new number
// and the decoder keeps reading the old ones.
inline constexpr std::uint8_t kRecordFormatV1 = 1;

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

// Encodes `version`. Throws only std::bad_alloc.
std::string encode_record(const Version& version, const CodecOptions& options);

// Which part of a record decode_record fills in.
enum class RecordPart : std::uint8_t {
  kAll,       // every field, the document decompressed
  kMetadata,  // every field but the document: `data` stays empty and nothing is decompressed
};

// Decodes a record, decompressing the document (RecordPart::kAll) or leaving it out
// (kMetadata: for a caller that needs the version's identity and stamps, not its value).
// kCorruption for anything malformed: unknown format version, unknown flags, truncation,
// trailing bytes, a bad zstd frame (kAll only: kMetadata never opens the frame).
Result<Version> decode_record(std::string_view bytes, RecordPart part = RecordPart::kAll);
// The same, into `out` (every field is assigned; its strings' buffers are reused), for the read
// path, where each move of a Version copies its short strings again. On failure `out` is left
// partly assigned.
Status decode_record_into(std::string_view bytes, Version& out, RecordPart part = RecordPart::kAll);

// The fields of a record that the store's indexes need, read without touching the document.
// The views point into `bytes`.
struct RecordSummary {
  std::string_view path;
  std::string_view uuid;
  std::int64_t timestamp_ms = 0;
  std::optional<std::int64_t> expires_at_ms;
  bool deleted = false;
  bool compressed = false;
};
Result<RecordSummary> decode_summary(std::string_view bytes);

}  // namespace kvs::storage
