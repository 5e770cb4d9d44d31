// A child process writes through the store from many threads and reports every acknowledged
// write on a pipe; the parent kills it with SIGKILL mid-stream, reopens the directory and
// checks that every acknowledged write is there and that no transaction was half-applied.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "storage/store.hpp"
#include "store_support.hpp"
#include "support/forked_child.hpp"
#include "support/temp_dir.hpp"

namespace kvs::storage::test {
namespace {

constexpr int kThreads = 8;
constexpr int kKeysPerThread = 40;
constexpr std::size_t kAcksBeforeKill = 400;

// Runs in the forked child: writes until killed. Each acknowledged write is reported as one
// line "path seq\n" (shorter than PIPE_BUF, so lines from different threads never interleave).
[[noreturn]] void write_until_killed(const StoreOptions& options, int report_fd) {
  auto opened = Store::open(options);
  if (!opened.is_ok()) ::_exit(3);
  Store& store = **opened;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&store, t, report_fd] {
      for (std::uint64_t seq = 1;; ++seq) {
        std::string path = "crash/t" + std::to_string(t) + "/k" + std::to_string(seq % kKeysPerThread);
        Version version = make_version(path, std::to_string(seq), static_cast<std::int64_t>(seq),
                                       "{\"seq\":" + std::to_string(seq) + "}");
        if (seq % 3 == 0) version.expires_at_ms = static_cast<std::int64_t>(seq) * 1000;
        if (!put(store, version).is_ok()) ::_exit(4);
        std::string line = path + " " + std::to_string(seq) + "\n";
        if (::write(report_fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) ::_exit(5);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  ::_exit(0);
}

TEST_CASE("a process killed mid-write loses no acknowledged write and leaves no half-applied one",
          "[storage][crash]") {
  kvs::test::TempDir dir;
  StoreOptions options = options_in(dir);
  options.max_revisions = 3;
  auto [child, read_fd] = kvs::test::fork_child([&](int write_fd) { write_until_killed(options, write_fd); });

  // Read acknowledgements until enough have arrived, then kill; then drain what was already
  // reported (those writes were acknowledged before the kill too).
  std::map<std::string, std::uint64_t> acked;  // path -> highest acknowledged seq
  std::size_t acks = 0;
  std::string pending;
  bool killed = false;
  char buffer[4096];
  for (ssize_t got; (got = ::read(read_fd, buffer, sizeof buffer)) > 0;) {
    pending.append(buffer, static_cast<std::size_t>(got));
    for (std::size_t newline; (newline = pending.find('\n')) != std::string::npos;) {
      std::istringstream line(pending.substr(0, newline));
      pending.erase(0, newline + 1);
      std::string path;
      std::uint64_t seq = 0;
      line >> path >> seq;
      acked[path] = std::max(acked[path], seq);
      ++acks;
    }
    if (!killed && acks >= kAcksBeforeKill) {
      ::kill(child, SIGKILL);
      killed = true;
    }
  }
  ::close(read_fd);
  int wait_status = 0;
  REQUIRE(::waitpid(child, &wait_status, 0) == child);
  INFO("child exit status " << wait_status);
  REQUIRE(killed);
  REQUIRE(WIFSIGNALED(wait_status));
  CHECK(pending.empty());

  auto store = open_store(options);
  for (const auto& [path, seq] : acked) {
    auto held = require_get(*store, path);
    REQUIRE(held.has_value());
    // The key holds the acknowledged write or a later one of the same thread.
    CHECK(std::stoull(held->uuid) >= seq);
    CHECK(held->data == "{\"seq\":" + held->uuid + "}");
  }

  // Every index agrees with the versions: nothing was applied by halves.
  std::uint64_t versions = 0;
  std::uint64_t with_expiry = 0;
  Status scanned = store->scan("", "", [&](const Version& version) {
    ++versions;
    if (version.expires_at_ms) ++with_expiry;
    auto history = store->history(version.path);
    CHECK(history.is_ok());
    if (history.is_ok()) {
      CHECK_FALSE(history->empty());
      if (!history->empty()) CHECK(history->front().version == version);
    }
    return true;
  });
  REQUIRE(scanned.is_ok());
  auto stats = store->stats();
  CHECK(stats.keys == versions);
  CHECK(stats.live_keys == versions);
  std::uint64_t indexed = 0;
  REQUIRE(store->scan_since(0, [&](const Version&) { return ++indexed, true; }).is_ok());
  CHECK(indexed == versions);
  auto expiring = store->expired(std::numeric_limits<std::int64_t>::max(), 1'000'000);
  REQUIRE(expiring.is_ok());
  CHECK(expiring->size() == with_expiry);
  auto changes = store->changes(0, 1'000'000);
  REQUIRE(changes.is_ok());
  CHECK(changes->size() == stats.last_sequence);
  CHECK(stats.last_sequence >= acks);
  if (!changes->empty()) CHECK(changes->back().first == stats.last_sequence);
}

}  // namespace
}  // namespace kvs::storage::test
