#pragma once

// The audit chain's names in kvs::features, for the node code that spells them so. The chain
// itself (entries, hashing, verification) is audit/chain.hpp, a leaf that storage keeps on disk.

#include "audit/chain.hpp"

namespace kvs::features {

// The chain's names as features spelled them before the chain became its own leaf.
namespace audit_action = audit::action;
using audit::AuditEntry;
using audit::AuditHash;
using audit::AuditKey;
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
using audit::kAuditFormatKeyed;
using audit::kAuditFormatUnkeyed;
using audit::kAuditFormatVersion;
using audit::kAuditHashBytes;
using audit::make_audit_entry;
using audit::parse_audit_key;
using audit::seal_audit_entry;
using audit::to_hex;
using audit::verify_audit_chain;

}  // namespace kvs::features
