// storage's LMDB wrappers (storage/lmdb_env.hpp): cursor movement at the edges, the error
// mapping a test can provoke, and check_environment_file. Durability and the reader pool under
// load are covered through the Store (crash_test.cpp, writer_test.cpp), not here.

#include "storage/lmdb_env.hpp"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "storage/store.hpp"
#include "store_support.hpp"
#include "support/temp_dir.hpp"

namespace kvs::storage::test {
namespace {

using kvs::test::TempDir;

// The page cache's view of a file (the cachestat system call, Linux 6.5), or nullopt where the
// kernel has none, or where the file has no disk behind it (tmpfs: its pages stay dirty).
struct CacheStat {
  std::uint64_t cached = 0, dirty = 0, writeback = 0, evicted = 0, recently_evicted = 0;
};
std::optional<CacheStat> cache_stat(const std::filesystem::path& file) {
  struct Range {
    std::uint64_t offset = 0, length = 0;  // length 0: to the end of the file
  } range;
  CacheStat stat;
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  struct statfs fs {};
  if (::fstatfs(fd, &fs) != 0 || fs.f_type == TMPFS_MAGIC) {
    ::close(fd);
    return std::nullopt;
  }
  constexpr long kCachestat = 451;  // the same number on every architecture
  long rc = ::syscall(kCachestat, fd, &range, &stat, 0);
  ::close(fd);
  if (rc != 0) return std::nullopt;
  return stat;
}

struct Fixture {
  TempDir dir{"kvs-lmdb"};
  std::unique_ptr<lmdb::Env> env;
  lmdb::Dbi dbi = 0;

