// The audit chain kept in an LMDB database (storage/audit_table.hpp), driven directly through
// storage's LMDB wrappers as the writer drives it. The chain's own rules are covered by
// tests/unit/audit/chain_test.cpp; the Store's use of the table (entries in the mutation's
// transaction, audit_page, verify_audit) by the node audit tests.

#include "storage/audit_table.hpp"

#include <string>

#include <catch2/catch.hpp>

#include "storage/lmdb_env.hpp"
#include "support/temp_dir.hpp"

namespace kvs::storage::test {
namespace {

using audit::AuditHash;
using audit::AuditTip;

struct Fixture {
  kvs::test::TempDir dir{"kvs-audit"};
  std::unique_ptr<lmdb::Env> env;
  lmdb::Dbi data = 0;
  lmdb::Dbi audit = 0;

  Fixture() {
    auto opened = lmdb::Env::open(dir.path(), std::size_t{64} << 20);
    REQUIRE(opened.is_ok());
    env = std::move(*opened);
    lmdb::WriteTxn txn;
    REQUIRE(txn.begin(*env).is_ok());
    auto versions = txn.open_db("versions");
    auto chain = txn.open_db("audit");
    REQUIRE(versions.is_ok());
    REQUIRE(chain.is_ok());
    data = *versions;
    audit = *chain;
    REQUIRE(txn.commit().is_ok());
  }
};

}  // namespace

TEST_CASE("entries written in the mutation's transaction verify, and an edit in the file is found",
          "[storage][audit]") {
  Fixture f;
  // What the storage writer does: several batches, several intents per transaction, each
  // mutation and its audit entry in the same transaction.
  std::uint64_t written = 0;
  for (int batch = 0; batch < 5; ++batch) {
    lmdb::WriteTxn txn;
    REQUIRE(txn.begin(*f.env).is_ok());
    auto tip = read_audit_tip(txn, f.audit);
    REQUIRE(tip.is_ok());
    for (int i = 0; i < 7; ++i) {
      std::string key = "k/" + std::to_string(batch) + "/" + std::to_string(i);
      std::string value = "{\"v\":" + std::to_string(i) + "}";
      REQUIRE(txn.put(f.data, key, value, lmdb::What{"version"}).is_ok());
      auto entry = append_audit_entry(txn, f.audit, *tip, 1'700'000'000'000 + batch, "user-1",
                                      std::string(audit::action::kKvPut), key, audit::audit_value_hash(value));
      REQUIRE(entry.is_ok());
      tip = audit::audit_tip(*entry);
      ++written;
    }
    if (batch == 2) {
      txn.abort();  // an aborted batch leaves neither mutations nor entries behind
      written -= 7;
    } else {
      REQUIRE(txn.commit().is_ok());
    }
  }

  {
    lmdb::ReadTxn read(*f.env);
    REQUIRE(read.begin().is_ok());
    auto verified = verify_audit_table(read, f.audit);
    REQUIRE(verified.is_ok());
    CHECK(verified->ok);
    CHECK(verified->entries == written);
    auto page = read_audit_page(read, f.audit, 10, 5);
    REQUIRE(page.is_ok());
    REQUIRE(page->entries.size() == 5);
    CHECK(page->entries.front().seq == 10);
    CHECK(page->next_since == 15u);
    auto last = read_audit_page(read, f.audit, 25, 100);
    REQUIRE(last.is_ok());
    CHECK(last->entries.size() == written - 24);
    CHECK_FALSE(last->next_since.has_value());
  }

  // Tamper with entry 9 as someone with the file would: rewrite its value in place.
  {
    lmdb::WriteTxn txn;
    REQUIRE(txn.begin(*f.env).is_ok());
    std::string key = audit::audit_key(9);
    auto held = txn.get(f.audit, key, lmdb::What{"entry 9"});
    REQUIRE(held.is_ok());
    REQUIRE(held->has_value());
    auto entry = audit::decode_audit_entry(**held);
    REQUIRE(entry.is_ok());
    entry->path = "k/forged";
    REQUIRE(txn.put(f.audit, key, audit::encode_audit_entry(*entry), lmdb::What{"entry 9"}).is_ok());
    REQUIRE(txn.commit().is_ok());
  }
  lmdb::ReadTxn read(*f.env);
  REQUIRE(read.begin().is_ok());
  auto tampered = verify_audit_table(read, f.audit);
  REQUIRE(tampered.is_ok());
  CHECK_FALSE(tampered->ok);
  CHECK(tampered->first_bad_seq == 9u);
  CHECK(tampered->entries == 8);
}

TEST_CASE("an appended entry is the chain's next entry and becomes the tip", "[storage][audit]") {
  Fixture f;
  lmdb::WriteTxn txn;
  REQUIRE(txn.begin(*f.env).is_ok());
  auto empty = read_audit_tip(txn, f.audit);
  REQUIRE(empty.is_ok());
  CHECK(*empty == AuditTip{});

  const std::string value = "{\"doc\":true}";
  auto one = append_audit_entry(txn, f.audit, AuditTip{}, 7, "u", "kv.put", "p", audit::audit_value_hash(value));
  REQUIRE(one.is_ok());
  CHECK(*one == audit::make_audit_entry(AuditTip{}, 7, "u", "kv.put", "p", value));
  auto none = append_audit_entry(txn, f.audit, audit::audit_tip(*one), 8, "u", "kv.delete", "p", AuditHash{});
  REQUIRE(none.is_ok());
  CHECK(*none == audit::make_audit_entry(audit::audit_tip(*one), 8, "u", "kv.delete", "p", std::nullopt));
  auto tip = read_audit_tip(txn, f.audit);
  REQUIRE(tip.is_ok());
  CHECK(*tip == audit::audit_tip(*none));
}

TEST_CASE("a last entry that does not decode still gives a tip, and verification names it", "[storage][audit]") {
  Fixture f;
  lmdb::WriteTxn txn;
  REQUIRE(txn.begin(*f.env).is_ok());
  auto one = append_audit_entry(txn, f.audit, AuditTip{}, 1, "u", "kv.put", "a", AuditHash{});
  REQUIRE(one.is_ok());
  const std::string garbage = "not an entry";
  REQUIRE(txn.put(f.audit, audit::audit_key(2), garbage, lmdb::What{"entry 2"}).is_ok());

  // The chain goes on from the damaged entry's seq and the hash of its raw bytes.
  auto tip = read_audit_tip(txn, f.audit);
  REQUIRE(tip.is_ok());
  CHECK(tip->seq == 2);
  CHECK(tip->hash == audit::audit_value_hash(garbage));
  auto verified = verify_audit_table(txn, f.audit);
  REQUIRE(verified.is_ok());
  CHECK_FALSE(verified->ok);
  CHECK(verified->first_bad_seq == 2u);
}

}  // namespace kvs::storage::test
