#include "features/audit_lmdb.hpp"

#include <memory>

namespace kvs::features {
namespace {

Status lmdb_error(const char* what, int rc) {
  return Status::io_error(std::string("audit: ") + what + ": " + mdb_strerror(rc));
}

std::string_view view(const MDB_val& v) { return {static_cast<const char*>(v.mv_data), v.mv_size}; }

struct CursorCloser {
  void operator()(MDB_cursor* c) const { mdb_cursor_close(c); }
};
using Cursor = std::unique_ptr<MDB_cursor, CursorCloser>;

Result<Cursor> open_cursor(MDB_txn* txn, MDB_dbi dbi) {
  MDB_cursor* raw = nullptr;
  if (int rc = mdb_cursor_open(txn, dbi, &raw); rc != MDB_SUCCESS) return lmdb_error("open cursor", rc);
  return Cursor(raw);
}

}  // namespace

Result<AuditTip> read_audit_tip(MDB_txn* txn, MDB_dbi dbi) {
  auto cursor = open_cursor(txn, dbi);
  if (!cursor) return cursor.status();
  MDB_val key{};
  MDB_val value{};
  const int rc = mdb_cursor_get(cursor->get(), &key, &value, MDB_LAST);
  if (rc == MDB_NOTFOUND) return AuditTip{};
  if (rc != MDB_SUCCESS) return lmdb_error("read last entry", rc);
  auto entry = decode_audit_entry(view(value));
  if (!entry) return entry.status();
  return audit_tip(*entry);
}

Result<AuditEntry> append_audit_entry(MDB_txn* txn, MDB_dbi dbi, const AuditTip& tip, std::int64_t time_ms,
                                      std::string actor, std::string action, std::string path,
                                      std::optional<std::string_view> value) {
  return append_audit_entry(txn, dbi, tip, time_ms, std::move(actor), std::move(action), std::move(path),
                            value ? audit_value_hash(*value) : AuditHash{});
}

Result<AuditEntry> append_audit_entry(MDB_txn* txn, MDB_dbi dbi, const AuditTip& tip, std::int64_t time_ms,
                                      std::string actor, std::string action, std::string path,
                                      const AuditHash& value_hash) {
  AuditEntry entry;
  entry.seq = tip.seq + 1;
  entry.time_ms = time_ms;
  entry.actor = std::move(actor);
  entry.action = std::move(action);
  entry.path = std::move(path);
  entry.value_hash = value_hash;
  entry.prev_hash = tip.hash;
  std::string bytes = seal_audit_entry(entry);  // same result as make_audit_entry + encode
  std::string key = audit_key(entry.seq);
  MDB_val k{key.size(), key.data()};
  MDB_val v{bytes.size(), bytes.data()};
  // MDB_APPEND: keys only grow, and LMDB then fills pages to the brim instead of splitting.
  if (int rc = mdb_put(txn, dbi, &k, &v, MDB_APPEND); rc != MDB_SUCCESS) return lmdb_error("append entry", rc);
  return entry;
}

Result<AuditPage> read_audit_page(MDB_txn* txn, MDB_dbi dbi, std::uint64_t since, std::size_t limit) {
  AuditPage page;
  auto cursor = open_cursor(txn, dbi);
  if (!cursor) return cursor.status();
  std::string start = audit_key(since);
  MDB_val key{start.size(), start.data()};
  MDB_val value{};
  int rc = mdb_cursor_get(cursor->get(), &key, &value, MDB_SET_RANGE);
  while (rc == MDB_SUCCESS) {
    auto entry = decode_audit_entry(view(value));
    if (!entry) return entry.status();
    if (page.entries.size() == limit) {
      page.next_since = entry->seq;
      return page;
    }
    page.entries.push_back(std::move(*entry));
    rc = mdb_cursor_get(cursor->get(), &key, &value, MDB_NEXT);
  }
  if (rc != MDB_NOTFOUND) return lmdb_error("read entries", rc);
  return page;
}

Result<AuditVerifyResult> verify_audit_db(MDB_txn* txn, MDB_dbi dbi) {
  auto cursor = open_cursor(txn, dbi);
  if (!cursor) return cursor.status();
  AuditVerifier verifier;
  MDB_val key{};
  MDB_val value{};
  int rc = mdb_cursor_get(cursor->get(), &key, &value, MDB_FIRST);
  while (rc == MDB_SUCCESS) {
    if (!verifier.add_record(view(key), view(value))) return verifier.result();
    rc = mdb_cursor_get(cursor->get(), &key, &value, MDB_NEXT);
  }
  if (rc != MDB_NOTFOUND) return lmdb_error("read entries", rc);
  return verifier.result();
}

}  // namespace kvs::features
