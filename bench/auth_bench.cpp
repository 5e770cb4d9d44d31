// auth_bench: the cost of auth on the request hot path. It prints operations per second for
//   - verify_jwt: signature and claims of one HS256 token (no cache);
//   - authenticate of a token seen before (the usual case: a client sends one token on every
//     request): the verified-token cache lookup (keyed BLAKE2b), the expiry check and the
//     revocation and user lookups, with 1 and 2 threads (shared mutexes: readers scale);
//   - authenticate of a forged token (every call pays the HMAC);
//   - permission checks: the pure may_read, and Authority::check_read for a group member (one
//     cache lookup for the membership);
//   - peer request verification (HMAC over a 1 KiB body, replay cache insert).
// Figures are for one core unless stated; nothing here touches the disk.
//
//   auth_bench [--seconds S]   (default 1 s per figure)

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "auth/authority.hpp"
#include "auth/jwt.hpp"
#include "auth/permissions.hpp"
#include "auth/records.hpp"
#include "auth/scopes.hpp"
#include "bench_support.hpp"
#include "support/manual_clock.hpp"

namespace {

using namespace kvs;
using namespace kvs::auth;

// Runs `op` for `seconds` on `threads` threads; returns calls per second in all. `op` returns
// false on an unexpected result, which aborts the benchmark (a fast wrong answer is no figure).
template <class Op>
double measure(double seconds, int threads, Op op) {
  bench::Figures figures = bench::measure(threads, seconds, false, op);
  if (figures.failures != 0) {
    std::fprintf(stderr, "auth_bench: unexpected result\n");
    std::abort();
  }
  return figures.rate();
}

void print(std::string_view name, double per_second) {
  std::printf("%-48s %12.0f /s  (%7.3f us each)\n", std::string(name).c_str(), per_second, 1e6 / per_second);
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 1.0;
  bench::Flags flags(argc, argv, "usage: auth_bench [--seconds S]");
  while (flags.next()) {
    if (flags.is("--seconds")) seconds = flags.number();
    else flags.unknown();
  }

  test::ManualClock clock;
  test::SeededRandom random(1);
  Authority authority("bench cluster secret", clock, random);
  // Applies a prepared reserved write to the cache, as its committed version would be.
  auto apply = [&](const ReservedWrite& write) {
    Version version;
    version.path = write.path;
    version.uuid = make_uuid_v4(random);
    version.timestamp_ms = clock.now_ms();
    version.data = write.json;
    return authority.apply(version).is_ok();
  };

  // A realistic cache: 1000 users, 100 groups of 20, 1000 live revocations.
  std::vector<UserRecord> users;
  for (int i = 0; i < 1000; ++i) {
    auto prepared = authority.prepare_create_user(Caller::local(), "user" + std::to_string(i), kScopeRead | kScopeWrite);
    if (!apply(prepared->write)) return 1;
    users.push_back(prepared->user);
  }
  std::string group_uuid;
  for (int g = 0; g < 100; ++g) {
    std::vector<std::string> members;
    for (int m = 0; m < 20; ++m) members.push_back(users[static_cast<std::size_t>((g * 20 + m) % 1000)].uuid);
    auto prepared = authority.prepare_create_group(Caller::local(), "group" + std::to_string(g), members);
    if (!apply(prepared->write)) return 1;
    if (g == 0) group_uuid = prepared->group.uuid;
  }
  for (int r = 0; r < 1000; ++r) {
    auto revocation = authority.revoke_token(Caller::local(), "revoked-" + std::to_string(r));
    if (!apply(*revocation)) return 1;
  }

  std::vector<std::string> tokens;
  for (int i = 0; i < 64; ++i) {
    tokens.push_back(authority.issue_token(users[static_cast<std::size_t>(i)], kScopeRead | kScopeWrite)->token);
  }
  const Key& key = authority.signing_key_for_testing();
  const std::int64_t now_ms = clock.now_ms();

  std::printf("auth_bench: %.1f s per figure, %u hardware threads\n", seconds, std::thread::hardware_concurrency());
  std::printf("token size: %zu bytes\n", tokens[0].size());

  print("verify_jwt (1 thread)", measure(seconds, 1, [&](int, std::uint64_t i) {
          return verify_jwt(tokens[i % tokens.size()], key, now_ms).is_ok();
        }));
  print("authenticate, token seen before (1 thread)", measure(seconds, 1, [&](int, std::uint64_t i) {
          return authority.authenticate_at(tokens[i % tokens.size()], now_ms).is_ok();
        }));
  print("authenticate, token seen before (2 thr, total)", measure(seconds, 2, [&](int, std::uint64_t i) {
          return authority.authenticate_at(tokens[i % tokens.size()], now_ms).is_ok();
        }));
  std::string forged = tokens[0];
  forged[forged.size() - 2] = forged[forged.size() - 2] == 'A' ? 'B' : 'A';
  print("authenticate, bad signature (1 thread)", measure(seconds, 1, [&](int, std::uint64_t) {
          return !authority.authenticate_at(forged, now_ms).is_ok();
        }));

  Caller member = *authority.authenticate_at(tokens[0], now_ms);  // users[0] is in group 0
  KeyMeta meta{users[1].uuid, group_uuid, kDefaultPermissions};
  print("may_read, pure (1 thread)", measure(seconds, 1, [&](int, std::uint64_t i) {
          return may_read(member, meta, (i & 1) == 0) == ((i & 1) == 0);
        }));
  print("check_read with group lookup (1 thread)", measure(seconds, 1, [&](int, std::uint64_t) {
          return authority.check_read(member, "docs/a", meta).is_ok();
        }));
  print("check_read with group lookup (2 threads, total)", measure(seconds, 2, [&](int, std::uint64_t) {
          return authority.check_read(member, "docs/a", meta).is_ok();
        }));
  KeyMeta no_group{users[1].uuid, "", 0xF11};
  print("can_read, key without group (1 thread)", measure(seconds, 1, [&](int, std::uint64_t) {
          return authority.can_read(member, no_group);
        }));

  // Peer verification: each signature is fresh, so the replay cache is exercised too. Signing
  // is done ahead so that only verification is timed.
  std::string body(1024, 'x');
  std::vector<std::string> headers;
  PeerSigner signer(derive_keys("bench cluster secret").peer_signing, PeerSignerOptions{std::chrono::seconds(30), 1u << 22});
  for (std::uint64_t i = 0; i < 400000; ++i) {
    headers.push_back(signer.sign("POST", "/sync/push", body, "bench-node", now_ms, make_peer_nonce(i, i * 7 + 1)));
  }
  std::atomic<std::size_t> next{0};
  PeerSigner verifier(derive_keys("bench cluster secret").peer_signing, PeerSignerOptions{std::chrono::seconds(30), 1u << 22});
  print("peer verify, 1 KiB body (1 thread)", measure(seconds, 1, [&](int, std::uint64_t) {
          std::size_t n = next++;
          if (n >= headers.size()) return true;  // ran out of fresh signatures: count as done
          return verifier.verify(headers[n], "POST", "/sync/push", body, "bench-node", now_ms).is_ok();
        }));
  if (next.load() >= headers.size()) std::printf("(peer verify figure capped: all %zu signatures used)\n", headers.size());
  return 0;
}
