#include "storage/record_codec.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>

#include <zstd.h>

#include "storage/keys.hpp"
#include "util/coding.hpp"

namespace kvs::storage {
namespace {

// Record format 2, written by this build. Integers are little-endian; a "varint" is an
// unsigned LEB128 number of at most 5 bytes (7 bits a byte, low groups first, the top bit set
// on every byte but the last) below 2^32; a "string" is a varint byte length followed by that
// many bytes.
//
//   offset  size  field
//   0       1     format version (kRecordFormatV2 = 2)
//   1       1     flags: bit 0 deleted (a tombstone)
//                        bit 1 expires_at_ms present
//                        bit 2 data is one zstd frame (else the document as sent)
//                        bit 3 path left out: it is the key the record is stored under
//                        bit 4 uuid stored as 16 bytes (else as a string)
//                        bit 5 a revision reference follows the fixed fields (`versions` only)
//                        bits 6-7 zero (a decoder refuses a record with any of them set)
//   2       2     u16 permissions
//   4       8     i64 timestamp_ms
//   12      8     i64 origin_joined_ms
//   20      8     i64 expires_at_ms                 only when flags bit 1 is set
//   then          varint64 revision, varint64 head, varint64 since: the RevisionRef, only when
//                 flags bit 5 is set (a "varint64" is the same coding up to 10 bytes, any u64)
//                 string path                       only when flags bit 3 is clear
//                 uuid: with flags bit 4, the 16 bytes that the 32 hex digits of its canonical
//                       text spell (lower case, dashes after digits 8, 12, 16 and 20: how every
//                       uuid kvs makes is written); any other uuid as a string
//                 string origin_node_id
//                 string owner_uuid
//                 string group_uuid
//                 varint document length before compression   only when flags bit 2 is set
//                 string data (the zstd frame, or the document)
//   end           nothing follows: trailing bytes make the record corrupt
//
// Against format 1 it saves the path (which `versions` has as its key already), 24 bytes of
// uuid text and its length, 3 bytes of most lengths and the raw document's second length: 57
// of the 103 bytes that a bench/node_bench record ("users/00000042", ~200-byte document)
// spent around its document. Smaller records mean more of them per page, fewer pages for a
// read to touch, and less to copy out.
//
// Record format 1, still read (every record written before format 2):
//
//   offset  size  field
//   0       1     format version (kRecordFormatV1 = 1)
//   1       1     flags: bits 0-2 as in format 2; bits 3-7 zero
//   2       2     u16 permissions
//   4       8     i64 timestamp_ms
//   12      8     i64 origin_joined_ms
//   20      8     i64 expires_at_ms                 only when flags bit 1 is set
//   then          u32 length + bytes for each of: path, uuid, origin_node_id, owner_uuid,
//                 group_uuid; then a u32 document length before compression (equals the data
//                 length when raw) and a u32 length + bytes of data
//   end           nothing follows
constexpr std::uint8_t kFlagDeleted = 1U << 0;
constexpr std::uint8_t kFlagExpires = 1U << 1;
constexpr std::uint8_t kFlagCompressed = 1U << 2;
constexpr std::uint8_t kFlagPathFromKey = 1U << 3;
constexpr std::uint8_t kFlagBinaryUuid = 1U << 4;
constexpr std::uint8_t kFlagRevisionRef = 1U << 5;
constexpr std::uint8_t kKnownFlagsV1 = kFlagDeleted | kFlagExpires | kFlagCompressed;
constexpr std::uint8_t kKnownFlagsV2 = kKnownFlagsV1 | kFlagPathFromKey | kFlagBinaryUuid | kFlagRevisionRef;

constexpr std::size_t kFixedBytes = 20;  // format, flags, permissions, timestamp, joined
constexpr std::size_t kUuidTextBytes = 36;
constexpr std::size_t kUuidBytes = 16;
constexpr std::size_t kMaxVarintBytes = 5;
constexpr std::size_t kMaxVarint64Bytes = 10;

// Both a varint (values below 2^32) and a varint64.
void put_varint(std::string& out, std::uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

// A varint of at most kMaxVarintBytes below 2^32; anything else fails the reader.
std::uint32_t read_varint(util::ByteReader& reader) {
  std::uint8_t first = reader.u8();  // 0 once the reader has failed
  if ((first & 0x80) == 0) return first;  // every length under 128: most of a record's
  std::uint64_t value = first & 0x7F;
  for (std::size_t i = 1; i < kMaxVarintBytes; ++i) {
    std::uint8_t byte = reader.u8();  // 0 once the reader has failed, which ends the loop
    value |= static_cast<std::uint64_t>(byte & 0x7F) << (7 * i);
    if ((byte & 0x80) == 0) {
      if (value > 0xFFFF'FFFFU) break;
      return static_cast<std::uint32_t>(value);
    }
  }
  reader.bytes(reader.remaining() + 1);  // too long or too large: fail the reader
  return 0;
}

// A varint64 of at most kMaxVarint64Bytes whose value fits a u64; anything else fails the reader.
std::uint64_t read_varint64(util::ByteReader& reader) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < kMaxVarint64Bytes; ++i) {
    std::uint8_t byte = reader.u8();  // 0 once the reader has failed, which ends the loop
    if (i == kMaxVarint64Bytes - 1 && byte > 1) break;  // bits past 64
    value |= static_cast<std::uint64_t>(byte & 0x7F) << (7 * i);
    if ((byte & 0x80) == 0) return value;
  }
  reader.bytes(reader.remaining() + 1);  // too long or too large: fail the reader
  return 0;
}

void put_string(std::string& out, std::string_view text) {
  put_varint(out, static_cast<std::uint32_t>(text.size()));
  out.append(text);
}

std::string_view read_string(util::ByteReader& reader) { return reader.bytes(read_varint(reader)); }
std::string_view read_string_v1(util::ByteReader& reader) { return reader.bytes(reader.u32_le()); }

constexpr bool is_uuid_dash(std::size_t i) { return i == 8 || i == 13 || i == 18 || i == 23; }

int lower_hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// The 16 bytes of a canonical lower-case uuid text, written to `out`; false (nothing written)
// for any other text, which is then stored as it is.
bool put_binary_uuid(std::string& out, std::string_view text) {
  if (text.size() != kUuidTextBytes) return false;
  char bytes[kUuidBytes];
  std::size_t n = 0;
  for (std::size_t i = 0; i < kUuidTextBytes; i += is_uuid_dash(i) ? 1 : 2) {
    if (is_uuid_dash(i)) {
      if (text[i] != '-') return false;
      continue;
    }
    int high = lower_hex_value(text[i]);
    int low = lower_hex_value(text[i + 1]);
    if (high < 0 || low < 0) return false;
    bytes[n++] = static_cast<char>((high << 4) | low);
  }
  out.append(bytes, kUuidBytes);
  return true;
}

// The two hex digits of every byte value: a uuid is spelled out on every get, and a lookup a
// byte cost a third of doing it a digit at a time with the dashes tested for in the loop.
constexpr std::array<std::array<char, 2>, 256> kHexPairs = [] {
  constexpr char kDigits[] = "0123456789abcdef";
  std::array<std::array<char, 2>, 256> pairs{};
  for (std::size_t byte = 0; byte < 256; ++byte) pairs[byte] = {kDigits[byte >> 4], kDigits[byte & 0x0F]};
  return pairs;
}();
// Where the digits of each uuid byte go in its text.
constexpr std::array<std::uint8_t, kUuidBytes> kUuidTextAt = {0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34};

// The canonical text of 16 uuid bytes, into `out` (its buffer reused).
void assign_uuid_text(std::string& out, std::string_view bytes) {
  char text[kUuidTextBytes];
  for (std::size_t i = 0; i < kUuidBytes; ++i) {
    std::memcpy(text + kUuidTextAt[i], kHexPairs[static_cast<unsigned char>(bytes[i])].data(), 2);
  }
  text[8] = text[13] = text[18] = text[23] = '-';
  out.assign(text, kUuidTextBytes);
}

// out = text, without a call into std::string's general replace for the empty fields that
// most records hold (owner and group with auth off).
void assign(std::string& out, std::string_view text) {
  if (text.empty()) {
    out.clear();
  } else {
    out.assign(text);
  }
}

struct CCtxDeleter {
  void operator()(ZSTD_CCtx* context) const noexcept { ZSTD_freeCCtx(context); }
};
struct DCtxDeleter {
  void operator()(ZSTD_DCtx* context) const noexcept { ZSTD_freeDCtx(context); }
};

// One context per thread: contexts are not thread-safe, and reusing one saves its setup.
ZSTD_CCtx* compression_context() {
  thread_local std::unique_ptr<ZSTD_CCtx, CCtxDeleter> context(ZSTD_createCCtx());
  return context.get();
}

ZSTD_DCtx* decompression_context() {
  thread_local std::unique_ptr<ZSTD_DCtx, DCtxDeleter> context(ZSTD_createDCtx());
  return context.get();
}

// The zstd frame of `data` when it saves at least 1/kCompressMinSavingDivisor of `data`;
// nullopt otherwise.
std::optional<std::string> compress(std::string_view data, int level) {
  ZSTD_CCtx* context = compression_context();
  if (context == nullptr) return std::nullopt;  // out of memory: store it raw
  level = std::clamp(level, ZSTD_minCLevel(), ZSTD_maxCLevel());
  std::string frame(ZSTD_compressBound(data.size()), '\0');
  std::size_t size = ZSTD_compressCCtx(context, frame.data(), frame.size(), data.data(), data.size(), level);
  if (ZSTD_isError(size) || size > data.size() - data.size() / kCompressMinSavingDivisor) return std::nullopt;
  frame.resize(size);
  return frame;
}

Status corrupt(std::string_view what) { return Status::corruption("record: " + std::string(what)); }

// What both formats hold up to the uuid, read in one pass: the read path decodes a record per
// get, and a second pass over the fixed fields (or a Result<Header> to move) showed in its
// profile. The uuid is left to the caller: format 2 may hold it as bytes, not text.
struct Header {
  std::uint8_t format = 0;
  std::uint8_t flags = 0;
  std::uint16_t permissions = 0;
  std::int64_t origin_joined_ms = 0;
  std::int64_t timestamp_ms = 0;
  std::optional<std::int64_t> expires_at_ms;
  std::optional<RevisionRef> revision_ref;
  std::string_view path;
  std::string_view uuid;  // the text, or (format 2, flags bit 4) the 16 bytes
};

std::size_t fixed_fields_size(std::uint8_t flags) { return kFixedBytes + ((flags & kFlagExpires) != 0 ? 8 : 0); }

Status read_header(util::ByteReader& reader, std::string_view key, Header& header) {
  // The fixed fields in one read, with one bounds check rather than one a field.
  const std::string_view fixed = reader.bytes(std::min(kFixedBytes, reader.remaining()));
  if (fixed.empty()) return corrupt("empty");
  header.format = static_cast<std::uint8_t>(fixed[0]);
  if (header.format != kRecordFormatV2 && header.format != kRecordFormatV1) {
    return corrupt("unknown format version " + std::to_string(header.format));
  }
  if (fixed.size() < kFixedBytes) return corrupt("truncated header");
  const bool v2 = header.format == kRecordFormatV2;
  header.flags = static_cast<std::uint8_t>(fixed[1]);
  if ((header.flags & ~(v2 ? kKnownFlagsV2 : kKnownFlagsV1)) != 0) {
    return corrupt("unknown flags " + std::to_string(header.flags));
  }
  header.permissions = util::get_u16_le(std::string_view(fixed.data() + 2, 2));
  header.timestamp_ms = util::get_i64_le(std::string_view(fixed.data() + 4, 8));
  header.origin_joined_ms = util::get_i64_le(std::string_view(fixed.data() + 12, 8));
  if ((header.flags & kFlagExpires) != 0) header.expires_at_ms = reader.i64_le();
  if ((header.flags & kFlagRevisionRef) != 0) {
    RevisionRef ref;
    ref.revision = read_varint64(reader);
    ref.head = read_varint64(reader);
    ref.since = read_varint64(reader);
    header.revision_ref = ref;
  }
  if (!v2) {
    header.path = read_string_v1(reader);
    header.uuid = read_string_v1(reader);
  } else {
    if ((header.flags & kFlagPathFromKey) == 0) {
      header.path = read_string(reader);
    } else {
      // Only a short path is its own key; a hashed key is never a path.
      if (key.empty() || key.size() > keys::kMaxInlinePath) return corrupt("path left out and no key to take it from");
      header.path = key;
    }
    header.uuid = (header.flags & kFlagBinaryUuid) != 0 ? reader.bytes(kUuidBytes) : read_string(reader);
  }
  if (reader.failed()) return corrupt("truncated header");
  return Status::ok();
}

void assign_uuid(const Header& header, std::string& out) {
  if ((header.flags & kFlagBinaryUuid) != 0) {
    assign_uuid_text(out, header.uuid);
  } else {
    out.assign(header.uuid);
  }
}

}  // namespace

std::string encode_record(const Version& version, const CodecOptions& options) {
  std::optional<std::string> frame;
  if (options.compression_enabled && version.data.size() >= kCompressMinBytes) {
    frame = compress(version.data, options.compression_level);
  }
  std::string_view data = frame ? std::string_view(*frame) : std::string_view(version.data);

  std::uint8_t flags = 0;
  if (version.deleted) flags |= kFlagDeleted;
  if (version.expires_at_ms) flags |= kFlagExpires;
  if (frame) flags |= kFlagCompressed;

  std::string out;
  out.reserve(kFixedBytes + 8 + 7 * kMaxVarintBytes + version.path.size() + version.uuid.size() +
              version.origin_node_id.size() + version.owner_uuid.size() + version.group_uuid.size() + data.size());
  out.push_back(static_cast<char>(kRecordFormatV2));
  out.push_back(static_cast<char>(flags));
  util::put_u16_le(out, version.permissions);
  util::put_i64_le(out, version.timestamp_ms);
  util::put_i64_le(out, version.origin_joined_ms);
  if (version.expires_at_ms) util::put_i64_le(out, *version.expires_at_ms);
  put_string(out, version.path);
  if (put_binary_uuid(out, version.uuid)) {
    out[1] = static_cast<char>(flags | kFlagBinaryUuid);
  } else {
    put_string(out, version.uuid);
  }
  put_string(out, version.origin_node_id);
  put_string(out, version.owner_uuid);
  put_string(out, version.group_uuid);
  if (frame) put_varint(out, static_cast<std::uint32_t>(version.data.size()));
  put_string(out, data);
  return out;
}

std::string drop_path(std::string_view record) {
  // The path is the first variable field: cut its string out and set the flag. Anything else
  // (never made by encode_record) is kept whole, which is still correct: a record that carries
  // its path decodes with or without its key.
  if (record.size() < kFixedBytes || static_cast<std::uint8_t>(record[0]) != kRecordFormatV2) return std::string(record);
  const auto flags = static_cast<std::uint8_t>(record[1]);
  if ((flags & kFlagPathFromKey) != 0) return std::string(record);
  if ((flags & kFlagRevisionRef) != 0) return std::string(record);
  const std::size_t path_at = fixed_fields_size(flags);
  util::ByteReader reader(record.substr(std::min(path_at, record.size())));
  read_string(reader);  // the path
  if (reader.failed()) return std::string(record);
  const std::size_t rest_at = record.size() - reader.remaining();
  std::string out;
  out.reserve(record.size() - (rest_at - path_at));
  out.append(record.substr(0, path_at));
  out.append(record.substr(rest_at));
  out[1] = static_cast<char>(flags | kFlagPathFromKey);
  return out;
}

std::string with_revision_ref(std::string_view record, const RevisionRef& ref) {
  if (record.size() < kFixedBytes || static_cast<std::uint8_t>(record[0]) != kRecordFormatV2) return std::string(record);
  const auto flags = static_cast<std::uint8_t>(record[1]);
  if ((flags & kFlagRevisionRef) != 0) return std::string(record);
  const std::size_t ref_at = std::min(fixed_fields_size(flags), record.size());
  std::string out;
  out.reserve(record.size() + 3 * kMaxVarint64Bytes);
  out.append(record.substr(0, ref_at));
  put_varint(out, ref.revision);
  put_varint(out, ref.head);
  put_varint(out, ref.since);
  out.append(record.substr(ref_at));
  out[1] = static_cast<char>(flags | kFlagRevisionRef);
  return out;
}

Result<std::optional<RevisionRef>> decode_revision_ref(std::string_view bytes, std::string_view key) {
  util::ByteReader reader(bytes);
  Header header;
  if (Status read = read_header(reader, key, header); !read.is_ok()) return read;
  return header.revision_ref;
}

Result<RecordSummary> decode_summary(std::string_view bytes, std::string_view key) {
  util::ByteReader reader(bytes);
  Header header;
  if (Status read = read_header(reader, key, header); !read.is_ok()) return read;
  RecordSummary summary;
  summary.path = header.path;
  assign_uuid(header, summary.uuid);
  summary.timestamp_ms = header.timestamp_ms;
  summary.expires_at_ms = header.expires_at_ms;
  summary.deleted = (header.flags & kFlagDeleted) != 0;
  summary.compressed = (header.flags & kFlagCompressed) != 0;
  summary.revision_ref = header.revision_ref;
  return summary;
}

Result<Version> decode_record(std::string_view bytes, RecordPart part, std::string_view key) {
  Version version;
  if (Status decoded = decode_record_into(bytes, version, part, key); !decoded.is_ok()) return decoded;
  return version;
}

Status decode_record_into(std::string_view bytes, Version& version, RecordPart part, std::string_view key) {
  util::ByteReader reader(bytes);
  Header header;
  if (Status read = read_header(reader, key, header); !read.is_ok()) return read;
  const bool v2 = header.format == kRecordFormatV2;
  const bool compressed = (header.flags & kFlagCompressed) != 0;

  version.permissions = header.permissions;
  version.origin_joined_ms = header.origin_joined_ms;
  version.path.assign(header.path);
  assign_uuid(header, version.uuid);
  version.timestamp_ms = header.timestamp_ms;
  version.expires_at_ms = header.expires_at_ms;
  version.deleted = (header.flags & kFlagDeleted) != 0;
  std::uint32_t raw_size = 0;
  std::string_view data;
  if (v2) {
    assign(version.origin_node_id, read_string(reader));
    assign(version.owner_uuid, read_string(reader));
    assign(version.group_uuid, read_string(reader));
    if (compressed) raw_size = read_varint(reader);
    data = read_string(reader);
    if (!compressed) raw_size = static_cast<std::uint32_t>(data.size());
  } else {
    version.origin_node_id.assign(read_string_v1(reader));
    version.owner_uuid.assign(read_string_v1(reader));
    version.group_uuid.assign(read_string_v1(reader));
    raw_size = reader.u32_le();
    data = read_string_v1(reader);
  }
  if (reader.failed()) return corrupt("truncated record of " + version.path);
  if (!reader.at_end()) return corrupt("trailing bytes after the record of " + version.path);
  if (part == RecordPart::kMetadata) {
    version.data.clear();
    return Status::ok();
  }

  if (!compressed) {
    if (raw_size != data.size()) return corrupt("document length mismatch in the record of " + version.path);
    version.data.assign(data);
    return Status::ok();
  }
  if (raw_size > kMaxRecordDataBytes) return corrupt("implausible document length in the record of " + version.path);
  ZSTD_DCtx* context = decompression_context();
  if (context == nullptr) return Status::internal("out of memory for a zstd decompression context");
  version.data.resize(raw_size);
  std::size_t size = ZSTD_decompressDCtx(context, version.data.data(), version.data.size(), data.data(), data.size());
  if (ZSTD_isError(size)) {
    return corrupt("zstd frame of " + version.path + ": " + ZSTD_getErrorName(size));
  }
  if (size != raw_size) return corrupt("document of " + version.path + " decompressed to the wrong length");
  return Status::ok();
}

}  // namespace kvs::storage
