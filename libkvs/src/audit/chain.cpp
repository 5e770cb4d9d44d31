#include "audit/chain.hpp"

#include <algorithm>
#include <cstring>

#include <sodium.h>

#include "util/blake2b.hpp"
#include "util/coding.hpp"
#include "util/hex.hpp"

namespace kvs::audit {
namespace {

void put_bytes(std::string& out, std::string_view bytes) {
  util::put_u32_be(out, static_cast<std::uint32_t>(bytes.size()));
  out.append(bytes);
}

void put_hash(std::string& out, const AuditHash& hash) {
  out.append(reinterpret_cast<const char*>(hash.data()), hash.size());
}

// A u32 length, then that many bytes.
std::string read_bytes(util::ByteReader& reader) { return std::string(reader.bytes(reader.u32_be())); }

void read_hash(util::ByteReader& reader, AuditHash& hash) {
  std::string_view bytes = reader.bytes(hash.size());
  if (!reader.failed()) std::memcpy(hash.data(), bytes.data(), hash.size());
}

// The hash of canonical bytes in `format`. Requires: a key for the keyed format (every caller
// sets the format from whether it has one).
AuditHash hash_canonical(std::string_view canonical, std::uint8_t format, const AuditKey* key) {
  if (format == kAuditFormatKeyed) {
    return util::blake2b_keyed<kAuditHashBytes>(canonical, std::span<const std::uint8_t>(*key));
  }
  return util::blake2b<kAuditHashBytes>(canonical);
}

}  // namespace

AuditHash audit_value_hash(std::string_view value) { return util::blake2b<kAuditHashBytes>(value); }

std::string audit_canonical_bytes(const AuditEntry& entry) {
  std::string out;
  out.reserve(1 + 8 + 8 + 12 + entry.actor.size() + entry.action.size() + entry.path.size() + 64);
  out += static_cast<char>(entry.format);
  util::put_u64_be(out, entry.seq);
  util::put_i64_be(out, entry.time_ms);
  put_bytes(out, entry.actor);
  put_bytes(out, entry.action);
  put_bytes(out, entry.path);
  put_hash(out, entry.value_hash);
  put_hash(out, entry.prev_hash);
  return out;
}

std::optional<AuditHash> compute_audit_entry_hash(const AuditEntry& entry, const AuditKey* key) {
  if (entry.format == kAuditFormatKeyed && key == nullptr) return std::nullopt;
  return hash_canonical(audit_canonical_bytes(entry), entry.format, key);
}

AuditEntry make_audit_entry(const AuditTip& tip, std::int64_t time_ms, std::string actor, std::string action,
                            std::string path, std::optional<std::string_view> value, const AuditKey* key) {
  AuditEntry entry;
  entry.format = key != nullptr ? kAuditFormatKeyed : kAuditFormatUnkeyed;
  entry.seq = tip.seq + 1;
  entry.time_ms = time_ms;
  entry.actor = std::move(actor);
  entry.action = std::move(action);
  entry.path = std::move(path);
  if (value) entry.value_hash = audit_value_hash(*value);
  entry.prev_hash = tip.hash;
  entry.entry_hash = hash_canonical(audit_canonical_bytes(entry), entry.format, key);
  return entry;
}

std::string seal_audit_entry(AuditEntry& entry, const AuditKey* key) {
  entry.format = key != nullptr ? kAuditFormatKeyed : kAuditFormatUnkeyed;
  std::string out = audit_canonical_bytes(entry);
  entry.entry_hash = hash_canonical(out, entry.format, key);
  put_hash(out, entry.entry_hash);
  return out;
}

std::string encode_audit_entry(const AuditEntry& entry) {
  std::string out = audit_canonical_bytes(entry);
  put_hash(out, entry.entry_hash);
  return out;
}

Result<AuditEntry> decode_audit_entry(std::string_view bytes) {
  util::ByteReader r(bytes);
  const std::uint8_t version = r.u8();
  if (r.failed()) return Status::corruption("audit entry: empty record");
  if (version != kAuditFormatUnkeyed && version != kAuditFormatKeyed) {
    return Status::corruption("audit entry: unknown format version " + std::to_string(version));
  }
  AuditEntry e;
  e.format = version;
  e.seq = r.u64_be();
  e.time_ms = r.i64_be();
  e.actor = read_bytes(r);
  e.action = read_bytes(r);
  e.path = read_bytes(r);
  read_hash(r, e.value_hash);
  read_hash(r, e.prev_hash);
  read_hash(r, e.entry_hash);
  if (r.failed()) return Status::corruption("audit entry: truncated record");
  if (!r.at_end()) return Status::corruption("audit entry: trailing bytes after the record");
  return e;
}

std::string audit_key(std::uint64_t seq) {
  std::string out;
  util::put_u64_be(out, seq);
  return out;
}

Result<std::uint64_t> parse_audit_key(std::string_view key) {
  if (key.size() != 8) return Status::corruption("audit key: expected 8 bytes");
  return util::get_u64_be(key);
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
  const bool keyed = entry.format == kAuditFormatKeyed;
  if (!keyed && keyed_seen_) {
    // Only someone without the key writes an unkeyed entry after keyed ones.
    return fail(entry.seq, "entry " + std::to_string(entry.seq) + ": unkeyed entry after keyed ones");
  }
  auto hash = compute_audit_entry_hash(entry, key_);
  if (!hash) return fail(entry.seq, "entry " + std::to_string(entry.seq) + ": keyed entry and no audit key");
  // Constant time: a verifier answering over the network must not leak how much of a forged
  // hash was right.
  if (sodium_memcmp(hash->data(), entry.entry_hash.data(), kAuditHashBytes) != 0) {
    return fail(entry.seq, "entry " + std::to_string(entry.seq) + ": hash does not match its contents");
  }
  if (expected_head_ && entry.seq == expected_head_->seq && entry.entry_hash != expected_head_->hash) {
    return fail(entry.seq, "entry " + std::to_string(entry.seq) + ": hash differs from the expected head");
  }
  keyed_seen_ = keyed_seen_ || keyed;
  expected_ = audit_tip(entry);
  result_.entries += 1;
  result_.last = expected_;
  return true;
}

void AuditVerifier::finish() {
  if (!result_.ok || !expected_head_ || expected_.seq >= expected_head_->seq) return;
  if (expected_head_->seq == 0) return;
  fail(expected_.seq + 1, "the chain ends at entry " + std::to_string(expected_.seq) + ", before the expected head " +
                              std::to_string(expected_head_->seq));
}

AuditVerifyResult verify_audit_chain(std::span<const AuditEntry> entries, AuditTip anchor, const AuditKey* key,
                                     std::optional<AuditTip> expected_head) {
  AuditVerifier verifier(anchor, key, expected_head);
  for (const auto& e : entries) {
    if (!verifier.add(e)) return verifier.result();
  }
  verifier.finish();
  return verifier.result();
}

// ---- Hex --------------------------------------------------------------------------------------

std::string to_hex(const AuditHash& hash) { return util::to_hex(std::span<const std::uint8_t>(hash)); }

}  // namespace kvs::audit
