// The change log entry format; the layout is described at encode_change in change_log.hpp.

#include "storage/change_log.hpp"

#include "util/coding.hpp"

namespace kvs::storage {
namespace {

constexpr std::size_t kHeaderBytes = 10;

}  // namespace

std::string encode_change(ChangeEntry::Type type, std::int64_t applied_ms, std::string_view record) {
  std::string out;
  out.reserve(kHeaderBytes + record.size());
  out.push_back(static_cast<char>(kChangeFormatV1));
  out.push_back(static_cast<char>(type));
  util::put_i64_le(out, applied_ms);
  out.append(record);
  return out;
}

std::optional<std::int64_t> change_applied_ms(std::string_view bytes) noexcept {
  if (bytes.size() < kHeaderBytes || static_cast<std::uint8_t>(bytes[0]) != kChangeFormatV1) return std::nullopt;
  return util::get_i64_le(bytes.substr(2, 8));
}

Result<ChangeEntry> decode_change(std::uint64_t sequence, std::string_view bytes, RecordPart part) {
  auto corrupt = [sequence](std::string_view why) {
    return Status::corruption("change log entry " + std::to_string(sequence) + ": " + std::string(why));
  };
  if (bytes.size() < kHeaderBytes) return corrupt("truncated");
  if (static_cast<std::uint8_t>(bytes[0]) != kChangeFormatV1) return corrupt("unknown format");
  auto type = static_cast<std::uint8_t>(bytes[1]);
  if (type > static_cast<std::uint8_t>(ChangeEntry::Type::kDelete)) return corrupt("unknown type");
  auto version = decode_record(bytes.substr(kHeaderBytes), part);
  if (!version.is_ok()) return version.status().with_context("change log entry " + std::to_string(sequence));
  ChangeEntry entry;
  entry.sequence = sequence;
  entry.type = static_cast<ChangeEntry::Type>(type);
  entry.applied_ms = util::get_i64_le(bytes.substr(2, 8));
  entry.version = std::move(*version);
  return entry;
}

}  // namespace kvs::storage
