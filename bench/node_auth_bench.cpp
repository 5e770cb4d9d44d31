// node_auth_bench: GET and PUT throughput of kvs::Node with auth on against auth off, in one
// run. With auth on, every operation is what a REST request costs the node: authenticate the
// bearer token, then the call for that caller, with its scope and permission checks (the key
// belongs to the token's user; a group member reads through the group bits). With auth off,
// the same call as the trusted application. Both nodes store on the same disk with fsync.
//
//   node_auth_bench [--seconds S] [--keys N] [--get-threads T] [--put-threads T]

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "bench_support.hpp"
#include "kvs/log.hpp"
#include "kvs/node.hpp"
#include "support/temp_dir.hpp"

namespace {

using namespace kvs;
using SteadyClock = std::chrono::steady_clock;

struct Options {
  double seconds = 2;
  int keys = 10000;
  int get_threads = 2;
  int put_threads = 16;
};

template <class Op>
double measure(double seconds, int threads, Op op) {
  bench::Figures figures = bench::measure(threads, seconds, false, op);
  if (figures.failures != 0) {
    std::fprintf(stderr, "node_auth_bench: an operation failed\n");
    std::exit(1);
  }
  return figures.rate();
}

std::unique_ptr<Node> open_node(const std::filesystem::path& dir, bool auth) {
  Config config = bench::lone_node_config(dir, auth ? "bench-auth" : "bench-open");
  config.auth_enabled = auth;
  config.revision_history_enabled = true;
  return bench::open_node_or_exit(config, "node_auth_bench");
}

std::string key_of(int i) { return "bench/users/" + std::to_string(i) + "/profile"; }

}  // namespace

int main(int argc, char** argv) {
  Options options;
  bench::Flags flags(argc, argv, "usage: node_auth_bench [--seconds S] [--keys N] [--get-threads T] [--put-threads T]");
  while (flags.next()) {
    if (flags.is("--seconds")) options.seconds = flags.number();
    else if (flags.is("--keys")) options.keys = static_cast<int>(flags.integer());
    else if (flags.is("--get-threads")) options.get_threads = static_cast<int>(flags.integer());
    else if (flags.is("--put-threads")) options.put_threads = static_cast<int>(flags.integer());
    else flags.unknown();
  }
  set_log_level(LogLevel::kWarn);
  const kvs::test::TempDir scratch("kvs-node-auth-bench");
  const std::filesystem::path& root = scratch.path();

  auto open = open_node(root / "open", false);
  auto secured = open_node(root / "auth", true);
  std::string admin_token;
  std::ifstream(secured->config().data_dir + "/admin.token") >> admin_token;
  Caller admin = *secured->authenticate(admin_token);
  auto owner = secured->create_user("owner", kScopeRead | kScopeWrite, {admin});
  auto reader = secured->create_user("reader", kScopeRead, {admin});
  auto group = secured->create_group("readers", {owner->uuid, reader->uuid}, {admin});
  std::string owner_token = secured->mint_token(owner->uuid, kScopeRead | kScopeWrite, {admin})->token;
  std::string reader_token = secured->mint_token(reader->uuid, kScopeRead, {admin})->token;
  if (!group.is_ok()) {
    std::fprintf(stderr, "node_auth_bench: set-up failed: %s\n", group.status().to_string().c_str());
    return 1;
  }

  const std::string document = R"({"name":"someone","age":42,"tags":["a","b","c"],"bio":"a short biography"})";
  // Load both nodes with the same keys (auth: owned by `owner`, group `readers`), in batches
  // of concurrent writers so that group commit keeps the load short.
  auto load = [&](Node& node, bool auth) {
    std::atomic<int> next{0};
    std::vector<std::thread> loaders;
    for (int t = 0; t < 32; ++t) {
      loaders.emplace_back([&] {
        Caller caller = auth ? *node.authenticate(owner_token) : Caller::local();
        for (int i = next++; i < options.keys; i = next++) {
          PutOptions put;
          put.caller = caller;
          if (auth) put.group_uuid = group->uuid;
          if (!node.put(key_of(i), document, put).is_ok()) std::exit(1);
        }
      });
    }
    for (auto& loader : loaders) loader.join();
  };
  load(*open, false);
  load(*secured, true);

  auto get_open = [&](int t, std::uint64_t n) {
    return open->get(key_of(static_cast<int>((n * 7919 + t * 104729) % options.keys))).is_ok();
  };
  // A REST GET with auth: authenticate the token, then read as that caller (group bits).
  auto get_auth = [&](int t, std::uint64_t n) {
    auto caller = secured->authenticate(reader_token);
    if (!caller.is_ok()) return false;
    return secured->get(key_of(static_cast<int>((n * 7919 + t * 104729) % options.keys)), ReadOptions{*caller}).is_ok();
  };
  auto put_open = [&](int t, std::uint64_t n) {
    return open->put(key_of(static_cast<int>((n * 31 + t * 1009) % options.keys)), document).is_ok();
  };
  // A REST PUT with auth: authenticate, then a replace checked against the owner bits.
  auto put_auth = [&](int t, std::uint64_t n) {
    auto caller = secured->authenticate(owner_token);
    if (!caller.is_ok()) return false;
    PutOptions put;
    put.caller = *caller;
    return secured->put(key_of(static_cast<int>((n * 31 + t * 1009) % options.keys)), document, put).is_ok();
  };

  // Interleave the two sides so that drift in the machine's load affects both alike.
  double gets[2] = {0, 0};
  double puts[2] = {0, 0};
  for (int round = 0; round < 2; ++round) {
    gets[0] += measure(options.seconds / 2, options.get_threads, get_open);
    gets[1] += measure(options.seconds / 2, options.get_threads, get_auth);
    puts[0] += measure(options.seconds / 2, options.put_threads, put_open);
    puts[1] += measure(options.seconds / 2, options.put_threads, put_auth);
  }
  std::printf("node_auth_bench: %d keys, %.1f s per figure\n", options.keys, options.seconds);
  std::printf("GET  %2d threads: auth off %10.0f ops/s   auth on %10.0f ops/s   on/off %5.1f%%\n",
              options.get_threads, gets[0] / 2, gets[1] / 2, 100.0 * gets[1] / gets[0]);
  std::printf("PUT  %2d threads: auth off %10.0f ops/s   auth on %10.0f ops/s   on/off %5.1f%%\n",
              options.put_threads, puts[0] / 2, puts[1] / 2, 100.0 * puts[1] / puts[0]);

  open.reset();
  secured.reset();
  return 0;
}
