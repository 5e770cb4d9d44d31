// Storage full (SPEC section 2, "Storage full"; storage/space.hpp): client writes are refused
// with kInsufficientStorage once free map or disk space would fall below the headroom, while
// tombstones, purges and writes allowed the headroom still commit; writes resume once space is
// freed or the map is grown at reopen, and every acknowledged write reads back.
//
// Not covered here: the REST rendering (507, /ready), which tests/integration/storage_test.cpp
// checks against a real kvs-server. The disk-full case needs a small filesystem: it mounts a
// tmpfs of 8 MiB, which needs root (CAP_SYS_ADMIN); elsewhere it is skipped with a warning.

#include "storage/space.hpp"

#include <cerrno>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "storage/store.hpp"
#include "store_support.hpp"
#include "support/temp_dir.hpp"

namespace kvs::storage::test {
namespace {

using kvs::test::TempDir;
using Code = Status::Code;

std::string key_of(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "k/%05d", i);
  return buf;
}

Version tombstone_of(const Version& held, std::int64_t timestamp_ms) {
  Version tombstone = make_version(held.path, held.uuid + "-deleted", timestamp_ms, "");
  tombstone.deleted = true;
  return tombstone;
}

// Writes documents of `document_bytes` until the store refuses one for space, then 1-byte
// documents until it refuses those too: then not even the smallest client write fits. Returns
// what was acknowledged; every refusal must be kInsufficientStorage naming map_size_mb.
std::map<std::string, Version> fill(Store& store, int first, std::size_t document_bytes = 1024) {
  std::map<std::string, Version> acknowledged;
  bool small = false;
  for (int i = first; i < first + 20000; ++i) {
    Version version = make_version(key_of(i), "u" + std::to_string(i), 1000 + i,
                                   small ? std::string("1")
                                         : incompressible_document(document_bytes, static_cast<std::uint32_t>(i)));
    auto written = put(store, version);
    if (!written.is_ok()) {
      INFO(written.status().to_string());
      REQUIRE(written.status().code() == Code::kInsufficientStorage);
      CHECK(written.status().code_name() == "insufficient_storage");
      CHECK(written.status().message().find("map_size_mb") != std::string::npos);
      if (small) return acknowledged;
      small = true;
      continue;
    }
    acknowledged.emplace(version.path, version);
  }
  FAIL("the store never refused a write");
  return acknowledged;
}

void check_reads_back(const Store& store, const std::map<std::string, Version>& acknowledged) {
  for (const auto& [path, version] : acknowledged) {
    auto held = require_get(store, path);
    REQUIRE(held.has_value());
    CHECK(held->uuid == version.uuid);
    CHECK(held->data == version.data);
  }
}

TEST_CASE("the headroom is 1/32 of the map, between 256 KiB and 32 MiB", "[storage][space]") {
  CHECK(headroom_bytes(std::uint64_t{1} << 20) == std::uint64_t{256} << 10);
  CHECK(headroom_bytes(std::uint64_t{64} << 20) == std::uint64_t{2} << 20);
  CHECK(headroom_bytes(std::uint64_t{64} << 30) == std::uint64_t{32} << 20);
}

TEST_CASE("a full map refuses client writes but takes deletes, and writes resume once space is freed",
          "[storage][space]") {
  TempDir dir;
  auto options = options_in(dir);
  options.map_size_bytes = std::size_t{1} << 20;
  options.compression_enabled = false;
  auto store = open_store(options);

  auto space = store->space();
  REQUIRE(space.is_ok());
  CHECK(space->map_bytes == options.map_size_bytes);
  CHECK(takes_client_writes(*space));

  std::map<std::string, Version> acknowledged = fill(*store, 0);
  REQUIRE(acknowledged.size() > 50);
  space = store->space();
  REQUIRE(space.is_ok());
  CHECK_FALSE(takes_client_writes(*space));
  CHECK(space->free_bytes > 0);  // the headroom is still there for what follows

  // Deletes (tombstones) still commit, and so does a write allowed the headroom.
  std::vector<Version> tombstones;
  const std::size_t to_delete = acknowledged.size() / 2;
  std::int64_t deleted = 0;
  for (auto it = acknowledged.begin(); it != acknowledged.end() && tombstones.size() < to_delete; ++deleted) {
    Version tombstone = tombstone_of(it->second, 100000 + deleted);
    auto written = put(*store, tombstone);
    INFO(written.status().to_string());
    REQUIRE(written.is_ok());
    tombstones.push_back(tombstone);
    it = acknowledged.erase(it);
  }
  auto revocation = store->write(writes(make_version("_auth/revoked/j1", "r1", 5, "{}")), 0, Headroom::kMayUse);
  INFO(revocation.status().to_string());
  REQUIRE(revocation.is_ok());

  // Purging the tombstones (what the sweeper does after tombstone_ttl) frees their pages.
  for (const Version& tombstone : tombstones) {
    auto purged = store->purge(tombstone.path, tombstone.uuid);
    INFO(purged.status().to_string());
    REQUIRE(purged.is_ok());
    CHECK(*purged);
  }
  space = store->space();
  REQUIRE(space.is_ok());
  CHECK(takes_client_writes(*space));
  auto more = fill(*store, 50000);
  CHECK(more.size() > 5);
  acknowledged.insert(more.begin(), more.end());

  check_reads_back(*store, acknowledged);
  for (const Version& tombstone : tombstones) CHECK(require_get(*store, tombstone.path) == std::nullopt);
}

TEST_CASE("a store reopened with a larger map takes writes again and has lost nothing", "[storage][space]") {
  TempDir dir;
  auto options = options_in(dir);
  options.map_size_bytes = std::size_t{1} << 20;
  options.compression_enabled = false;
  std::map<std::string, Version> acknowledged;
  {
    auto store = open_store(options);
    acknowledged = fill(*store, 0);
  }
  options.map_size_bytes = std::size_t{4} << 20;
  auto store = open_store(options);
  check_reads_back(*store, acknowledged);
  auto space = store->space();
  REQUIRE(space.is_ok());
  CHECK(space->map_bytes == options.map_size_bytes);
  CHECK(takes_client_writes(*space));
  auto more = fill(*store, 50000);
  CHECK(more.size() > acknowledged.size());
  check_reads_back(*store, acknowledged);
  check_reads_back(*store, more);
}

TEST_CASE("a client write larger than the room left is refused before it reaches LMDB", "[storage][space]") {
  TempDir dir;
  auto options = options_in(dir);
  options.map_size_bytes = std::size_t{1} << 20;
  options.compression_enabled = false;
  auto store = open_store(options);
  auto refused = put(*store, make_version("huge", "u1", 1, incompressible_document(std::size_t{600} << 10, 7)));
  CHECK(refused.status().code() == Code::kInsufficientStorage);
  CHECK(refused.status().message().find("MDB_MAP_FULL") == std::string::npos);  // refused by the headroom
  require_put(*store, make_version("small", "u2", 2, "1"));
}

// A tmpfs of `size_mb` MiB at a fresh folder under `parent`, unmounted (and removed) on scope
// exit. mounted() is false when the kernel refused (no root, or in a container without
// CAP_SYS_ADMIN); then `why` says so.
class SmallFilesystem {
 public:
  SmallFilesystem(const std::filesystem::path& parent, int size_mb) : dir_(parent / "small-fs") {
    std::filesystem::create_directories(dir_);
    std::string data = "size=" + std::to_string(size_mb) + "m,mode=0700";
    if (::mount("tmpfs", dir_.c_str(), "tmpfs", 0, data.c_str()) == 0) {
      mounted_ = true;
    } else {
      why_ = std::strerror(errno);
    }
  }
  ~SmallFilesystem() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  SmallFilesystem(const SmallFilesystem&) = delete;
  SmallFilesystem& operator=(const SmallFilesystem&) = delete;

