#include <catch2/catch.hpp>

#include <lmdb.h>

#include <string>
#include <utility>
#include <vector>

#include "features/audit.hpp"
#include "features/audit_lmdb.hpp"
#include "support/temp_dir.hpp"
#include "util/hex.hpp"

namespace {

using namespace kvs::features;

std::vector<AuditEntry> make_chain(int n) {
  std::vector<AuditEntry> chain;
  AuditTip tip;
  for (int i = 1; i <= n; ++i) {
    const std::string value = "{\"n\":" + std::to_string(i) + "}";
    chain.push_back(make_audit_entry(tip, 1'700'000'000'000 + i, "user-" + std::to_string(i % 3),
                                     std::string(i % 4 == 0 ? audit_action::kKvDelete : audit_action::kKvPut),
                                     "k/" + std::to_string(i),
                                     i % 4 == 0 ? std::nullopt : std::optional<std::string_view>(value)));
    tip = audit_tip(chain.back());
  }
  return chain;
}

// Verifies encoded records as a cursor would hand them over.
AuditVerifyResult verify_records(const std::vector<std::pair<std::string, std::string>>& records) {
  AuditVerifier verifier;
  for (const auto& [k, v] : records) {
    if (!verifier.add_record(k, v)) break;
  }
  return verifier.result();
}

std::vector<std::pair<std::string, std::string>> encode_all(const std::vector<AuditEntry>& chain) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& e : chain) out.emplace_back(audit_key(e.seq), encode_audit_entry(e));
  return out;
}

}  // namespace

TEST_CASE("the entry hash is BLAKE2b-256 of the documented canonical bytes", "[audit]") {
  // Expected values computed independently (Python hashlib.blake2b, digest_size=32) from the
  // layout documented in audit.hpp. A change here changes the on-disk format.
  const auto e = make_audit_entry(AuditTip{}, 1'700'000'000'000, "admin", "kv.put", "users/john", "{\"a\":1}");
  CHECK(e.seq == 1);
  CHECK(kvs::util::to_hex(e.value_hash) == "10a7ff3e312baec0c356be489739b93f63af84416c40f1c13023eb96c7ed50aa");
  CHECK(kvs::util::to_hex(e.prev_hash) == std::string(64, '0'));
  CHECK(kvs::util::to_hex(e.entry_hash) == "75b36c887d14d62ec4a62bed386f9779159125004239c999369751b9d6eda41b");

  const auto d = make_audit_entry(audit_tip(e), -5, "", "kv.delete", "k", std::nullopt);
  CHECK(d.seq == 2);
  CHECK(d.prev_hash == e.entry_hash);
  CHECK(kvs::util::to_hex(d.value_hash) == std::string(64, '0'));
  CHECK(kvs::util::to_hex(d.entry_hash) == "daa6e6cd77bc7726abed2c40c13839c96db6405c568564955fe5f430732259bc");

  const auto bytes = audit_canonical_bytes(e);
  CHECK(bytes.size() == 1 + 8 + 8 + (4 + 5) + (4 + 6) + (4 + 10) + 32 + 32);
  CHECK(bytes[0] == static_cast<char>(kAuditFormatVersion));
}

TEST_CASE("an empty value hashes differently from no value", "[audit]") {
  const auto empty = make_audit_entry({}, 1, "a", "kv.put", "k", std::string_view());
  const auto none = make_audit_entry({}, 1, "a", "kv.put", "k", std::nullopt);
  CHECK(empty.value_hash != none.value_hash);
  CHECK(empty.entry_hash != none.entry_hash);
}

TEST_CASE("entries encode and decode back to the same entry", "[audit]") {
  for (const auto& e : make_chain(8)) {
    auto decoded = decode_audit_entry(encode_audit_entry(e));
    REQUIRE(decoded.is_ok());
    CHECK(*decoded == e);
  }
  auto key = parse_audit_key(audit_key(0x0102030405060708ULL));
  REQUIRE(key.is_ok());
  CHECK(*key == 0x0102030405060708ULL);
  CHECK(audit_key(1) < audit_key(256));  // byte order is sequence order
}

TEST_CASE("truncated, padded or unknown-version records fail to decode as corruption", "[audit]") {
  const auto bytes = encode_audit_entry(make_chain(1).front());
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    auto r = decode_audit_entry(std::string_view(bytes).substr(0, n));
    INFO("length " << n);
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.status().code() == kvs::Status::Code::kCorruption);
  }
  CHECK_THAT(decode_audit_entry(bytes + "x").status().message(), Catch::Contains("trailing"));
  std::string v2 = bytes;
  v2[0] = 2;
  CHECK_THAT(decode_audit_entry(v2).status().message(), Catch::Contains("unknown format version 2"));
  CHECK_FALSE(parse_audit_key("short").is_ok());
}

