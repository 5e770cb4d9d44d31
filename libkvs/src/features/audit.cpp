#include "features/audit.hpp"

#include "features/json_text.hpp"

namespace kvs::features {
namespace {

bool is_zero(const AuditHash& hash) {
  for (auto byte : hash) {
    if (byte != 0) return false;
  }
  return true;
}

}  // namespace

std::string audit_entry_to_json(const AuditEntry& e) {
  std::string out = "{\"seq\":" + std::to_string(e.seq) + ",\"timestamp\":" + std::to_string(e.time_ms) +
                    ",\"actor\":" + json_quote(e.actor) + ",\"action\":" + json_quote(e.action) +
                    ",\"path\":" + json_quote(e.path) + ",\"value_hash\":";
  out += is_zero(e.value_hash) ? "null" : "\"" + to_hex(e.value_hash) + "\"";
  out += ",\"prev_hash\":\"" + to_hex(e.prev_hash) + "\",\"hash\":\"" + to_hex(e.entry_hash) + "\"}";
  return out;
}

std::string audit_page_to_json(std::span<const AuditEntry> entries, std::optional<std::uint64_t> next_since) {
  std::string out = "{\"entries\":[";
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (i > 0) out += ',';
    out += audit_entry_to_json(entries[i]);
  }
  out += "],\"next_since\":";
  out += next_since ? std::to_string(*next_since) : "null";
  out += '}';
  return out;
}

std::string audit_verify_to_json(const AuditVerifyResult& result) {
  if (result.ok) return "{\"ok\":true,\"entries\":" + std::to_string(result.entries) + "}";
  return "{\"ok\":false,\"first_bad_seq\":" + std::to_string(result.first_bad_seq.value_or(0)) + "}";
}

}  // namespace kvs::features