  explicit Fixture(const std::vector<std::string>& keys) {
    auto opened = lmdb::Env::open(dir.path(), std::size_t{16} << 20);
    INFO(opened.status().to_string());
    REQUIRE(opened.is_ok());
    env = std::move(*opened);
    lmdb::WriteTxn txn;
    REQUIRE(txn.begin(*env).is_ok());
    auto opened_db = txn.open_db("items");
    REQUIRE(opened_db.is_ok());
    dbi = *opened_db;
    for (const std::string& key : keys) REQUIRE(txn.put(dbi, key, "v:" + key, lmdb::What{"item"}).is_ok());
    REQUIRE(txn.commit().is_ok());
  }
};

}  // namespace

TEST_CASE("a cursor seeks to the first key at or after, and to the last key before", "[storage][lmdb]") {
  Fixture f({"b", "d", "f"});
  lmdb::ReadTxn txn(*f.env);
  REQUIRE(txn.begin().is_ok());
  lmdb::Cursor cursor;
  REQUIRE(cursor.open(txn, f.dbi, "items").is_ok());

  REQUIRE(cursor.seek("c"));
  CHECK(cursor.key() == "d");
  CHECK(cursor.value() == "v:d");
  REQUIRE(cursor.seek(""));  // empty: the first entry
  CHECK(cursor.key() == "b");
  CHECK_FALSE(cursor.seek("g"));
  CHECK_FALSE(cursor.failed());
  CHECK(cursor.status("seek").is_ok());

  REQUIRE(cursor.seek_before("d"));
  CHECK(cursor.key() == "b");
  REQUIRE(cursor.seek_before("zzz"));  // past every key: the last one
  CHECK(cursor.key() == "f");
  CHECK_FALSE(cursor.seek_before("b"));  // nothing before the first key
  CHECK_FALSE(cursor.failed());

  std::vector<std::string> backwards;
  for (bool at = cursor.last(); at; at = cursor.prev()) backwards.emplace_back(cursor.key());
  CHECK(backwards == std::vector<std::string>{"f", "d", "b"});
}

TEST_CASE("deleting under a cursor moves on to the next entry", "[storage][lmdb]") {
  Fixture f({"a", "b", "c", "d"});
  {
    lmdb::WriteTxn txn;
    REQUIRE(txn.begin(*f.env).is_ok());
    {
      // Closed before the commit: LMDB frees a write transaction's cursors when it ends.
      lmdb::Cursor cursor;
      REQUIRE(cursor.open(txn, f.dbi, "items").is_ok());
      for (bool at = cursor.first(); at; at = cursor.next()) {
        if (cursor.key() == "b" || cursor.key() == "c") REQUIRE(cursor.del("delete item").is_ok());
      }
      REQUIRE(cursor.status("scan").is_ok());
    }
    REQUIRE(txn.del(f.dbi, "absent", lmdb::What{"item"}).is_ok());  // already gone is fine
    REQUIRE(txn.commit().is_ok());
  }
  lmdb::ReadTxn txn(*f.env);
  REQUIRE(txn.begin().is_ok());
  auto entries = txn.entries(f.dbi, lmdb::What{"items"});
  REQUIRE(entries.is_ok());
  CHECK(*entries == 2);
  CHECK(txn.get(f.dbi, "b", lmdb::What{"item"}).value() == std::nullopt);
  CHECK(txn.get(f.dbi, "d", lmdb::What{"item"}).value() == std::optional<std::string_view>("v:d"));
}

TEST_CASE("an aborted write transaction leaves nothing behind", "[storage][lmdb]") {
  Fixture f({"a"});
  {
    lmdb::WriteTxn txn;
    REQUIRE(txn.begin(*f.env).is_ok());
    REQUIRE(txn.put(f.dbi, "b", "1", lmdb::What{"item"}).is_ok());
    // Destroyed without commit.
  }
  lmdb::ReadTxn txn(*f.env);
  REQUIRE(txn.begin().is_ok());
  CHECK(txn.get(f.dbi, "b", lmdb::What{"item"}).value() == std::nullopt);
}

TEST_CASE("an append out of key order is refused as an LMDB error", "[storage][lmdb]") {
  Fixture f({"m"});
  lmdb::WriteTxn txn;
  REQUIRE(txn.begin(*f.env).is_ok());
  CHECK(txn.put(f.dbi, "z", "1", lmdb::What{"item"}, lmdb::PutMode::kAppend).is_ok());
  Status refused = txn.put(f.dbi, "a", "1", lmdb::What{"item", "a"}, lmdb::PutMode::kAppend);
  CHECK(refused.code() == Status::Code::kIOError);
  CHECK(refused.message().find("put item a") != std::string::npos);
  CHECK(refused.message().find("MDB_KEYEXIST") != std::string::npos);
}

TEST_CASE("write_back leaves no page of data.mdb dirty", "[storage][lmdb]") {
  Fixture fixture({});
  REQUIRE(fixture.env->set_commit_sync(false).is_ok());
  {
    // About 4 MiB of pages, over a dozen steps of 256 KiB.
    lmdb::WriteTxn txn;
    REQUIRE(txn.begin(*fixture.env).is_ok());
    for (int i = 0; i < 3000; ++i) {
      REQUIRE(txn.put(fixture.dbi, "key/" + std::to_string(100000 + i), std::string(900, 'v'), lmdb::What{"item"})
                  .is_ok());
    }
    REQUIRE(txn.commit().is_ok());
  }
  const auto file = fixture.dir.path() / "data.mdb";
  auto before = cache_stat(file);
  if (!before) {
    WARN("no cachestat here (a kernel before 6.5, or tmpfs): write_back is checked only for its answer");
    CHECK(fixture.env->write_back(std::size_t{256} << 10, 4096).is_ok());
    return;
  }
  // A commit without sync leaves its pages dirty (the kernel writes back after 30 s at the
  // earliest, by default).
  CHECK(before->dirty > 500);
  SECTION("in steps of the size asked") {
    REQUIRE(fixture.env->write_back(std::size_t{256} << 10, 4096).is_ok());
  }
  SECTION("in larger steps where the file holds more than max_steps") {
    REQUIRE(fixture.env->write_back(4096, 3).is_ok());
  }
  auto after = cache_stat(file);
  REQUIRE(after);
  CHECK(after->dirty == 0);
  CHECK(after->writeback == 0);
  CHECK(fixture.env->sync().is_ok());
}

TEST_CASE("check_environment_file accepts a store's copy and refuses anything else", "[storage][lmdb]") {
  TempDir dir;
  auto store = open_store(options_in(dir));
  require_put(*store, make_version("k", "u", 1, "1"));
  const auto copy = dir.path() / "copy.mdb";
  {
    std::FILE* file = std::fopen(copy.c_str(), "wb");
    REQUIRE(file != nullptr);
    Status copied = store->copy_to_fd(fileno(file));
    std::fclose(file);
    REQUIRE(copied.is_ok());
  }
  CHECK(check_environment_file(copy).is_ok());

  const auto junk = dir.path() / "junk.mdb";
  std::ofstream(junk) << std::string(8192, 'x');
  CHECK(check_environment_file(junk).code() == Status::Code::kCorruption);
  CHECK(check_environment_file(dir.path() / "missing.mdb").code() == Status::Code::kCorruption);
}

}  // namespace kvs::storage::test
