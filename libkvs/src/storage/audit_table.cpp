// The audit database on LMDB cursors; see audit_table.hpp for the protocol and threading.

#include "storage/audit_table.hpp"

#include <utility>

namespace kvs::storage {

Result<audit::AuditTip> read_audit_tip(const lmdb::Txn& txn, lmdb::Dbi dbi) {
  lmdb::Cursor cursor;
  if (Status s = cursor.open(txn, dbi, "audit"); !s.is_ok()) return s;
  if (!cursor.last()) {
    if (Status s = cursor.status("read last audit entry"); !s.is_ok()) return s;
    return audit::AuditTip{};
  }
  auto entry = audit::decode_audit_entry(cursor.value());
  if (entry.is_ok()) return audit::audit_tip(*entry);
  auto seq = audit::parse_audit_key(cursor.key());
  if (!seq.is_ok()) return seq.status().with_context("last audit entry");
  return audit::AuditTip{*seq, audit::audit_value_hash(cursor.value())};
}

Result<audit::AuditEntry> append_audit_entry(lmdb::WriteTxn& txn, lmdb::Dbi dbi, const audit::AuditTip& tip,
                                             std::int64_t time_ms, std::string actor, std::string action,
                                             std::string path, const audit::AuditHash& value_hash,
                                             const audit::AuditKey* key) {
  audit::AuditEntry entry;
  entry.seq = tip.seq + 1;
  entry.time_ms = time_ms;
  entry.actor = std::move(actor);
  entry.action = std::move(action);
  entry.path = std::move(path);
  entry.value_hash = value_hash;
  entry.prev_hash = tip.hash;
  std::string bytes = audit::seal_audit_entry(entry, key);  // same result as make_audit_entry + encode
  // Keys only grow, so every entry is an append: LMDB then fills pages instead of splitting.
  Status stored = txn.put(dbi, audit::audit_key(entry.seq), bytes, lmdb::What{"audit entry"}, lmdb::PutMode::kAppend);
  if (!stored.is_ok()) return stored;
  return entry;
}

Result<AuditPage> read_audit_page(const lmdb::Txn& txn, lmdb::Dbi dbi, std::uint64_t since, std::size_t limit) {
  AuditPage page;
  lmdb::Cursor cursor;
  if (Status s = cursor.open(txn, dbi, "audit"); !s.is_ok()) return s;
  for (bool at = cursor.seek(audit::audit_key(since)); at; at = cursor.next()) {
    auto entry = audit::decode_audit_entry(cursor.value());
    if (!entry.is_ok()) return entry.status();
    if (page.entries.size() == limit) {
      page.next_since = entry->seq;
      return page;
    }
    page.entries.push_back(std::move(*entry));
  }
  if (Status s = cursor.status("read audit entries"); !s.is_ok()) return s;
  return page;
}

Result<audit::AuditVerifyResult> verify_audit_table(const lmdb::Txn& txn, lmdb::Dbi dbi, const audit::AuditKey* key,
                                                    std::optional<audit::AuditTip> expected_head) {
  lmdb::Cursor cursor;
  if (Status s = cursor.open(txn, dbi, "audit"); !s.is_ok()) return s;
  audit::AuditVerifier verifier({}, key, expected_head);
  for (bool at = cursor.first(); at; at = cursor.next()) {
    if (!verifier.add_record(cursor.key(), cursor.value())) return verifier.result();
  }
  if (Status s = cursor.status("read audit entries"); !s.is_ok()) return s;
  verifier.finish();
  return verifier.result();
}

}  // namespace kvs::storage
