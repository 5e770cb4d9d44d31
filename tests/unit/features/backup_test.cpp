#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "features/backup.hpp"
#include "features/backup_service.hpp"
#include "storage/lmdb_env.hpp"
#include "support/manual_clock.hpp"
#include "support/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using namespace kvs::features;
using kvs::Status;
using kvs::test::TempDir;

constexpr std::int64_t kDay = 86'400'000;
constexpr std::int64_t kNow = 1'764'201'600'000;  // 2025-11-27T00:00:00Z

// A small LMDB environment with a `versions` database, as the store keeps one (through
// storage's LMDB wrappers, as the store opens it).
class Env {
 public:
  explicit Env(const fs::path& dir) {
    fs::create_directories(dir);
    auto env = kvs::storage::lmdb::Env::open(dir, std::size_t{64} << 20);
    REQUIRE(env.is_ok());
    env_ = std::move(*env);
    kvs::storage::lmdb::WriteTxn txn;
    REQUIRE(txn.begin(*env_).is_ok());
    auto dbi = txn.open_db("versions");
    REQUIRE(dbi.is_ok());
    dbi_ = *dbi;
    REQUIRE(txn.commit().is_ok());
  }

  void put(const std::map<std::string, std::string>& items) {
    kvs::storage::lmdb::WriteTxn txn;
    REQUIRE(txn.begin(*env_).is_ok());
    for (const auto& [k, v] : items) REQUIRE(txn.put(dbi_, k, v, kvs::storage::lmdb::What{"item"}).is_ok());
    REQUIRE(txn.commit().is_ok());
  }

  std::map<std::string, std::string> all() {
    std::map<std::string, std::string> out;
    kvs::storage::lmdb::ReadTxn txn(*env_);
    REQUIRE(txn.begin().is_ok());
    kvs::storage::lmdb::Cursor cursor;
    REQUIRE(cursor.open(txn, dbi_, "versions").is_ok());
    for (bool at = cursor.first(); at; at = cursor.next()) out.emplace(cursor.key(), cursor.value());
    REQUIRE(cursor.status("scan").is_ok());
    return out;
  }

  // What the store will pass to write_backup.
  std::function<Status(int)> copier() {
    return [this](int fd) { return env_->copy_to_fd(fd); };
  }

 private:
  std::unique_ptr<kvs::storage::lmdb::Env> env_;
  kvs::storage::lmdb::Dbi dbi_ = 0;
};

std::map<std::string, std::string> sample_items(int n, const std::string& tag = "v") {
  std::map<std::string, std::string> items;
  for (int i = 0; i < n; ++i) {
    items["users/" + std::to_string(i)] = "{\"" + tag + "\":" + std::to_string(i) + ",\"pad\":\"" +
                                          std::string(static_cast<std::size_t>(i % 50), 'x') + "\"}";
  }
  return items;
}

BackupWriteOptions write_options(std::int64_t created_at_ms = kNow, std::string node_id = "node-a") {
  BackupWriteOptions o;
  o.created_at_ms = created_at_ms;
  o.node_id = std::move(node_id);
  return o;
}

// A copier that writes fixed bytes: enough for tests of the file format and retention.
std::function<Status(int)> bytes_copier(std::string bytes) {
  return [bytes = std::move(bytes)](int fd) {
    std::size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
      if (n <= 0) return Status::io_error("write");
      done += static_cast<std::size_t>(n);
    }
    return Status::ok();
  };
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

