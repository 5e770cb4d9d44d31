// The audit log's JSON for the REST edge (the chain itself: tests/unit/audit/chain_test.cpp).

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "features/audit.hpp"
#include "features/json_text.hpp"

using namespace kvs::features;

TEST_CASE("audit JSON has the documented fields and escapes what it must", "[audit]") {
  auto e = make_audit_entry({}, 1'700'000'000'000, "ad\"min", "kv.put", "a/\n\x01/\xff", "{}");
  const auto json = audit_entry_to_json(e);
  CHECK_THAT(json, Catch::StartsWith("{\"seq\":1,\"timestamp\":1700000000000,\"actor\":\"ad\\\"min\""));
  CHECK_THAT(json, Catch::Contains("\"path\":\"a/\\n\\u0001/\xEF\xBF\xBD\""));
  CHECK_THAT(json, Catch::Contains("\"hash\":\"" + to_hex(e.entry_hash) + "\""));
  const auto deleted = make_audit_entry(audit_tip(e), 2, "a", "kv.delete", "k", std::nullopt);
  CHECK_THAT(audit_entry_to_json(deleted), Catch::Contains("\"value_hash\":null"));

  std::vector<AuditEntry> page{e, deleted};
  CHECK_THAT(audit_page_to_json(page, 3), Catch::EndsWith("],\"next_since\":3}"));
  CHECK(audit_page_to_json({}, std::nullopt) == "{\"entries\":[],\"next_since\":null}");

  AuditVerifyResult ok;
  ok.entries = 12;
  CHECK(audit_verify_to_json(ok) == "{\"ok\":true,\"entries\":12}");
  AuditVerifyResult bad;
  bad.ok = false;
  bad.first_bad_seq = 7;
  CHECK(audit_verify_to_json(bad) == "{\"ok\":false,\"first_bad_seq\":7}");
}

TEST_CASE("json_quote keeps valid UTF-8 and replaces invalid bytes", "[audit]") {
  CHECK(json_quote("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80") == "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"");
  CHECK(json_quote("\xC0\xAF") == "\"\xEF\xBF\xBD\xEF\xBF\xBD\"");  // overlong '/'
  CHECK(json_quote("\xED\xA0\x80") == "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");  // surrogate
  CHECK(json_quote(std::string("a\0b", 3)) == "\"a\\u0000b\"");
  CHECK(json_quote("tab\there\\") == "\"tab\\there\\\\\"");
}

