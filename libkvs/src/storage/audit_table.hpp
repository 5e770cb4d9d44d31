#pragma once

// The audit database: the tamper-evident chain of audit/chain.hpp kept in LMDB, key
// audit_key(seq) (8-byte big-endian, so key order is sequence order and appends go at the end),
// value encode_audit_entry(entry). An entry is appended in the SAME write transaction as the
// mutation it records, so no mutation commits without its entry:
//   1. at open, the writer reads the chain's tip (read_audit_tip; AuditTip{} when empty);
//   2. each audited intent appends the entry after the tip (append_audit_entry), and the next
//      intent of the batch links to audit_tip(entry);
//   3. the writer keeps the tip only once the batch commits; an aborted batch leaves it as it
//      was, so the next batch links to what is really on disk.
//
// These functions run inside a transaction the caller owns and never begin, commit or abort
// one; each must run on the thread that owns `txn` (the writer thread for appends, any reader
// for the rest).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "audit/chain.hpp"
#include "kvs/status.hpp"
#include "storage/lmdb_env.hpp"
#include "storage/store.hpp"

namespace kvs::storage {

// The last entry of `dbi` as a tip (AuditTip{} when empty). When the last entry does not
// decode (a damaged file), the chain goes on from its key's seq and a hash of its raw bytes,
// so that the node keeps running and verify_audit_table reports that entry as the first bad
// one. kCorruption only when even its key is malformed; LMDB's error otherwise.
Result<audit::AuditTip> read_audit_tip(const lmdb::Txn& txn, lmdb::Dbi dbi);

// Builds the entry after `tip` with the value's hash already computed (audit_value_hash, or
// all zero for no value), sealed with `key` (the keyed format; nullptr: the unkeyed one, as
// before the chain was keyed), and appends it to `dbi`. Returns the entry; the caller's next
// tip is audit_tip(result). LMDB's error otherwise: the caller must then fail the whole
// transaction, so that the mutation does not commit alone.
Result<audit::AuditEntry> append_audit_entry(lmdb::WriteTxn& txn, lmdb::Dbi dbi, const audit::AuditTip& tip,
                                             std::int64_t time_ms, std::string actor, std::string action,
                                             std::string path, const audit::AuditHash& value_hash,
                                             const audit::AuditKey* key = nullptr);

// Up to `limit` entries with seq >= since. kCorruption when one does not decode (verify says
// which).
Result<AuditPage> read_audit_page(const lmdb::Txn& txn, lmdb::Dbi dbi, std::uint64_t since, std::size_t limit);

// Verifies the whole chain in key order without holding it in memory: keyed entries with
// `key`, and against `expected_head` when given (see audit::AuditVerifier).
Result<audit::AuditVerifyResult> verify_audit_table(const lmdb::Txn& txn, lmdb::Dbi dbi,
                                                    const audit::AuditKey* key = nullptr,
                                                    std::optional<audit::AuditTip> expected_head = std::nullopt);

}  // namespace kvs::storage