fs::path make_real_backup(const TempDir& tmp, const std::map<std::string, std::string>& items) {
  Env env(tmp / "src");
  env.put(items);
  const fs::path path = tmp / "backups" / backup_file_name(kNow);
  auto info = write_backup(path, env.copier(), write_options());
  INFO(info.status().to_string());
  REQUIRE(info.is_ok());
  return path;
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("a backup of a real LMDB environment restores every key", "[backup]") {
  TempDir tmp("kvs-backup");
  const auto items = sample_items(2000);
  Env env(tmp / "src");
  env.put(items);

  const fs::path path = tmp / "backups" / backup_file_name(kNow);
  auto written = write_backup(path, env.copier(), write_options());
  REQUIRE(written.is_ok());
  CHECK(written->path == path);
  CHECK(written->bytes == fs::file_size(path));
  CHECK(written->uncompressed_bytes > written->bytes);  // zstd did something
  CHECK(written->node_id == "node-a");
  CHECK(names_in(tmp / "backups") == std::vector<std::string>{path.filename().string()});  // no temp left

  auto verified = verify_backup(path);
  REQUIRE(verified.is_ok());
  CHECK(verified->created_at_ms == kNow);
  CHECK(verified->uncompressed_bytes == written->uncompressed_bytes);

  auto restored = restore_backup(path, tmp / "restored");
  INFO(restored.status().to_string());
  REQUIRE(restored.is_ok());
  CHECK(fs::exists(tmp / "restored" / "data.mdb"));
  CHECK_FALSE(fs::exists(tmp / "restored" / "data.mdb.restore.tmp"));
  Env back(tmp / "restored");
  CHECK(back.all() == items);
}

TEST_CASE("a backup taken under concurrent writes holds every write committed before it began", "[backup]") {
  TempDir tmp("kvs-backup");
  Env env(tmp / "src");
  const auto before = sample_items(500, "before");
  env.put(before);

  std::atomic<bool> stop{false};
  std::atomic<int> batches{0};
  std::thread writer([&] {
    for (int b = 0; !stop.load(); ++b) {
      std::map<std::string, std::string> batch;
      for (int i = 0; i < 20; ++i) batch["during/" + std::to_string(b) + "/" + std::to_string(i)] = "{}";
      env.put(batch);
      ++batches;
    }
  });
  while (batches.load() < 5) std::this_thread::yield();
  const fs::path path = tmp / "backups" / backup_file_name(kNow);
  auto written = write_backup(path, env.copier(), write_options());
  const int after_backup = batches.load();
  while (batches.load() < after_backup + 5) std::this_thread::yield();  // writers were never blocked
  stop = true;
  writer.join();
  REQUIRE(written.is_ok());

  REQUIRE(restore_backup(path, tmp / "restored").is_ok());
  Env back(tmp / "restored");
  const auto got = back.all();
  for (const auto& [k, v] : before) {
    auto it = got.find(k);
    REQUIRE(it != got.end());
    CHECK(it->second == v);
  }
  // The copy is one consistent snapshot: whole batches of 20, never part of one.
  std::map<std::string, int> per_batch;
  for (const auto& [k, v] : got) {
    if (k.rfind("during/", 0) == 0) per_batch[k.substr(0, k.find('/', 7))] += 1;
  }
  for (const auto& [batch, n] : per_batch) CHECK(n == 20);
}

TEST_CASE("a truncated backup is refused, at any length", "[backup]") {
  TempDir tmp("kvs-backup");
  const fs::path path = make_real_backup(tmp, sample_items(300));
  const std::string bytes = read_file(path);
  const fs::path cut = tmp / "cut.kvsbackup";
  for (std::size_t n : {std::size_t{0}, std::size_t{4}, std::size_t{12}, std::size_t{30}, bytes.size() / 2,
                        bytes.size() - 57, bytes.size() - 56, bytes.size() - 30, bytes.size() - 1}) {
    write_file(cut, bytes.substr(0, n));
    auto r = verify_backup(cut);
    INFO("length " << n << ": " << r.status().to_string());
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.status().code() == Status::Code::kCorruption);
    if (n >= 8) CHECK_THAT(r.status().message(), Catch::Contains("truncated"));
    auto restored = restore_backup(cut, tmp / "data");
    CHECK(restored.status().code() == Status::Code::kCorruption);
    CHECK_FALSE(fs::exists(tmp / "data" / "data.mdb"));
  }
}

