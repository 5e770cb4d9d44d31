#include "storage/record_codec.hpp"

#include <algorithm>
#include <memory>

#include <zstd.h>

#include "util/coding.hpp"

namespace kvs::storage {
namespace {

// Record format 1. Integers are little-endian; a "string" is a u32 byte length followed by
// that many bytes.
//
//   offset  size  field
//   0       1     format version (kRecordFormatV1 = 1)
//   1       1     flags: bit 0 deleted (a tombstone)
//                        bit 1 expires_at_ms present
//                        bit 2 data is one zstd frame (else the document as sent)
//                        bits 3-7 zero (a decoder refuses a record with any of them set)
//   2       2     u16 permissions
//   4       8     i64 timestamp_ms
//   12      8     i64 origin_joined_ms
//   20      8     i64 expires_at_ms                 only when flags bit 1 is set
//   then          string path
//                 string uuid
//                 string origin_node_id
//                 string owner_uuid
//                 string group_uuid
//                 u32    document length before compression (equals the data length when raw)
//                 string data (the zstd frame, or the document)
//   end           nothing follows: trailing bytes make the record corrupt
constexpr std::uint8_t kFlagDeleted = 1U << 0;
constexpr std::uint8_t kFlagExpires = 1U << 1;
constexpr std::uint8_t kFlagCompressed = 1U << 2;
constexpr std::uint8_t kKnownFlags = kFlagDeleted | kFlagExpires | kFlagCompressed;

void put_string(std::string& out, std::string_view text) {
  util::put_u32_le(out, static_cast<std::uint32_t>(text.size()));
  out.append(text);
}

std::string_view read_string(util::ByteReader& reader) { return reader.bytes(reader.u32_le()); }

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

struct Header {
  std::uint8_t flags = 0;
  std::uint16_t permissions = 0;
  std::int64_t origin_joined_ms = 0;
  RecordSummary summary;
};

// Reads everything up to (not including) the strings after uuid into `header`, in one pass:
// the read path decodes a record per get, and a second pass over the fixed fields (or a
// Result<Header> to move) showed in its profile.
Status read_header(util::ByteReader& reader, Header& header) {
  std::uint8_t format = reader.u8();
  if (reader.failed()) return corrupt("empty");
  if (format != kRecordFormatV1) return corrupt("unknown format version " + std::to_string(format));
  header.flags = reader.u8();
  if ((header.flags & ~kKnownFlags) != 0) return corrupt("unknown flags " + std::to_string(header.flags));
  header.permissions = reader.u16_le();
  header.summary.timestamp_ms = reader.i64_le();
  header.origin_joined_ms = reader.i64_le();
  if ((header.flags & kFlagExpires) != 0) header.summary.expires_at_ms = reader.i64_le();
  header.summary.path = read_string(reader);
  header.summary.uuid = read_string(reader);
  if (reader.failed()) return corrupt("truncated header");
  header.summary.deleted = (header.flags & kFlagDeleted) != 0;
  header.summary.compressed = (header.flags & kFlagCompressed) != 0;
  return Status::ok();
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
  out.reserve(40 + 4 * 6 + version.path.size() + version.uuid.size() + version.origin_node_id.size() +
              version.owner_uuid.size() + version.group_uuid.size() + data.size());
  out.push_back(static_cast<char>(kRecordFormatV1));
  out.push_back(static_cast<char>(flags));
  util::put_u16_le(out, version.permissions);
  util::put_i64_le(out, version.timestamp_ms);
  util::put_i64_le(out, version.origin_joined_ms);
  if (version.expires_at_ms) util::put_i64_le(out, *version.expires_at_ms);
  put_string(out, version.path);
  put_string(out, version.uuid);
  put_string(out, version.origin_node_id);
  put_string(out, version.owner_uuid);
  put_string(out, version.group_uuid);
  util::put_u32_le(out, static_cast<std::uint32_t>(version.data.size()));
  put_string(out, data);
  return out;
}

Result<RecordSummary> decode_summary(std::string_view bytes) {
  util::ByteReader reader(bytes);
  Header header;
  if (Status read = read_header(reader, header); !read.is_ok()) return read;
  return header.summary;
}

Result<Version> decode_record(std::string_view bytes, RecordPart part) {
  Version version;
  if (Status decoded = decode_record_into(bytes, version, part); !decoded.is_ok()) return decoded;
  return version;
}

Status decode_record_into(std::string_view bytes, Version& version, RecordPart part) {
  util::ByteReader reader(bytes);
  Header header;
  if (Status read = read_header(reader, header); !read.is_ok()) return read;

  version.permissions = header.permissions;
  version.origin_joined_ms = header.origin_joined_ms;
  version.path.assign(header.summary.path);
  version.uuid.assign(header.summary.uuid);
  version.timestamp_ms = header.summary.timestamp_ms;
  version.expires_at_ms = header.summary.expires_at_ms;
  version.deleted = header.summary.deleted;
  version.origin_node_id.assign(read_string(reader));
  version.owner_uuid.assign(read_string(reader));
  version.group_uuid.assign(read_string(reader));
  std::uint32_t raw_size = reader.u32_le();
  std::string_view data = read_string(reader);
  if (reader.failed()) return corrupt("truncated record of " + version.path);
  if (!reader.at_end()) return corrupt("trailing bytes after the record of " + version.path);
  if (part == RecordPart::kMetadata) {
    version.data.clear();
    return Status::ok();
  }

  if (!header.summary.compressed) {
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
