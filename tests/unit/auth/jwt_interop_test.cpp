// Interop with a standard JWT library: PyJWT (Debian package python3-jwt). The test runs
// python3 with the derived signing key as hex; it is skipped (with a warning) when no python3
// on this machine can import jwt, except under CI (CI set), where that fails.

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include <catch2/catch.hpp>

#include "auth/authority.hpp"
#include "auth/scopes.hpp"
#include "auth/secret.hpp"
#include "support/manual_clock.hpp"
#include "util/hex.hpp"

using namespace kvs;
using namespace kvs::auth;

namespace {

// The first python3 that has the jwt module: the one on PATH may be a separate installation
// (pyenv, venv) without Debian's packages, so the system interpreter is tried too.
std::optional<std::string> python_with_jwt() {
  for (const char* candidate : {"python3", "/usr/bin/python3"}) {
    std::string probe = std::string(candidate) + " -c 'import jwt' >/dev/null 2>&1";
    if (std::system(probe.c_str()) == 0) return std::string(candidate);
  }
  return std::nullopt;
}

// Runs `python -c script args...` and returns its stdout without the trailing newline, and
// whether it exited 0. Arguments are single-quoted; they hold only hex, base64url and dots.
struct Run {
  int exit_code;
  std::string out;
};
Run run_python(const std::string& python, const std::string& script, const std::vector<std::string>& args) {
  std::string command = python + " -c '" + script + "'";
  for (const auto& arg : args) command += " '" + arg + "'";
  command += " 2>&1";
  Run run{-1, ""};
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return run;
  char buffer[4096];
  std::size_t got = 0;
  while ((got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) run.out.append(buffer, got);
  int status = ::pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  while (!run.out.empty() && (run.out.back() == '\n' || run.out.back() == '\r')) run.out.pop_back();
  return run;
}

std::string key_hex(const Key& key) {
  return util::to_hex(std::string_view(reinterpret_cast<const char*>(key.data()), key.size()));
}

// Signs a token of the kvs shape with PyJWT: argv = key hex, sub, jti, iat, exp, algorithm.
constexpr const char* kSignScript =
    "import sys, jwt\n"
    "key = bytes.fromhex(sys.argv[1])\n"
    "claims = {\"sub\": sys.argv[2], \"scopes\": [\"read\", \"write\"], \"iat\": int(sys.argv[4]),"
    " \"exp\": int(sys.argv[5]), \"jti\": sys.argv[3]}\n"
    "alg = sys.argv[6]\n"
    "token = jwt.encode(claims, None if alg == \"none\" else key, algorithm=alg)\n"
    "print(token if isinstance(token, str) else token.decode())\n";

}  // namespace

TEST_CASE("a standard JWT library verifies kvs tokens, and kvs accepts only its tokens signed with the right key",
          "[auth][jwt][interop]") {
  auto python = python_with_jwt();
  if (!python) {
    // CI installs python3-jwt (scripts/setup.sh), so there a missing module is a failure.
    if (std::getenv("CI") != nullptr) FAIL("CI is set but no python3 can import jwt (python3-jwt)");
    WARN("no python3 with the jwt module (Debian package python3-jwt): interop not checked");
    return;
  }
  // PyJWT checks exp against the real clock, so this test lives in real time.
  test::ManualClock clock(system_clock().now_ms());
  test::SeededRandom random(11);
  Authority authority("interop cluster secret", clock, random);
  UserRecord alice{"3f1c2b9a-1d2e-4f00-8a00-00000000a11c", "alice", kScopeRead | kScopeWrite, 0};
  Version version;
  version.path = user_key(alice.uuid);
  version.uuid = "v1";
  version.timestamp_ms = clock.now_ms();
  version.data = encode_user(alice);
  REQUIRE(authority.apply(version).is_ok());
  const std::string key = key_hex(authority.signing_key_for_testing());

  SECTION("PyJWT verifies a kvs token and reads its claims") {
    auto minted = authority.issue_token(alice, kScopeRead | kScopeWrite);
    REQUIRE(minted.is_ok());
    Run run = run_python(*python,
                         "import sys, jwt\n"
                         "c = jwt.decode(sys.argv[2], bytes.fromhex(sys.argv[1]), algorithms=[\"HS256\"])\n"
                         "print(c[\"sub\"], \",\".join(c[\"scopes\"]), c[\"jti\"], c[\"exp\"])\n",
                         {key, minted->token});
    INFO(run.out);
    REQUIRE(run.exit_code == 0);
    CHECK(run.out == alice.uuid + " read,write " + minted->token_id + " " + std::to_string(minted->claims.expires_at_s));
  }

  SECTION("PyJWT refuses a kvs token under another key") {
    auto minted = authority.issue_token(alice, kScopeRead);
    REQUIRE(minted.is_ok());
    Run run = run_python(*python,
                         "import sys, jwt\n"
                         "jwt.decode(sys.argv[2], bytes.fromhex(sys.argv[1]), algorithms=[\"HS256\"])\n",
                         {std::string(64, '0'), minted->token});
    CHECK(run.exit_code != 0);
    CHECK(run.out.find("Signature verification failed") != std::string::npos);
  }

  std::string iat = std::to_string(clock.now_ms() / 1000);
  std::string exp = std::to_string(clock.now_ms() / 1000 + 3600);

  SECTION("kvs accepts a PyJWT token signed with the derived key") {
    Run run = run_python(*python, kSignScript, {key, alice.uuid, "c0ffee00-0000-4000-8000-000000000001", iat, exp, "HS256"});
    INFO(run.out);
    REQUIRE(run.exit_code == 0);
    auto caller = authority.authenticate(run.out);
    INFO(caller.status().to_string());
    REQUIRE(caller.is_ok());
    CHECK(caller->user_uuid == alice.uuid);
    CHECK(caller->scopes == (kScopeRead | kScopeWrite));
    CHECK(caller->token_id == "c0ffee00-0000-4000-8000-000000000001");
  }

  SECTION("kvs rejects a PyJWT token signed with another key") {
    Run run = run_python(*python, kSignScript,
                         {std::string(64, 'a'), alice.uuid, "c0ffee00-0000-4000-8000-000000000002", iat, exp, "HS256"});
    REQUIRE(run.exit_code == 0);
    auto caller = authority.authenticate(run.out);
    CHECK(caller.status().code() == Status::Code::kUnauthenticated);
    CHECK(caller.status().message() == "token signature does not match");
  }

  SECTION("kvs rejects PyJWT tokens with alg none and alg HS512, even with the right key") {
    Run none = run_python(*python, kSignScript, {key, alice.uuid, "c0ffee00-0000-4000-8000-000000000003", iat, exp, "none"});
    REQUIRE(none.exit_code == 0);
    CHECK(authority.authenticate(none.out).status().code() == Status::Code::kUnauthenticated);
    Run hs512 =
        run_python(*python, kSignScript, {key, alice.uuid, "c0ffee00-0000-4000-8000-000000000004", iat, exp, "HS512"});
    REQUIRE(hs512.exit_code == 0);
    auto refused = authority.authenticate(hs512.out);
    CHECK(refused.status().code() == Status::Code::kUnauthenticated);
    CHECK(refused.status().message() == "token alg must be HS256");
  }
}
