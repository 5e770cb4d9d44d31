#include "storage/revision_log.hpp"

#include "util/coding.hpp"

namespace kvs::storage {

std::string encode_revision_entry(std::uint64_t revision, std::uint64_t previous, std::string_view record) {
  std::string out;
  out.reserve(kRevisionEntryHeaderBytes + record.size());
  out.push_back(static_cast<char>(kRevisionEntryV1));
  util::put_u64_le(out, revision);
  util::put_u64_le(out, previous);
  out.append(record);
  return out;
}

Result<RevisionEntry> decode_revision_entry(std::string_view bytes) {
  if (bytes.empty() || static_cast<std::uint8_t>(bytes[0]) != kRevisionEntryV1) {
    return Status::corruption("revision log entry of an unknown format");
  }
  if (bytes.size() < kRevisionEntryHeaderBytes) return Status::corruption("revision log entry is truncated");
  RevisionEntry entry;
  entry.revision = util::get_u64_le(bytes.substr(1, 8));
  entry.previous = util::get_u64_le(bytes.substr(9, 8));
  entry.record = bytes.substr(kRevisionEntryHeaderBytes);
  return entry;
}

}  // namespace kvs::storage