TEST_CASE("an intact chain verifies with its entry count and last hash", "[audit]") {
  const auto chain = make_chain(20);
  const auto r = verify_audit_chain(chain);
  CHECK(r.ok);
  CHECK(r.entries == 20);
  CHECK(r.last == audit_tip(chain.back()));
  CHECK(verify_records(encode_all(chain)).ok);
  CHECK(verify_audit_chain({}).ok);
}

TEST_CASE("an edited entry is the first bad sequence number", "[audit]") {
  auto chain = make_chain(10);
  chain[4].path = "k/evil";  // seq 5
  const auto r = verify_audit_chain(chain);
  CHECK_FALSE(r.ok);
  CHECK(r.first_bad_seq == 5u);
  CHECK(r.entries == 4);
}

TEST_CASE("an edited and re-hashed entry breaks the link from the next one", "[audit]") {
  auto chain = make_chain(10);
  chain[4].actor = "someone-else";
  chain[4].entry_hash = compute_audit_entry_hash(chain[4]);
  CHECK(verify_audit_chain(chain).first_bad_seq == 6u);
}

TEST_CASE("a removed or reordered entry is reported where the sequence breaks", "[audit]") {
  auto removed = make_chain(10);
  removed.erase(removed.begin() + 3);  // seq 4 gone
  CHECK(verify_audit_chain(removed).first_bad_seq == 4u);

  auto swapped = make_chain(10);
  std::swap(swapped[2], swapped[3]);  // seq 4 before seq 3
  CHECK(verify_audit_chain(swapped).first_bad_seq == 3u);

  auto records = encode_all(make_chain(10));
  records.erase(records.begin() + 6);  // key 7 gone
  CHECK(verify_records(records).first_bad_seq == 7u);
}

TEST_CASE("flipping any byte of a stored entry is detected at that entry", "[audit]") {
  const auto records = encode_all(make_chain(5));
  for (std::size_t i = 0; i < records[2].second.size(); ++i) {
    auto tampered = records;
    tampered[2].second[i] = static_cast<char>(tampered[2].second[i] ^ 0x01);
    const auto r = verify_records(tampered);
    INFO("byte " << i);
    CHECK_FALSE(r.ok);
    CHECK(r.first_bad_seq == 3u);
  }
}

TEST_CASE("a range verifies from an anchor", "[audit]") {
  const auto chain = make_chain(10);
  std::vector<AuditEntry> tail(chain.begin() + 5, chain.end());
  CHECK(verify_audit_chain(tail, audit_tip(chain[4])).ok);
  CHECK(verify_audit_chain(tail).first_bad_seq == 1u);  // without the anchor seq 6 cannot be first
}

