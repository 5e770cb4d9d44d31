#pragma once

// The audit chain on LMDB: the few cursor operations that storage::Store needs to keep an
// `audit` database (key audit_key(seq), value encode_audit_entry) and that Node needs to serve
// `GET /audit` and `GET /audit/verify`. They run inside a transaction the caller owns and never
// begin, commit or abort one: `append_audit_entry` belongs in the write transaction of the
// mutation it records (see audit.hpp), the readers in any read transaction. Like every LMDB
// call, each must run on the thread that owns `txn`.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <lmdb.h>

#include "features/audit.hpp"
#include "kvs/status.hpp"

namespace kvs::features {

// The last entry of `dbi` as a tip (AuditTip{} when empty). kCorruption when it does not decode.
Result<AuditTip> read_audit_tip(MDB_txn* txn, MDB_dbi dbi);

// Builds the entry after `tip` and puts it (MDB_APPEND) into `dbi`. Returns the entry; the
// caller's next tip is audit_tip(result). kIOError carrying the LMDB error otherwise (the
// caller must then fail the whole transaction, so the mutation does not commit alone).
Result<AuditEntry> append_audit_entry(MDB_txn* txn, MDB_dbi dbi, const AuditTip& tip, std::int64_t time_ms,
                                      std::string actor, std::string action, std::string path,
                                      std::optional<std::string_view> value);

// The same, with the value's hash already computed (audit_value_hash, or all zero for no
// value). Lets the request thread hash the document before it queues the write, so the single
// writer thread only hashes the small entry itself.
Result<AuditEntry> append_audit_entry(MDB_txn* txn, MDB_dbi dbi, const AuditTip& tip, std::int64_t time_ms,
                                      std::string actor, std::string action, std::string path,
                                      const AuditHash& value_hash);

struct AuditPage {
  std::vector<AuditEntry> entries;        // seq >= since, ascending
  std::optional<std::uint64_t> next_since;  // where the next page starts; nullopt at the end
};

// Up to `limit` entries with seq >= since. kCorruption when one does not decode (verify says
// which).
Result<AuditPage> read_audit_page(MDB_txn* txn, MDB_dbi dbi, std::uint64_t since, std::size_t limit);

// Verifies the whole chain in key order without holding it in memory.
Result<AuditVerifyResult> verify_audit_db(MDB_txn* txn, MDB_dbi dbi);

}  // namespace kvs::features
