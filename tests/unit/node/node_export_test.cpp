// Node::export_snapshot (libkvs/src/node/node_ops.cpp), the online export behind GET
// /admin/export: what a snapshot holds, paging, the admin rule, and its copy's cleanup. Also
// the embedder's log sink as seen by opening a node. Not covered: the REST streaming
// (tests/integration/admin_export_test.cpp).

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "kvs/log.hpp"
#include "kvs/node.hpp"
#include "support/node_fixture.hpp"

namespace kvs::test {
namespace {

using Code = Status::Code;

std::vector<Version> drain(ExportSnapshot& snapshot, std::size_t page) {
  std::vector<Version> all;
  for (int pages = 0; pages < 10'000; ++pages) {
    std::size_t before = all.size();
    auto more = snapshot.next(all, page);
    REQUIRE(more.is_ok());
    CHECK(all.size() - before <= page);
    if (!*more) return all;
  }
  FAIL("the snapshot never ended");
  return all;
}

std::size_t entries_in(const std::filesystem::path& dir) {
  std::error_code error;
  std::size_t n = 0;
  for (std::filesystem::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) ++n;
  return n;
}

}  // namespace

TEST_CASE("an export snapshot holds every version as of its copy, tombstones included, in pages", "[node][export]") {
  NodeFixture fixture;
  Node& node = fixture.node();
  for (int i = 0; i < 25; ++i) REQUIRE(node.put("k/" + std::to_string(100 + i), "{\"i\":" + std::to_string(i) + "}").is_ok());
  REQUIRE(node.remove("k/105").is_ok());
  const std::vector<Version> before = stored_versions(node);
  REQUIRE(before.size() == 25);

  auto snapshot = node.export_snapshot();
  REQUIRE(snapshot.is_ok());
  // Writes after the copy are not in it.
  REQUIRE(node.put("k/999", "1").is_ok());
  REQUIRE(node.remove("k/100").is_ok());

  std::size_t page = GENERATE(1, 7, 25, 1000);
  INFO("page " << page);
  const std::vector<Version> all = drain(**snapshot, page);
  CHECK(all == before);  // every field, the tombstone of k/105 included
  // Finished: further calls say so and add nothing.
  std::vector<Version> none;
  auto again = (*snapshot)->next(none, 10);
  REQUIRE(again.is_ok());
  CHECK_FALSE(*again);
  CHECK(none.empty());
}

TEST_CASE("an export snapshot's copy is deleted with it, and one abandoned by a crash by the next export",
          "[node][export]") {
  NodeFixture fixture;
  REQUIRE(fixture.node().put("a", "1").is_ok());
  const auto exports = std::filesystem::path(fixture.config.data_dir) / "exports";
  {
    auto snapshot = fixture.node().export_snapshot();
    REQUIRE(snapshot.is_ok());
    CHECK(entries_in(exports) == 1);
    auto second = fixture.node().export_snapshot();  // concurrent exports get their own copies
    REQUIRE(second.is_ok());
    CHECK(entries_in(exports) == 2);
    CHECK(std::filesystem::status(exports).permissions() == std::filesystem::perms::owner_all);
  }
  CHECK(entries_in(exports) == 0);

  // A copy nobody holds (its LOCK is free), as a killed process leaves it.
  std::filesystem::create_directories(exports / "export-1-0");
  std::ofstream(exports / "export-1-0" / "data.mdb") << "left behind";
  auto snapshot = fixture.node().export_snapshot();
  REQUIRE(snapshot.is_ok());
  CHECK_FALSE(std::filesystem::exists(exports / "export-1-0"));
  CHECK(entries_in(exports) == 1);
}

TEST_CASE("an export snapshot needs the admin scope for a checked caller, whatever backup_enabled says",
          "[node][export]") {
  NodeFixture fixture([](Config& config) {
    config.auth_enabled = true;
    config.backup_enabled = false;
  });
  Caller writer{false, "some-user", kScopeRead | kScopeWrite, "jti"};
  CHECK(fixture.node().export_snapshot({writer}).status().code() == Code::kPermissionDenied);
  Caller admin{false, "admin-user", kScopeAdmin, "jti"};
  auto snapshot = fixture.node().export_snapshot({admin});
  REQUIRE(snapshot.is_ok());
  // The reserved auth records (the bootstrap admin) are part of an export, as with
  // export_versions.
  CHECK(drain(**snapshot, 100) == stored_versions(fixture.node()));
}

TEST_CASE("with a log sink set, opening a node sends its INFO events to the sink and nothing to stderr",
          "[node][log]") {
  std::mutex mutex;
  std::vector<std::string> messages;
  const LogLevel level = log_level();
  set_log_sink([&](const LogEvent& event) {
    std::lock_guard lock(mutex);
    messages.emplace_back(event.message);
  });

  std::fflush(stderr);
  const TempDir capture{"kvs-stderr"};
  const std::string file = (capture / "stderr").string();
  int saved = ::dup(2);
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  ::dup2(fd, 2);
  ::close(fd);
  {
    NodeFixture fixture;  // sets the level to warn; open again at info
    set_log_level(LogLevel::kInfo);
    fixture.reopen();
    REQUIRE(fixture.node().put("a", "1").is_ok());
  }
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  set_log_sink(nullptr);
  set_log_level(level);

  std::ifstream in(file, std::ios::binary);
  std::string written((std::istreambuf_iterator<char>(in)), {});
  CHECK(written.empty());
  std::lock_guard lock(mutex);
  CHECK(std::find(messages.begin(), messages.end(), "node.opened") != messages.end());
}

}  // namespace kvs::test
