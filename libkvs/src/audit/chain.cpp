#include "audit/chain.hpp"

#include <algorithm>
#include <cstring>

#include <sodium.h>

namespace kvs::audit {
namespace {

void put_u32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xFF);
}

void put_u64(std::string& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xFF);
}

void put_bytes(std::string& out, std::string_view bytes) {
  put_u32(out, static_cast<std::uint32_t>(bytes.size()));
  out.append(bytes);
}

void put_hash(std::string& out, const AuditHash& hash) {
  out.append(reinterpret_cast<const char*>(hash.data()), hash.size());
}

// Reads the stored form front to back; every read checks the bytes left.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}
  bool u8(std::uint8_t& v) {
    if (bytes_.size() < 1) return false;
    v = static_cast<std::uint8_t>(bytes_[0]);
    bytes_.remove_prefix(1);
    return true;
  }
  bool u64(std::uint64_t& v) {
    if (bytes_.size() < 8) return false;
    v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<std::uint8_t>(bytes_[static_cast<std::size_t>(i)]);
    bytes_.remove_prefix(8);
    return true;
  }
  bool u32(std::uint32_t& v) {
    if (bytes_.size() < 4) return false;
    v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<std::uint8_t>(bytes_[static_cast<std::size_t>(i)]);
    bytes_.remove_prefix(4);
    return true;
  }
  bool string(std::string& v) {
    std::uint32_t n = 0;
    if (!u32(n) || bytes_.size() < n) return false;
    v.assign(bytes_.substr(0, n));
    bytes_.remove_prefix(n);
    return true;
  }
  bool hash(AuditHash& h) {
    if (bytes_.size() < h.size()) return false;
    std::memcpy(h.data(), bytes_.data(), h.size());
    bytes_.remove_prefix(h.size());
    return true;
  }
  bool done() const { return bytes_.empty(); }

 private:
  std::string_view bytes_;
};

AuditHash blake2b(std::string_view bytes) {
  AuditHash out{};
  // crypto_generichash needs no sodium_init(); it is a pure function of its input.
  crypto_generichash(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                     nullptr, 0);
  return out;
}

}  // namespace

AuditHash audit_value_hash(std::string_view value) { return blake2b(value); }

std::string audit_canonical_bytes(const AuditEntry& entry) {
  std::string out;
  out.reserve(1 + 8 + 8 + 12 + entry.actor.size() + entry.action.size() + entry.path.size() + 64);
  out += static_cast<char>(kAuditFormatVersion);
  put_u64(out, entry.seq);
  put_u64(out, static_cast<std::uint64_t>(entry.time_ms));
  put_bytes(out, entry.actor);
  put_bytes(out, entry.action);
  put_bytes(out, entry.path);
  put_hash(out, entry.value_hash);
  put_hash(out, entry.prev_hash);
  return out;
}

AuditHash compute_audit_entry_hash(const AuditEntry& entry) { return blake2b(audit_canonical_bytes(entry)); }

AuditEntry make_audit_entry(const AuditTip& tip, std::int64_t time_ms, std::string actor, std::string action,
                            std::string path, std::optional<std::string_view> value) {
  AuditEntry entry;
  entry.seq = tip.seq + 1;
  entry.time_ms = time_ms;
  entry.actor = std::move(actor);
  entry.action = std::move(action);
  entry.path = std::move(path);
  if (value) entry.value_hash = audit_value_hash(*value);
  entry.prev_hash = tip.hash;
  entry.entry_hash = compute_audit_entry_hash(entry);
  return entry;
}

std::string seal_audit_entry(AuditEntry& entry) {
  std::string out = audit_canonical_bytes(entry);
  entry.entry_hash = blake2b(out);
  put_hash(out, entry.entry_hash);
  return out;
}

std::string encode_audit_entry(const AuditEntry& entry) {
  std::string out = audit_canonical_bytes(entry);
  put_hash(out, entry.entry_hash);
  return out;
}