TEST_CASE("a flipped byte anywhere in a backup is refused", "[backup]") {
  TempDir tmp("kvs-backup");
  const fs::path path = make_real_backup(tmp, sample_items(50));
  const std::string bytes = read_file(path);
  const fs::path bad = tmp / "bad.kvsbackup";
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    std::string flipped = bytes;
    flipped[i] = static_cast<char>(flipped[i] ^ 0x10);
    write_file(bad, flipped);
    auto r = verify_backup(bad);
    INFO("byte " << i << " of " << bytes.size());
    REQUIRE_FALSE(r.is_ok());
    REQUIRE(r.status().code() == Status::Code::kCorruption);
  }
  // In the middle of the compressed body the reason given is the checksum.
  std::string flipped = bytes;
  flipped[bytes.size() / 2] = static_cast<char>(flipped[bytes.size() / 2] ^ 0x01);
  write_file(bad, flipped);
  CHECK_THAT(verify_backup(bad).status().message(), Catch::Contains("checksum mismatch"));
}

TEST_CASE("a restore from a damaged backup leaves the data directory as it was", "[backup]") {
  TempDir tmp("kvs-backup");
  const fs::path path = make_real_backup(tmp, sample_items(100));
  std::string bytes = read_file(path);
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x01);
  const fs::path bad = tmp / "bad.kvsbackup";
  write_file(bad, bytes);

  const auto existing = sample_items(3, "existing");
  { Env current(tmp / "data"); current.put(existing); }
  const std::string before = read_file(tmp / "data" / "data.mdb");
  auto r = restore_backup(bad, tmp / "data");
  CHECK(r.status().code() == Status::Code::kCorruption);
  CHECK(read_file(tmp / "data" / "data.mdb") == before);
  CHECK_FALSE(fs::exists(tmp / "data" / "data.mdb.restore.tmp"));
  CHECK_FALSE(fs::exists(tmp / "data" / "data.mdb.before-restore"));
}

TEST_CASE("files that are not kvs backups are refused with a clear error", "[backup]") {
  TempDir tmp("kvs-backup");
  const fs::path path = make_real_backup(tmp, sample_items(10));
  std::string bytes = read_file(path);

  std::string magic = bytes;
  magic[0] = 'X';
  write_file(tmp / "magic.kvsbackup", magic);
  CHECK_THAT(verify_backup(tmp / "magic.kvsbackup").status().message(), Catch::Contains("not a kvs backup (bad magic)"));

  write_file(tmp / "text.kvsbackup", "hello, I am a text file and much longer than a header, honestly");
  CHECK_THAT(verify_backup(tmp / "text.kvsbackup").status().message(), Catch::Contains("not a kvs backup"));

  std::string version = bytes;
  version[8] = 9;
  write_file(tmp / "version.kvsbackup", version);
  CHECK_THAT(verify_backup(tmp / "version.kvsbackup").status().message(),
             Catch::Contains("unsupported backup format version 9"));

  auto missing = verify_backup(tmp / "nope.kvsbackup");
  CHECK(missing.status().code() == Status::Code::kNotFound);
  CHECK(restore_backup(tmp / "nope.kvsbackup", tmp / "data").status().code() == Status::Code::kNotFound);
}