TEST_CASE("entries written in the mutation's LMDB transaction verify, and an edit in the file is found",
          "[audit][lmdb]") {
  kvs::test::TempDir dir("kvs-audit");
  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == 0);
  REQUIRE(mdb_env_set_maxdbs(env, 4) == 0);
  REQUIRE(mdb_env_open(env, dir.str().c_str(), 0, 0600) == 0);
  MDB_dbi data = 0;
  MDB_dbi audit = 0;
  {
    MDB_txn* txn = nullptr;
    REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
    REQUIRE(mdb_dbi_open(txn, "versions", MDB_CREATE, &data) == 0);
    REQUIRE(mdb_dbi_open(txn, "audit", MDB_CREATE, &audit) == 0);
    REQUIRE(mdb_txn_commit(txn) == 0);
  }

  // What the storage writer does: several batches, several intents per transaction, each
  // mutation and its audit entry in the same transaction.
  std::uint64_t written = 0;
  for (int batch = 0; batch < 5; ++batch) {
    MDB_txn* txn = nullptr;
    REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
    auto tip = read_audit_tip(txn, audit);
    REQUIRE(tip.is_ok());
    for (int i = 0; i < 7; ++i) {
      std::string key = "k/" + std::to_string(batch) + "/" + std::to_string(i);
      std::string value = "{\"v\":" + std::to_string(i) + "}";
      MDB_val k{key.size(), key.data()};
      MDB_val v{value.size(), value.data()};
      REQUIRE(mdb_put(txn, data, &k, &v, 0) == 0);
      auto entry = append_audit_entry(txn, audit, *tip, 1'700'000'000'000 + batch, "user-1",
                                      std::string(audit_action::kKvPut), key, value);
      REQUIRE(entry.is_ok());
      tip = audit_tip(*entry);
      ++written;
    }
    if (batch == 2) {
      mdb_txn_abort(txn);  // an aborted batch leaves neither mutations nor entries behind
      written -= 7;
    } else {
      REQUIRE(mdb_txn_commit(txn) == 0);
    }
  }

  MDB_txn* read = nullptr;
  REQUIRE(mdb_txn_begin(env, nullptr, MDB_RDONLY, &read) == 0);
  auto verified = verify_audit_db(read, audit);
  REQUIRE(verified.is_ok());
  CHECK(verified->ok);
  CHECK(verified->entries == written);
  auto page = read_audit_page(read, audit, 10, 5);
  REQUIRE(page.is_ok());
  REQUIRE(page->entries.size() == 5);
  CHECK(page->entries.front().seq == 10);
  CHECK(page->next_since == 15u);
  auto last = read_audit_page(read, audit, 25, 100);
  REQUIRE(last.is_ok());
  CHECK(last->entries.size() == written - 24);
  CHECK_FALSE(last->next_since.has_value());
  mdb_txn_abort(read);

  // Tamper with entry 9 as someone with the file would: rewrite its value in place.
  {
    MDB_txn* txn = nullptr;
    REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
    std::string key = audit_key(9);
    MDB_val k{key.size(), key.data()};
    MDB_val v{};
    REQUIRE(mdb_get(txn, audit, &k, &v) == 0);
    auto entry = decode_audit_entry(std::string_view(static_cast<const char*>(v.mv_data), v.mv_size));
    REQUIRE(entry.is_ok());
    entry->path = "k/forged";
    std::string bytes = encode_audit_entry(*entry);
    MDB_val nv{bytes.size(), bytes.data()};
    REQUIRE(mdb_put(txn, audit, &k, &nv, 0) == 0);
    REQUIRE(mdb_txn_commit(txn) == 0);
  }
  REQUIRE(mdb_txn_begin(env, nullptr, MDB_RDONLY, &read) == 0);
  auto tampered = verify_audit_db(read, audit);
  REQUIRE(tampered.is_ok());
  CHECK_FALSE(tampered->ok);
  CHECK(tampered->first_bad_seq == 9u);
  CHECK(tampered->entries == 8);
  mdb_txn_abort(read);
  mdb_env_close(env);
}

TEST_CASE("sealing an entry gives the same bytes as making and encoding it", "[audit]") {
  const auto made = make_audit_entry({}, 5, "a", "kv.put", "k", "{\"x\":1}");
  AuditEntry unsealed = made;
  unsealed.entry_hash = {};
  const std::string sealed = seal_audit_entry(unsealed);
  CHECK(unsealed == made);
  CHECK(sealed == encode_audit_entry(made));
}

TEST_CASE("appending with a value hashed beforehand writes the same entry", "[audit][lmdb]") {
  kvs::test::TempDir dir("kvs-audit");
  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == 0);
  REQUIRE(mdb_env_set_maxdbs(env, 4) == 0);
  REQUIRE(mdb_env_open(env, dir.str().c_str(), 0, 0600) == 0);
  MDB_txn* txn = nullptr;
  REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
  MDB_dbi a = 0;
  MDB_dbi b = 0;
  REQUIRE(mdb_dbi_open(txn, "a", MDB_CREATE, &a) == 0);
  REQUIRE(mdb_dbi_open(txn, "b", MDB_CREATE, &b) == 0);
  const std::string value = "{\"doc\":true}";
  auto one = append_audit_entry(txn, a, AuditTip{}, 7, "u", "kv.put", "p", value);
  auto two = append_audit_entry(txn, b, AuditTip{}, 7, "u", "kv.put", "p", audit_value_hash(value));
  auto none = append_audit_entry(txn, a, audit_tip(*one), 8, "u", "kv.delete", "p", std::nullopt);
  auto zero = append_audit_entry(txn, b, audit_tip(*two), 8, "u", "kv.delete", "p", AuditHash{});
  REQUIRE(one.is_ok());
  REQUIRE(two.is_ok());
  CHECK(*one == *two);
  CHECK(*none == *zero);
  auto tip = read_audit_tip(txn, a);
  REQUIRE(tip.is_ok());
  CHECK(*tip == audit_tip(*none));
  mdb_txn_abort(txn);
  mdb_env_close(env);
}
