// Recovery through the redo log: a child process writes and dies without closing its store;
// the parent then damages data.mdb the way a power cut may (every page written after the
// checkpoint lost or torn, meta pages included), or tears the log's tail, and reopens. Every
// acknowledged write must be back, nothing half-applied, and the audit chain must verify.

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "storage/redo_log.hpp"
#include "storage/store.hpp"
#include "store_support.hpp"
#include "support/forked_child.hpp"
#include "support/temp_dir.hpp"
#include "util/coding.hpp"

namespace kvs::storage::test {
namespace {

namespace fs = std::filesystem;

constexpr int kWrites = 300;

// No checkpoint after the one taken at open: everything the child writes lives in the log and
// in pages written after that checkpoint.
StoreOptions recovery_options(const kvs::test::TempDir& dir) {
  StoreOptions options = options_in(dir);
  options.audit_enabled = true;
  options.checkpoint.interval = std::chrono::hours(1);
  options.checkpoint.log_bytes = std::uint64_t{1} << 40;
  return options;
}

std::string path_of(int i) { return "recover/k" + std::to_string(i % 97) + "/" + std::to_string(i); }

// The child writes kWrites versions, one write per transaction, reports "ok" once every one is
// acknowledged, and exits without closing the store: no final checkpoint, as after a kill.
void write_and_die(const StoreOptions& options) {
  auto [child, read_fd] = kvs::test::fork_child([&options](int report_fd) {
    auto opened = Store::open(options);
    if (!opened.is_ok()) ::_exit(3);
    for (int i = 0; i < kWrites; ++i) {
      Version version = make_version(path_of(i), "uuid-" + std::to_string(i), 1000 + i,
                                     "{\"i\":" + std::to_string(i) + ",\"pad\":\"" + std::string(200, 'x') + "\"}");
      if (i % 10 == 0) version.deleted = true, version.data.clear();
      auto written = (*opened)->write(
          [version](WriteView&) -> Result<std::optional<Version>> { return std::optional<Version>(version); },
          AuditNote{"tester", "put", 1000 + i, std::nullopt});
      if (!written.is_ok()) ::_exit(4);
    }
    if (::write(report_fd, "ok", 2) != 2) ::_exit(5);
    ::_exit(0);  // the store is never closed
  });
  char reply[2] = {};
  REQUIRE(::read(read_fd, reply, 2) == 2);
  ::close(read_fd);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
}

RedoCheckpoint checkpoint_in(const StoreOptions& options) {
  auto log = RedoLog::open(options.dir / "redo");
  REQUIRE(log.is_ok());
  auto checkpoint = (*log)->read_checkpoint();
  REQUIRE(checkpoint.is_ok());
  REQUIRE(checkpoint->has_value());
  return **checkpoint;
}

// What a power cut may leave: every page past the checkpoint's last page, and both meta pages,
// never written or written torn. Here: random bytes.
void lose_pages_after_checkpoint(const StoreOptions& options) {
  const RedoCheckpoint checkpoint = checkpoint_in(options);
  const std::size_t page_size = checkpoint.meta_page.size();
  std::uint64_t last_page = 0;
  std::memcpy(&last_page, checkpoint.meta_page.data() + 136, sizeof last_page);
  const fs::path data = options.dir / "data.mdb";
  const std::uintmax_t size = fs::file_size(data);
  REQUIRE(size > (last_page + 1) * page_size);  // the child's writes went past the checkpoint
  const int fd = ::open(data.c_str(), O_WRONLY);
  REQUIRE(fd >= 0);
  std::mt19937_64 random(7);
  std::string garbage(page_size, '\0');
  auto scribble = [&](std::uint64_t page) {
    for (char& c : garbage) c = static_cast<char>(random());
    REQUIRE(::pwrite(fd, garbage.data(), garbage.size(), static_cast<off_t>(page * page_size)) ==
            static_cast<ssize_t>(garbage.size()));
  };
  scribble(0);
  scribble(1);
  for (std::uint64_t page = last_page + 1; page * page_size < size; ++page) scribble(page);
  ::close(fd);
}

std::vector<fs::path> segments_of(const StoreOptions& options) {
  std::vector<fs::path> segments;
  for (const auto& entry : fs::directory_iterator(options.dir / "redo")) {
    if (entry.path().extension() == ".log") segments.push_back(entry.path());
  }
  std::sort(segments.begin(), segments.end());
  return segments;
}

std::string bytes_of(const fs::path& file) {
  std::string bytes(fs::file_size(file), '\0');
  std::ifstream in(file, std::ios::binary);
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return bytes;
}

// Where a segment's records begin (after its header) and end (at the record head of zeros
// after the last; what follows may be a recycled file's old records), and the txnid of the
// last record, walked as redo_log.hpp lays them out.
struct Records {
  std::size_t begin = 0;
  std::size_t end = 0;
  std::size_t last = 0;  // where the last record starts; meaningful when begin < end
  std::uint64_t last_txnid = 0;
};

Records records_of(std::string_view bytes) {
  // The header: magic, format 2, first txnid, salt, then the databases and a CRC.
  REQUIRE(bytes.size() > 28);
  REQUIRE(util::get_u32_le(bytes.substr(8)) == 2);
  std::size_t at = 24;
  const std::uint32_t dbs = util::get_u32_le(bytes.substr(at));
  at += 4;
  for (std::uint32_t i = 0; i < dbs; ++i) at += 4 + 2 + util::get_u16_le(bytes.substr(at + 4));
  at += 4;
  Records records;
  records.begin = at;
  for (;;) {
    REQUIRE(at + 12 <= bytes.size());
    const std::uint64_t size = util::get_u64_le(bytes.substr(at));
    if (size == 0) break;
    REQUIRE(at + 12 + 8 <= bytes.size());
    records.last = at;
    records.last_txnid = util::get_u64_le(bytes.substr(at + 12));  // the body begins with it
    at += 12 + size;
  }
  records.end = at;
  return records;
}

// The newest segment holding a record, and its records; none when no segment holds one. The
// newest segment of all may have none: the writer starts a segment when a checkpoint begins,
// before the next write comes.
std::optional<std::pair<fs::path, Records>> last_records(const StoreOptions& options) {
  const std::vector<fs::path> segments = segments_of(options);
  for (auto segment = segments.rbegin(); segment != segments.rend(); ++segment) {
    const Records records = records_of(bytes_of(*segment));
    if (records.begin < records.end) return std::pair{*segment, records};
  }
  return std::nullopt;
}

// Whether the child's last write is in the log past the checkpoint, so that tearing its record
// loses it (rather than a write data.mdb holds already).
bool last_write_after_checkpoint(const StoreOptions& options) {
  const auto last = last_records(options);
  return last && last->second.last_txnid > checkpoint_in(options).txnid;
}

// Zeros the last 100 bytes of the last record in the log (the file keeps its size, as a crash
// leaves it). Each write is its own record of well over 100 bytes, so this tears exactly the
// last write's record, and losing it is what recovery must show.
void tear_last_record(const StoreOptions& options) {
  const auto last = last_records(options);
  REQUIRE(last.has_value());
  const auto& [segment, records] = *last;
  REQUIRE(records.end - records.last > 100);
  std::string bytes = bytes_of(segment);
  std::fill(bytes.begin() + static_cast<std::ptrdiff_t>(records.end - 100),
            bytes.begin() + static_cast<std::ptrdiff_t>(records.end), '\0');
  std::ofstream(segment, std::ios::binary | std::ios::trunc)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Every write of the child is there, as written; the counters and the audit chain agree.
void require_all_writes(const StoreOptions& options, int writes) {
  auto store = open_store(options);
  for (int i = 0; i < kWrites; ++i) {
    auto held = require_get(*store, path_of(i));
    INFO("write " << i);
    if (i < writes) {
      REQUIRE(held.has_value());
      CHECK(held->uuid == "uuid-" + std::to_string(i));
      CHECK(held->deleted == (i % 10 == 0));
    } else {
      CHECK_FALSE(held.has_value());
    }
  }
  CHECK(store->stats().keys == static_cast<std::uint64_t>(writes));
  auto audit = store->verify_audit();
  INFO(audit.status().to_string());
  REQUIRE(audit.is_ok());
  CHECK(audit->ok);
  CHECK(audit->entries == static_cast<std::uint64_t>(writes));
}

TEST_CASE("after a crash the redo log brings back every write, pages past the checkpoint lost", "[storage][redo]") {
  kvs::test::TempDir dir;
  const StoreOptions options = recovery_options(dir);
  write_and_die(options);
  SECTION("process crash: data.mdb as the page cache left it") {}
  SECTION("power cut: pages written after the checkpoint lost") { lose_pages_after_checkpoint(options); }
  require_all_writes(options, kWrites);
  // Recovery took a checkpoint: a second open has nothing to redo and the same content.
  require_all_writes(options, kWrites);
}

TEST_CASE("a torn redo log tail recovers to the last complete transaction", "[storage][redo]") {
  kvs::test::TempDir dir;
  const StoreOptions options = recovery_options(dir);
  write_and_die(options);
  lose_pages_after_checkpoint(options);
  tear_last_record(options);
  require_all_writes(options, kWrites - 1);
}

// Whether some segment of the log holds bytes other than zeros after its records: the old
// records of a recycled file, which the new segment's records were too few to cover.
bool old_records_after_records(const StoreOptions& options) {
  for (const fs::path& segment : segments_of(options)) {
    const std::string bytes = bytes_of(segment);
    if (bytes.find_first_not_of('\0', records_of(bytes).end) != std::string::npos) return true;
  }
  return false;
}

TEST_CASE("with segments recycled, a crash recovers every write, and a torn tail all but the last", "[storage][redo]") {
  // A checkpoint every few records' worth of log: old segments are recycled as new ones, so
  // the last segment's records may be followed by old ones, which replay must not take. Whether
  // they are depends on how many records the last segment got before the crash: the child is
  // run again (in a new directory) until they are, and until its last write lies past the
  // last checkpoint (one may follow any write), so that the torn tail is a write lost.
  std::unique_ptr<kvs::test::TempDir> dir;
  StoreOptions options;
  bool recycled = false;
  for (int attempt = 0; attempt < 10 && !recycled; ++attempt) {
    dir = std::make_unique<kvs::test::TempDir>();
    options = recovery_options(*dir);
    options.checkpoint.interval = std::chrono::milliseconds(1);
    options.checkpoint.log_bytes = 4096;
    options.hold = std::chrono::milliseconds(0);  // a checkpoint can follow any write
    write_and_die(options);
    recycled = old_records_after_records(options) && last_write_after_checkpoint(options);
  }
  REQUIRE(recycled);
  SECTION("the log whole") { require_all_writes(options, kWrites); }
  SECTION("a torn tail") {
    tear_last_record(options);
    require_all_writes(options, kWrites - 1);
  }
}

TEST_CASE("writes of a held transaction that never committed come back from the log", "[storage][redo]") {
  // Every write is a batch of one transaction held open far longer than the child lives
  // (storage/writer.hpp): data.mdb never sees any of them, and the log holds one record per
  // batch, all with that transaction's id.
  kvs::test::TempDir dir;
  StoreOptions options = recovery_options(dir);
  options.hold = std::chrono::hours(1);
  write_and_die(options);
  SECTION("the log whole") { require_all_writes(options, kWrites); }
  SECTION("a torn tail: the batches before it come back") {
    tear_last_record(options);
    require_all_writes(options, kWrites - 1);
  }
}

TEST_CASE("a data.mdb put in place of the one the redo log was written for is refused", "[storage][redo]") {
  kvs::test::TempDir dir;
  StoreOptions options = recovery_options(dir);
  options.hold = std::chrono::milliseconds(0);  // every write committed to data.mdb, for the count below
  write_and_die(options);
  const fs::path data = options.dir / "data.mdb";
  fs::copy_file(data, options.dir / "copy.mdb");
  fs::rename(options.dir / "copy.mdb", data);  // same bytes, another file
  auto refused = Store::open(options);
  REQUIRE_FALSE(refused.is_ok());
  CHECK(refused.status().code() == Status::Code::kCorruption);
  CHECK_THAT(refused.status().message(), Catch::Contains("redo"));
  // Moving the log aside, as the message says, opens what data.mdb holds.
  fs::rename(options.dir / "redo", dir.path() / "redo-aside");
  auto store = open_store(options);
  CHECK(store->stats().keys == static_cast<std::uint64_t>(kWrites));
}

TEST_CASE("a store closed cleanly leaves nothing to redo", "[storage][redo]") {
  kvs::test::TempDir dir;
  const StoreOptions options = recovery_options(dir);
  {
    auto store = open_store(options);
    for (int i = 0; i < 20; ++i) require_put(*store, make_version(path_of(i), "u" + std::to_string(i), 1 + i, "{}"));
  }
  const RedoCheckpoint checkpoint = checkpoint_in(options);
  CHECK(checkpoint.clean);
  auto log = RedoLog::open(options.dir / "redo");
  REQUIRE(log.is_ok());
  auto pending = (*log)->has_records_after(checkpoint.txnid);
  REQUIRE(pending.is_ok());
  CHECK_FALSE(*pending);
  auto store = open_store(options);
  CHECK(store->stats().keys == 20);
}

}  // namespace
}  // namespace kvs::storage::test