  bool mounted() const noexcept { return mounted_; }
  const std::string& why() const noexcept { return why_; }
  const std::filesystem::path& path() const noexcept { return dir_; }

 private:
  std::filesystem::path dir_;
  bool mounted_ = false;
  std::string why_;
};

TEST_CASE("a full disk refuses client writes but takes deletes, and writes resume once space is freed",
          "[storage][space]") {
  TempDir dir;
  SmallFilesystem fs(dir.path(), 8);
  if (!fs.mounted()) {
    WARN("SKIPPED: cannot mount a tmpfs of 8 MiB for the disk-full test (" + fs.why() +
         "); it needs root or CAP_SYS_ADMIN");
    return;
  }
  StoreOptions options;
  options.dir = fs.path() / "data";
  options.map_size_bytes = std::size_t{64} << 20;  // far more than the disk: the disk is the limit
  options.compression_enabled = false;
  auto store = open_store(options);

  std::map<std::string, Version> acknowledged = fill(*store, 0, 4096);
  REQUIRE(acknowledged.size() > 100);
  auto space = store->space();
  REQUIRE(space.is_ok());
  CHECK(space->disk_limited);
  CHECK_FALSE(takes_client_writes(*space));

  // Deletes commit on the full disk.
  std::vector<Version> tombstones;
  const std::size_t to_delete = acknowledged.size() / 2;
  for (auto it = acknowledged.begin(); it != acknowledged.end() && tombstones.size() < to_delete;) {
    Version tombstone = tombstone_of(it->second, 100000 + static_cast<std::int64_t>(tombstones.size()));
    auto written = put(*store, tombstone);
    INFO(written.status().to_string());
    REQUIRE(written.is_ok());
    tombstones.push_back(tombstone);
    it = acknowledged.erase(it);
  }
  // Space on the filesystem comes back from outside kvs too: here, purging frees pages.
  for (const Version& tombstone : tombstones) {
    auto purged = store->purge(tombstone.path, tombstone.uuid);
    REQUIRE(purged.is_ok());
  }
  space = store->space();
  REQUIRE(space.is_ok());
  CHECK(takes_client_writes(*space));
  auto more = fill(*store, 50000, 4096);
  CHECK(more.size() > 5);
  acknowledged.insert(more.begin(), more.end());
  check_reads_back(*store, acknowledged);

  // And after a restart on the same full filesystem.
  store.reset();
  store = open_store(options);
  check_reads_back(*store, acknowledged);
}

TEST_CASE("the data folder and the files of a store are private to its user", "[storage][space]") {
  TempDir dir;
  StoreOptions options;
  options.dir = dir.path() / "nested" / "data";
  auto store = open_store(options);
  require_put(*store, make_version("a", "u", 1, "1"));
  auto mode_of = [](const std::filesystem::path& path) {
    struct stat info {};
    REQUIRE(::stat(path.c_str(), &info) == 0);
    return info.st_mode & 07777;
  };
  CHECK(mode_of(dir.path() / "nested") == 0700);
  CHECK(mode_of(options.dir) == 0700);
  for (const char* name : {"data.mdb", "lock.mdb", "LOCK"}) {
    INFO(name);
    CHECK(mode_of(options.dir / name) == 0600);
  }

  // Files an older kvs left 0644 are narrowed when the store opens them again.
  store.reset();
  for (const char* name : {"data.mdb", "lock.mdb", "LOCK"}) {
    std::filesystem::permissions(options.dir / name, std::filesystem::perms(0644));
  }
  store = open_store(options);
  for (const char* name : {"data.mdb", "lock.mdb", "LOCK"}) {
    INFO(name);
    CHECK(mode_of(options.dir / name) == 0600);
  }
  CHECK(require_get(*store, "a").has_value());
}

}  // namespace
}  // namespace kvs::storage::test
