#pragma once

// The audit log as the REST edge shows it: JSON for `GET /audit` and `GET /audit/verify`. The
// chain itself (entries, hashing, verification) is audit/chain.hpp, a leaf that storage keeps
// on disk; the names below bring it into kvs::features for the code that still spells it so.
//
// Pure functions; safe from any thread.

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "audit/chain.hpp"

namespace kvs::features {

// The chain's names as features spelled them before the chain became its own leaf.
namespace audit_action = audit::action;
using audit::AuditEntry;
using audit::AuditHash;
using audit::AuditTip;
using audit::AuditVerifier;
using audit::AuditVerifyResult;
using audit::audit_canonical_bytes;
using audit::audit_key;
using audit::audit_tip;
using audit::audit_value_hash;
using audit::compute_audit_entry_hash;
using audit::decode_audit_entry;
using audit::encode_audit_entry;
using audit::kAuditFormatVersion;
using audit::kAuditHashBytes;
using audit::make_audit_entry;
using audit::parse_audit_key;
using audit::seal_audit_entry;
using audit::to_hex;
using audit::verify_audit_chain;

// JSON of one entry for `GET /audit`:
//   {"seq":1,"timestamp":1764200000000,"actor":"...","action":"kv.put","path":"users/john",
//    "value_hash":"<hex>"|null,"prev_hash":"<hex>","hash":"<hex>"}
std::string audit_entry_to_json(const AuditEntry& entry);
// `GET /audit?since=SEQ&limit=N`: the entries with seq >= since, at most limit, and where to
// continue: {"entries":[...],"next_since":<seq>|null}.
std::string audit_page_to_json(std::span<const AuditEntry> entries, std::optional<std::uint64_t> next_since);
// `GET /audit/verify`: {"ok":true,"entries":N} or {"ok":false,"first_bad_seq":S}.
std::string audit_verify_to_json(const AuditVerifyResult& result);

}  // namespace kvs::features
