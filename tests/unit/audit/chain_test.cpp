// The audit chain on its own: hashing, encoding and verification, with no storage behind it
// (storage/audit_table_test.cpp covers the chain kept in LMDB).

#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

#include "audit/chain.hpp"

namespace {

using namespace kvs::audit;

// Keys 0, 1, ..., 31: the golden values below were computed with it.
AuditKey test_key() {
  AuditKey key{};
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::uint8_t>(i);
  return key;
}

// `n` entries after `tip`, sealed with `key` (nullptr: the unkeyed format).
std::vector<AuditEntry> make_chain(int n, const AuditKey* key = nullptr, AuditTip tip = {}) {
  std::vector<AuditEntry> chain;
  const auto first = static_cast<int>(tip.seq) + 1;
  for (int i = first; i < first + n; ++i) {
    const std::string value = "{\"n\":" + std::to_string(i) + "}";
    chain.push_back(make_audit_entry(tip, 1'700'000'000'000 + i, "user-" + std::to_string(i % 3),
                                     std::string(i % 4 == 0 ? action::kKvDelete : action::kKvPut),
                                     "k/" + std::to_string(i),
                                     i % 4 == 0 ? std::nullopt : std::optional<std::string_view>(value), key));
    tip = audit_tip(chain.back());
  }
  return chain;
}

// Rewrites entry `index` of `chain` (its path) and re-chains every later entry, sealing each
// with `key` (nullptr: unkeyed), as an intruder who lacks the real key would.
void forge(std::vector<AuditEntry>& chain, std::size_t index, const AuditKey* key) {
  chain[index].path = "k/forged";
  for (std::size_t i = index; i < chain.size(); ++i) {
    if (i > 0) chain[i].prev_hash = chain[i - 1].entry_hash;
    (void)seal_audit_entry(chain[i], key);
  }
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
  // layout documented in audit/chain.hpp. A change here changes the on-disk format.
  const auto e = make_audit_entry(AuditTip{}, 1'700'000'000'000, "admin", "kv.put", "users/john", "{\"a\":1}");
  CHECK(e.seq == 1);
  CHECK(to_hex(e.value_hash) == "10a7ff3e312baec0c356be489739b93f63af84416c40f1c13023eb96c7ed50aa");
  CHECK(to_hex(e.prev_hash) == std::string(64, '0'));
  CHECK(to_hex(e.entry_hash) == "75b36c887d14d62ec4a62bed386f9779159125004239c999369751b9d6eda41b");

  const auto d = make_audit_entry(audit_tip(e), -5, "", "kv.delete", "k", std::nullopt);
  CHECK(d.seq == 2);
  CHECK(d.prev_hash == e.entry_hash);
  CHECK(to_hex(d.value_hash) == std::string(64, '0'));
  CHECK(to_hex(d.entry_hash) == "daa6e6cd77bc7726abed2c40c13839c96db6405c568564955fe5f430732259bc");

  const auto bytes = audit_canonical_bytes(e);
  CHECK(bytes.size() == 1 + 8 + 8 + (4 + 5) + (4 + 6) + (4 + 10) + 32 + 32);
  CHECK(bytes[0] == static_cast<char>(kAuditFormatUnkeyed));
}

TEST_CASE("a keyed entry hash is BLAKE2b-256 keyed over the same layout with format byte 2", "[audit]") {
  // Python: hashlib.blake2b(canonical, digest_size=32, key=bytes(range(32))), the canonical
  // bytes as documented, first byte 2.
  const AuditKey key = test_key();
  const auto e = make_audit_entry(AuditTip{}, 1'700'000'000'000, "admin", "kv.put", "users/john", "{\"a\":1}", &key);
  CHECK(e.format == kAuditFormatKeyed);
  CHECK(audit_canonical_bytes(e)[0] == static_cast<char>(kAuditFormatKeyed));
  CHECK(to_hex(e.entry_hash) == "0f51b91356fcf7deaddd3d00c41e1f25fe3428bf9c803ced3c4f3abdcfa9c4c8");
  CHECK(compute_audit_entry_hash(e, &key) == e.entry_hash);
  CHECK_FALSE(compute_audit_entry_hash(e).has_value());  // no key, no hash to compare
  auto decoded = decode_audit_entry(encode_audit_entry(e));
  REQUIRE(decoded.is_ok());
  CHECK(*decoded == e);
}

TEST_CASE("unkeyed entries written before the chain was keyed verify, and keyed ones after them", "[audit]") {
  const AuditKey key = test_key();
  auto chain = make_chain(5);  // the old format
  auto keyed = make_chain(5, &key, audit_tip(chain.back()));
  chain.insert(chain.end(), keyed.begin(), keyed.end());
  const auto r = verify_audit_chain(chain, {}, &key);
  CHECK(r.ok);
  CHECK(r.entries == 10);
  CHECK(r.last == audit_tip(chain.back()));
  CHECK(verify_audit_chain(make_chain(5), {}, &key).ok);  // an old chain alone, with the key
  // Without the key the keyed part cannot be checked; with another key it does not verify.
  CHECK(verify_audit_chain(chain).first_bad_seq == 6u);
  AuditKey other = key;
  other[0] ^= 1;
  CHECK(verify_audit_chain(chain, {}, &other).first_bad_seq == 6u);
}

TEST_CASE("an entry rewritten and re-chained without the key is detected at that entry", "[audit]") {
  const AuditKey key = test_key();
  AuditKey guessed = key;
  guessed[31] ^= 0x80;
  const AuditKey* const forgers[] = {nullptr, &guessed};
  for (const AuditKey* forger_key : forgers) {
    auto chain = make_chain(10, &key);
    forge(chain, 4, forger_key);  // seq 5 onwards
    const auto r = verify_audit_chain(chain, {}, &key);
    INFO((forger_key == nullptr ? "re-chained unkeyed" : "re-chained with a guessed key"));
    CHECK_FALSE(r.ok);
    CHECK(r.first_bad_seq == 5u);
    CHECK(r.entries == 4);
  }
}

TEST_CASE("an unkeyed entry after a keyed one is refused, even with a hash that checks", "[audit]") {
  const AuditKey key = test_key();
  auto chain = make_chain(4, &key);
  auto appended = make_chain(2, nullptr, audit_tip(chain.back()));  // valid unkeyed hashes
  chain.insert(chain.end(), appended.begin(), appended.end());
  const auto r = verify_audit_chain(chain, {}, &key);
  CHECK_FALSE(r.ok);
  CHECK(r.first_bad_seq == 5u);
  CHECK_THAT(r.reason, Catch::Contains("unkeyed entry after keyed"));
}

TEST_CASE("with the expected head known, a truncated chain and a rewritten old chain are detected", "[audit]") {
  const AuditKey key = test_key();
  auto chain = make_chain(10, &key);
  const AuditTip head = audit_tip(chain.back());
  REQUIRE(verify_audit_chain(chain, {}, &key, head).ok);
  // A head from earlier still verifies against the longer chain.
  CHECK(verify_audit_chain(chain, {}, &key, audit_tip(chain[6])).ok);

  SECTION("truncated") {
    chain.resize(7);  // entries 8, 9, 10 removed from the end
    CHECK(verify_audit_chain(chain, {}, &key).ok);  // the chain alone cannot tell
    const auto r = verify_audit_chain(chain, {}, &key, head);
    CHECK_FALSE(r.ok);
    CHECK(r.first_bad_seq == 8u);
    CHECK(r.entries == 7);
    CHECK_THAT(r.reason, Catch::Contains("before the expected head 10"));
    chain.clear();
    CHECK(verify_audit_chain(chain, {}, &key, head).first_bad_seq == 1u);
  }
  SECTION("an unkeyed chain rewritten and re-chained whole") {
    // Entries from before the keying can be re-chained by anyone: only the head tells.
    auto old = make_chain(10);
    const AuditTip old_head = audit_tip(old.back());
    forge(old, 2, nullptr);
    CHECK(verify_audit_chain(old, {}, &key).ok);
    const auto r = verify_audit_chain(old, {}, &key, old_head);
    CHECK_FALSE(r.ok);
    CHECK(r.first_bad_seq == 10u);
    CHECK_THAT(r.reason, Catch::Contains("expected head"));
  }
  SECTION("a head hash that is not the chain's") {
    AuditTip wrong = head;
    wrong.hash[0] ^= 1;
    CHECK(verify_audit_chain(chain, {}, &key, wrong).first_bad_seq == 10u);
  }
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
  std::string v3 = bytes;
  v3[0] = 3;
  CHECK_THAT(decode_audit_entry(v3).status().message(), Catch::Contains("unknown format version 3"));
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
  chain[4].entry_hash = *compute_audit_entry_hash(chain[4]);
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
TEST_CASE("sealing an entry gives the same bytes as making and encoding it", "[audit]") {
  const auto made = make_audit_entry({}, 5, "a", "kv.put", "k", "{\"x\":1}");
  AuditEntry unsealed = made;
  unsealed.entry_hash = {};
  const std::string sealed = seal_audit_entry(unsealed);
  CHECK(unsealed == made);
  CHECK(sealed == encode_audit_entry(made));
}

