// The writer's held transaction (storage/writer.hpp): with a hold far longer than the test,
// every batch stays in one uncommitted LMDB transaction, and every read path of the Store must
// still see each acknowledged write, through the overlay. A backup copy, which reads data.mdb
// itself, must hold them too, and so must the store after a clean close.

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "storage/store.hpp"
#include "store_support.hpp"
#include "support/temp_dir.hpp"

namespace kvs::storage::test {
namespace {

namespace fs = std::filesystem;

StoreOptions held_options(const kvs::test::TempDir& dir) {
  StoreOptions options = options_in(dir);
  options.audit_enabled = true;
  options.hold = std::chrono::hours(1);
  options.checkpoint.interval = std::chrono::hours(1);
  return options;
}

std::string path_of(int i) { return "held/k" + std::to_string(i); }

// 40 keys written twice each (the second time every fifth one deleted), one write per batch,
// each with an audit entry.
void write_all(Store& store) {
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 40; ++i) {
      Version version = make_version(path_of(i), "u" + std::to_string(round) + "-" + std::to_string(i),
                                     1000 + round * 100 + i, "{\"round\":" + std::to_string(round) + "}");
      if (round == 1 && i % 5 == 0) version.deleted = true, version.data.clear();
      auto written = store.write(writes(version), AuditNote{"tester", "put", 1000 + i, std::nullopt});
      INFO(written.status().to_string());
      REQUIRE(written.is_ok());
    }
  }
  REQUIRE(store.put_meta("held.note", "kept").is_ok());
}

// What write_all left, read through every path the Store has.
void require_all(const Store& store) {
  std::vector<std::string> live;
  for (int i = 0; i < 40; ++i) {
    auto held = require_get(store, path_of(i));
    INFO("key " << i);
    REQUIRE(held.has_value());
    CHECK(held->uuid == "u1-" + std::to_string(i));
    CHECK(held->deleted == (i % 5 == 0));
    auto history = store.history(path_of(i));
    REQUIRE(history.is_ok());
    CHECK(history->size() == 2);
  }
  std::vector<std::string> scanned = scan_paths(store, "held/", "held0");
  CHECK(scanned.size() == 40);
  CHECK(std::is_sorted(scanned.begin(), scanned.end()));
  CHECK(since_paths(store, 1100).size() == 40);
  auto changes = store.changes(0, 1000);
  REQUIRE(changes.is_ok());
  CHECK(changes->size() == 80);
  auto meta = store.get_meta("held.note");
  REQUIRE(meta.is_ok());
  CHECK(*meta == std::optional<std::string>("kept"));
  CHECK(store.stats().keys == 40);
  auto audit = store.verify_audit();
  REQUIRE(audit.is_ok());
  CHECK(audit->ok);
  CHECK(audit->entries == 80);
}

}  // namespace

TEST_CASE("with the write transaction held open, every read sees every acknowledged write", "[storage][redo]") {
  kvs::test::TempDir dir;
  const StoreOptions options = held_options(dir);
  auto store = open_store(options);
  write_all(*store);
  require_all(*store);

  SECTION("a backup copy holds them") {
    const fs::path copy_dir = dir.path() / "copy";
    fs::create_directories(copy_dir);
    const int fd = ::open((copy_dir / "data.mdb").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    REQUIRE(fd >= 0);
    Status copied = store->copy_to_fd(fd);
    ::close(fd);
    INFO(copied.to_string());
    REQUIRE(copied.is_ok());
    StoreOptions copy_options = options;
    copy_options.dir = copy_dir;
    require_all(*open_store(copy_options));
    // The store goes on taking writes after the copy.
    require_put(*store, make_version("held/after", "after", 5000, "{}"));
    CHECK(require_get(*store, "held/after").has_value());
  }
  SECTION("a clean close commits them") {
    store.reset();
    require_all(*open_store(options));
  }
}

}  // namespace kvs::storage::test