TEST_CASE("a sound backup whose content is not an LMDB environment is not restored", "[backup]") {
  TempDir tmp("kvs-backup");
  const fs::path path = tmp / "b" / backup_file_name(kNow);
  REQUIRE(write_backup(path, bytes_copier(std::string(100'000, 'z')), write_options()).is_ok());
  REQUIRE(verify_backup(path).is_ok());  // the file itself is intact
  auto r = restore_backup(path, tmp / "data");
  CHECK(r.status().code() == Status::Code::kCorruption);
  CHECK_THAT(r.status().message(), Catch::Contains("not a valid LMDB environment"));
  CHECK_FALSE(fs::exists(tmp / "data" / "data.mdb"));
}

TEST_CASE("restore refuses a data directory that a running node holds", "[backup]") {
  TempDir tmp("kvs-backup");
  const fs::path path = make_real_backup(tmp, sample_items(10));
  fs::create_directories(tmp / "data");
  const int fd = ::open((tmp / "data" / "LOCK").c_str(), O_RDWR | O_CREAT, 0600);
  REQUIRE(fd >= 0);
  REQUIRE(::flock(fd, LOCK_EX | LOCK_NB) == 0);  // as storage::Store does while open
  auto r = restore_backup(path, tmp / "data");
  CHECK(r.status().code() == Status::Code::kUnavailable);
  CHECK_THAT(r.status().message(), Catch::Contains("in use by a running kvs node"));
  ::close(fd);
  CHECK(restore_backup(path, tmp / "data").is_ok());
}

TEST_CASE("restore moves the previous data aside", "[backup]") {
  TempDir tmp("kvs-backup");
  const auto items = sample_items(20);
  const fs::path path = make_real_backup(tmp, items);
  { Env current(tmp / "data"); current.put(sample_items(5, "old")); }
  const std::string old = read_file(tmp / "data" / "data.mdb");
  REQUIRE(restore_backup(path, tmp / "data").is_ok());
  CHECK(read_file(tmp / "data" / "data.mdb.before-restore") == old);
  Env back(tmp / "data");
  CHECK(back.all() == items);
}

TEST_CASE("write_backup never overwrites and leaves nothing behind when the copy fails", "[backup]") {
  TempDir tmp("kvs-backup");
  const fs::path dir = tmp / "b";
  const fs::path path = dir / backup_file_name(kNow);
  REQUIRE(write_backup(path, bytes_copier("abc"), write_options()).is_ok());
  auto again = write_backup(path, bytes_copier("def"), write_options());
  CHECK(again.status().code() == Status::Code::kPreconditionFailed);
  CHECK(verify_backup(path).is_ok());

  const fs::path failed = dir / backup_file_name(kNow + 1);
  auto r = write_backup(failed, [](int fd) {
    (void)::write(fd, "partial", 7);
    return Status::io_error("disk on fire");
  }, write_options());
  CHECK(r.status().code() == Status::Code::kIOError);
  CHECK_THAT(r.status().message(), Catch::Contains("disk on fire"));
  auto thrower = write_backup(failed, [](int) -> Status { throw std::runtime_error("boom"); }, write_options());
  CHECK_THAT(thrower.status().message(), Catch::Contains("boom"));
  CHECK(names_in(dir) == std::vector<std::string>{path.filename().string()});
}

TEST_CASE("backup file names sort by creation time", "[backup]") {
  CHECK(backup_file_name(1'764'200'362'123) == "kvs-backup-20251126T233922.123Z.kvsbackup");
  CHECK(backup_file_name(kNow) < backup_file_name(kNow + 1));
  CHECK(backup_file_name(kNow + kDay) > backup_file_name(kNow + 1000));
}

TEST_CASE("list_backups reports backups newest first and flags broken ones", "[backup]") {
  TempDir tmp("kvs-backup");
  const fs::path dir = tmp / "b";
  for (int d : {3, 1, 2}) {
    REQUIRE(write_backup(dir / backup_file_name(kNow - d * kDay), bytes_copier("x"), write_options(kNow - d * kDay))
                .is_ok());
  }
  write_file(dir / "broken.kvsbackup", std::string("KVSBAKUP\x01\x01", 10));  // cut in the header
  write_file(dir / "notes.txt", "not a backup");
  auto list = list_backups(dir);
  REQUIRE(list.is_ok());
  REQUIRE(list->size() == 4);
  CHECK((*list)[0].created_at_ms == kNow - 1 * kDay);
  CHECK((*list)[1].created_at_ms == kNow - 2 * kDay);
  CHECK((*list)[2].created_at_ms == kNow - 3 * kDay);
  CHECK((*list)[0].problem.empty());
  CHECK((*list)[0].node_id == "node-a");
  CHECK_THAT((*list)[3].problem, Catch::Contains("truncated"));
  CHECK(list_backups(tmp / "absent")->empty());
}

TEST_CASE("retention deletes only backups older than the retention period", "[backup]") {
  TempDir tmp("kvs-backup");
  const fs::path dir = tmp / "b";
  for (int d : {0, 1, 6, 8, 30}) {
    REQUIRE(write_backup(dir / backup_file_name(kNow - d * kDay - 1), bytes_copier("x"),
                         write_options(kNow - d * kDay - 1))
                .is_ok());
  }
  write_file(dir / "keep-me.txt", "operator notes");
  auto removed = apply_retention(dir, 7, kNow);
  REQUIRE(removed.is_ok());
  CHECK(removed->size() == 2);
  auto left = list_backups(dir);
  REQUIRE(left->size() == 3);
  for (const auto& b : *left) CHECK(b.created_at_ms > kNow - 7 * kDay);
  CHECK(fs::exists(dir / "keep-me.txt"));
  CHECK(apply_retention(dir, 7, kNow)->empty());  // idempotent
  CHECK(apply_retention(dir, 0, kNow + 100 * kDay)->empty());  // 0 keeps everything
}

TEST_CASE("retention always keeps the newest sound backup", "[backup]") {
  TempDir tmp("kvs-backup");
  const fs::path dir = tmp / "b";
  for (int d : {20, 40}) {
    REQUIRE(write_backup(dir / backup_file_name(kNow - d * kDay), bytes_copier("x"), write_options(kNow - d * kDay))
                .is_ok());
  }
  auto removed = apply_retention(dir, 7, kNow);
  REQUIRE(removed.is_ok());
  REQUIRE(removed->size() == 1);
  auto left = list_backups(dir);
  REQUIRE(left->size() == 1);
  CHECK(left->front().created_at_ms == kNow - 20 * kDay);
}

TEST_CASE("retention clears old broken backups and abandoned temp files", "[backup]") {
  TempDir tmp("kvs-backup");
  const fs::path dir = tmp / "b";
  REQUIRE(write_backup(dir / backup_file_name(kNow), bytes_copier("x"), write_options(kNow)).is_ok());
  write_file(dir / "old-broken.kvsbackup", "KVSBAKUP");
  write_file(dir / ".kvs-backup-old.kvsbackup.tmp", "partial");
  write_file(dir / "new-broken.kvsbackup", "KVSBAKUP");
  const auto set_mtime = [](const fs::path& p, std::int64_t ms) {
    timespec times[2];
    times[0].tv_sec = times[1].tv_sec = static_cast<time_t>(ms / 1000);
    times[0].tv_nsec = times[1].tv_nsec = 0;
    REQUIRE(::utimensat(AT_FDCWD, p.c_str(), times, 0) == 0);
  };
  set_mtime(dir / "old-broken.kvsbackup", kNow - 10 * kDay);
  set_mtime(dir / ".kvs-backup-old.kvsbackup.tmp", kNow - 10 * kDay);
  set_mtime(dir / "new-broken.kvsbackup", kNow - kDay);
  auto removed = apply_retention(dir, 7, kNow);
  REQUIRE(removed.is_ok());
  CHECK(removed->size() == 2);
  CHECK(names_in(dir) == std::vector<std::string>{backup_file_name(kNow), "new-broken.kvsbackup"});
}

TEST_CASE("the scheduler fires once per cron time and collapses missed runs", "[backup][cron]") {
  BackupScheduler scheduler(*CronSchedule::parse("0 0 * * *"));
  const std::int64_t midnight = kNow;  // 2025-11-27T00:00:00Z
  const std::int64_t evening = midnight - 3'600'000;
  CHECK_FALSE(scheduler.due(evening));
  CHECK(scheduler.next_run_ms(evening) == midnight);
  CHECK_FALSE(scheduler.due(midnight - 1));
  CHECK(scheduler.due(midnight));
  CHECK_FALSE(scheduler.due(midnight + 500));  // once
  CHECK(scheduler.next_run_ms(midnight + 500) == midnight + kDay);
  // Down for three days: one run when it comes back, then the next midnight.
  CHECK(scheduler.due(midnight + 3 * kDay + 5'000));
  CHECK(scheduler.next_run_ms(midnight + 3 * kDay + 5'000) == midnight + 4 * kDay);
}

TEST_CASE("the scheduler re-arms when the wall clock jumps backwards", "[backup][cron]") {
  BackupScheduler scheduler(*CronSchedule::parse("0 * * * *"));
  const std::int64_t t = kNow + 10 * 60'000;
  CHECK(scheduler.next_run_ms(t) == kNow + 3'600'000);
  // The clock is set back a day: the next run is an hour after the new time, not a day away.
  CHECK_FALSE(scheduler.due(t - kDay));
  CHECK(scheduler.next_run_ms(t - kDay) == kNow - kDay + 3'600'000);
}

TEST_CASE("the scheduler of a schedule that never fires is never due", "[backup][cron]") {
  BackupScheduler scheduler(*CronSchedule::parse("0 0 30 2 *"));
  CHECK_FALSE(scheduler.next_run_ms(kNow).has_value());
  CHECK_FALSE(scheduler.due(kNow));
  CHECK_FALSE(scheduler.due(kNow + 365 * kDay));
}

// ---- BackupService ------------------------------------------------------------------------------

TEST_CASE("the backup service names, writes, prunes and counts backups", "[backup]") {
  TempDir tmp("kvs-backup");
  kvs::test::ManualClock clock(kNow);
  MetricsRegistry registry;
  NodeMetrics metrics(registry);
  BackupSettings settings;
  settings.dir = tmp / "b";
  settings.retention_days = 7;
  settings.node_id = "node-7";
  BackupService service(settings, clock, &metrics);

  Env env(tmp / "src");
  env.put(sample_items(100));
  auto first = service.run(env.copier());
  REQUIRE(first.is_ok());
  CHECK(first->info.path == tmp / "b" / backup_file_name(kNow));
  CHECK(first->info.node_id == "node-7");
  CHECK(first->removed.empty());
  CHECK(first->retention.is_ok());

  clock.advance(std::chrono::hours(24 * 10));
  auto second = service.run(env.copier());
  REQUIRE(second.is_ok());
  CHECK(second->removed == std::vector<fs::path>{first->info.path});  // older than 7 days
  auto list = service.list();
  REQUIRE(list.is_ok());
  REQUIRE(list->size() == 1);
  CHECK(list->front().path == second->info.path);

  auto failed = service.run([](int) { return Status::io_error("no space left"); });
  CHECK_FALSE(failed.is_ok());
  CHECK(metrics.backups.labels({"ok"}).value() == 2);
  CHECK(metrics.backups.labels({"failed"}).value() == 1);
  CHECK(metrics.backup_last_bytes.value() == static_cast<double>(second->info.bytes));
  CHECK(metrics.backup_last_success.value() == static_cast<double>(kNow + 10 * kDay) / 1000.0);
  CHECK_FALSE(service.running());
}

TEST_CASE("a second backup while one runs is refused at once", "[backup]") {
  TempDir tmp("kvs-backup");
  kvs::test::ManualClock clock(kNow);
  BackupSettings settings;
  settings.dir = tmp / "b";
  BackupService service(settings, clock, nullptr);

  std::atomic<bool> inside{false};
  std::atomic<bool> release{false};
  kvs::Result<BackupOutcome> first = Status::internal("not run");
  std::thread t([&] {
    first = service.run([&](int fd) {
      inside = true;
      while (!release.load()) std::this_thread::yield();  // held by the test, not by time
      return bytes_copier("payload")(fd);
    });
  });
  while (!inside.load()) std::this_thread::yield();
  CHECK(service.running());
  auto second = service.run(bytes_copier("other"));
  CHECK(second.status().code() == Status::Code::kUnavailable);
  release = true;
  t.join();
  CHECK(first.is_ok());
  CHECK_FALSE(service.running());
}