Result<AuditEntry> decode_audit_entry(std::string_view bytes) {
  Reader r(bytes);
  std::uint8_t version = 0;
  if (!r.u8(version)) return Status::corruption("audit entry: empty record");
  if (version != kAuditFormatVersion) {
    return Status::corruption("audit entry: unknown format version " + std::to_string(version));
  }
  AuditEntry e;
  std::uint64_t time = 0;
  if (!r.u64(e.seq) || !r.u64(time) || !r.string(e.actor) || !r.string(e.action) || !r.string(e.path) ||
      !r.hash(e.value_hash) || !r.hash(e.prev_hash) || !r.hash(e.entry_hash)) {
    return Status::corruption("audit entry: truncated record");
  }
  if (!r.done()) return Status::corruption("audit entry: trailing bytes after the record");
  e.time_ms = static_cast<std::int64_t>(time);
  return e;
}

std::string audit_key(std::uint64_t seq) {
  std::string out;
  put_u64(out, seq);
  return out;
}

Result<std::uint64_t> parse_audit_key(std::string_view key) {
  Reader r(key);
  std::uint64_t seq = 0;
  if (key.size() != 8 || !r.u64(seq)) return Status::corruption("audit key: expected 8 bytes");
  return seq;
}

// ---- Verification -----------------------------------------------------------------------------

bool AuditVerifier::fail(std::uint64_t seq, std::string reason) {
  result_.ok = false;
  result_.first_bad_seq = seq;
  result_.reason = std::move(reason);
  return false;
}

bool AuditVerifier::add_record(std::string_view key, std::string_view value) {
  if (!result_.ok) return false;
  const std::uint64_t expected_seq = expected_.seq + 1;
  auto key_seq = parse_audit_key(key);
  if (!key_seq) return fail(expected_seq, "entry " + std::to_string(expected_seq) + ": malformed key");
  auto entry = decode_audit_entry(value);
  if (!entry) {
    // Report the earlier of the key's seq and the expected one: a gap is itself a fault.
    return fail(std::min(*key_seq, expected_seq), "entry " + std::to_string(*key_seq) + ": " + entry.status().message());
  }
  if (entry->seq != *key_seq) {
    return fail(std::min(*key_seq, expected_seq), "entry under key " + std::to_string(*key_seq) + " claims seq " +
                                                      std::to_string(entry->seq));
  }
  return add(*entry);
}

bool AuditVerifier::add(const AuditEntry& entry) {
  if (!result_.ok) return false;
  const std::uint64_t expected_seq = expected_.seq + 1;
  if (entry.seq != expected_seq) {
    return fail(std::min(entry.seq, expected_seq), "expected entry " + std::to_string(expected_seq) + ", found " +
                                                       std::to_string(entry.seq));
  }
  if (entry.prev_hash != expected_.hash) {
    return fail(entry.seq, "entry " + std::to_string(entry.seq) + ": prev_hash does not match entry " +
                               std::to_string(expected_.seq));
  }
  if (compute_audit_entry_hash(entry) != entry.entry_hash) {
    return fail(entry.seq, "entry " + std::to_string(entry.seq) + ": hash does not match its contents");
  }
  expected_ = audit_tip(entry);
  result_.entries += 1;
  result_.last = expected_;
  return true;
}

AuditVerifyResult verify_audit_chain(std::span<const AuditEntry> entries, AuditTip anchor) {
  AuditVerifier verifier(anchor);
  for (const auto& e : entries) {
    if (!verifier.add(e)) break;
  }
  return verifier.result();
}

// ---- Hex --------------------------------------------------------------------------------------

std::string to_hex(const AuditHash& hash) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(hash.size() * 2);
  for (auto b : hash) {
    out += kHex[b >> 4];
    out += kHex[b & 0xF];
  }
  return out;
}

}  // namespace kvs::audit
