// storage::RedoLog on its own: records read back as written, across segments; replay starts
// after the checkpoint, refuses a gap, and stops at a torn or damaged tail; the checkpoint file
// round-trips and a damaged one is refused.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "storage/redo_log.hpp"
#include "support/temp_dir.hpp"

namespace kvs::storage::test {
namespace {

namespace fs = std::filesystem;

const std::vector<RedoDb> kDbs{{2, "versions"}, {3, "meta"}};

std::unique_ptr<RedoLog> open_log(const fs::path& dir) {
  auto log = RedoLog::open(dir);
  INFO(log.status().to_string());
  REQUIRE(log.is_ok());
  return std::move(*log);
}

// The record of transaction `txnid`: a put of "k<txnid>" and a delete of "gone".
RedoRecord record_of(std::uint64_t txnid) {
  RedoRecord record;
  record.begin(txnid);
  record.put(2, "k" + std::to_string(txnid), "value of " + std::to_string(txnid));
  record.del(3, "gone");
  return record;
}

// What replay after `after` hands over, one line per operation: "txnid db kind key value".
struct Replayed {
  std::vector<std::string> lines;
  RedoReplay summary;
};

Replayed replay_all(const RedoLog& log, std::uint64_t after) {
  Replayed out;
  auto result = log.replay(after, [&out](std::uint64_t txnid, std::span<const RedoOperation> ops) {
    for (const RedoOperation& op : ops) {
      out.lines.push_back(std::to_string(txnid) + " " + std::string(op.db) + " " +
                          (op.kind == RedoOperation::Kind::kPut ? "put " : "del ") + std::string(op.key) + " " +
                          std::string(op.value));
    }
    return Status::ok();
  });
  INFO(result.status().to_string());
  REQUIRE(result.is_ok());
  out.summary = *result;
  return out;
}

// The record head of zeros that follows a segment's last record.
constexpr std::uintmax_t kEndOfRecords = 12;

std::vector<fs::path> segments_in(const fs::path& dir) {
  std::vector<fs::path> segments;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ".log") segments.push_back(entry.path());
  }
  std::sort(segments.begin(), segments.end());
  return segments;
}

TEST_CASE("redo log records read back in order, across segments, from after the checkpoint", "[storage][redo]") {
  kvs::test::TempDir dir;
  auto log = open_log(dir.path() / "redo");
  REQUIRE(log->start_segment(5, kDbs).is_ok());
  for (std::uint64_t txnid = 5; txnid <= 7; ++txnid) REQUIRE(log->append(record_of(txnid)).is_ok());
  REQUIRE(log->start_segment(8, kDbs).is_ok());
  std::uint64_t end = 0;
  for (std::uint64_t txnid = 8; txnid <= 9; ++txnid) {
    auto position = log->append(record_of(txnid));
    REQUIRE(position.is_ok());
    end = *position;
  }
  CHECK(log->position() == end);
  REQUIRE(log->sync_through(end).is_ok());
  CHECK(log->synced() == end);

  Replayed all = replay_all(*log, 4);
  REQUIRE(all.lines.size() == 10);
  CHECK(all.lines[0] == "5 versions put k5 value of 5");
  CHECK(all.lines[1] == "5 meta del gone ");
  CHECK(all.lines[9] == "9 meta del gone ");
  CHECK(all.summary.transactions == 5);
  CHECK(all.summary.last_txnid == 9);
  CHECK(all.summary.dropped_bytes == 0);

  // After a checkpoint at 7 only 8 and 9 are redone; the first segment can go.
  Replayed after = replay_all(*log, 7);
  CHECK(after.summary.transactions == 2);
  CHECK(after.lines.front() == "8 versions put k8 value of 8");
  REQUIRE(log->remove_segments_through(7).is_ok());
  CHECK(segments_in(dir.path() / "redo").size() == 1);
  CHECK(replay_all(*log, 7).summary.transactions == 2);
  auto has = log->has_records_after(9);
  REQUIRE(has.is_ok());
  CHECK_FALSE(*has);
  has = log->has_records_after(8);
  REQUIRE(has.is_ok());
  CHECK(*has);
}

TEST_CASE("redo log replay refuses a gap between transactions", "[storage][redo]") {
  kvs::test::TempDir dir;
  auto log = open_log(dir.path() / "redo");
  REQUIRE(log->start_segment(1, kDbs).is_ok());
  REQUIRE(log->append(record_of(1)).is_ok());
  REQUIRE(log->append(record_of(3)).is_ok());
  auto result = log->replay(0, [](std::uint64_t, std::span<const RedoOperation>) { return Status::ok(); });
  REQUIRE_FALSE(result.is_ok());
  CHECK(result.status().code() == Status::Code::kCorruption);
  // Starting after the gap is fine: 1 is before the checkpoint.
  CHECK(replay_all(*log, 2).summary.transactions == 1);
}

TEST_CASE("redo log replay stops at a torn or damaged tail and keeps every complete record", "[storage][redo]") {
  kvs::test::TempDir dir;
  const fs::path redo = dir.path() / "redo";
  std::uintmax_t two_records = 0;
  {
    auto log = open_log(redo);
    REQUIRE(log->start_segment(1, kDbs).is_ok());
    REQUIRE(log->append(record_of(1)).is_ok());
    REQUIRE(log->append(record_of(2)).is_ok());
    two_records = fs::file_size(segments_in(redo).at(0)) - kEndOfRecords;
    auto end = log->append(record_of(3));
    REQUIRE(end.is_ok());
    REQUIRE(log->sync_through(*end).is_ok());
  }
  const fs::path segment = segments_in(redo).at(0);
  const std::uintmax_t whole = fs::file_size(segment);  // closed: it ends at its last record
  std::string bytes(whole, '\0');
  {
    std::ifstream in(segment, std::ios::binary);
    in.read(bytes.data(), static_cast<std::streamsize>(whole));
  }
  auto rewrite = [&segment](const std::string& content) {
    std::ofstream out(segment, std::ios::binary | std::ios::trunc);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
  };

  SECTION("cut at every byte of the last record") {
    for (std::uintmax_t size = two_records; size < whole; ++size) {
      rewrite(bytes.substr(0, size));
      auto log = open_log(redo);
      Replayed replayed = replay_all(*log, 0);
      INFO("segment cut to " << size << " of " << whole << " bytes");
      CHECK(replayed.summary.transactions == 2);
      CHECK(replayed.summary.last_txnid == 2);
      CHECK(replayed.summary.dropped_bytes == size - two_records);
      if (size > two_records) CHECK_FALSE(replayed.summary.dropped_reason.empty());
    }
    // Cut in the zeros after it, as a crash leaves it: every record is whole, nothing dropped.
    for (std::uintmax_t zeros = 0; zeros <= kEndOfRecords; ++zeros) {
      rewrite(bytes + std::string(zeros, '\0'));
      auto log = open_log(redo);
      Replayed replayed = replay_all(*log, 0);
      INFO(zeros << " zeros after the last record");
      CHECK(replayed.summary.transactions == 3);
      CHECK(replayed.summary.dropped_bytes == 0);
      CHECK(replayed.summary.dropped_reason.empty());
    }
  }
  SECTION("any byte of the last record flipped") {
    for (std::uintmax_t at = two_records; at < whole; ++at) {
      std::string damaged = bytes;
      damaged[at] = static_cast<char>(damaged[at] ^ 0x5A);
      rewrite(damaged);
      auto log = open_log(redo);
      Replayed replayed = replay_all(*log, 0);
      INFO("byte " << at << " flipped");
      CHECK(replayed.summary.transactions == 2);
      CHECK(replayed.summary.dropped_bytes == whole - two_records);
    }
  }
  SECTION("a damaged record in the middle ends replay there, later segments included") {
    std::string damaged = bytes;
    damaged[two_records - 3] = static_cast<char>(damaged[two_records - 3] ^ 0x01);  // inside record 2
    rewrite(damaged);
    {
      auto log = open_log(redo);
      REQUIRE(log->start_segment(4, kDbs).is_ok());
      REQUIRE(log->append(record_of(4)).is_ok());
    }
    auto log = open_log(redo);
    Replayed replayed = replay_all(*log, 0);
    CHECK(replayed.summary.transactions == 1);
    CHECK(replayed.summary.last_txnid == 1);
    CHECK(replayed.summary.dropped_bytes > whole - two_records);
  }
}

// Writes `bytes` over `file` from `offset` on, keeping its size.
void write_at(const fs::path& file, std::uintmax_t offset, const std::string& bytes) {
  std::fstream io(file, std::ios::binary | std::ios::in | std::ios::out);
  io.seekp(static_cast<std::streamoff>(offset));
  io.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

TEST_CASE("a prepared segment takes records into its zeros, and replay ends them at the zeros", "[storage][redo]") {
  kvs::test::TempDir dir;
  const fs::path redo = dir.path() / "redo";
  std::uint64_t one = 0;    // log positions after records 1, 2 and 3
  std::uint64_t two = 0;
  std::uint64_t three = 0;
  {
    auto log = open_log(redo);
    REQUIRE(log->start_segment(1, kDbs).is_ok());
    auto first = log->append(record_of(1));
    REQUIRE(first.is_ok());
    one = *first;
    REQUIRE(log->prepare_segment(1000).is_ok());  // rounded up to a MiB
    REQUIRE(log->prepare_segment(1000).is_ok());  // one is prepared already: nothing more
    REQUIRE(log->start_segment(2, kDbs).is_ok());
    const fs::path segment = segments_in(redo).at(1);
    CHECK(fs::file_size(segment) == (1u << 20));  // the prepared file, now named
    auto second = log->append(record_of(2));
    REQUIRE(second.is_ok());
    auto third = log->append(record_of(3));
    REQUIRE(third.is_ok());
    REQUIRE(log->sync_through(*third).is_ok());
    CHECK(fs::file_size(segment) == (1u << 20));  // written into, not grown
    two = *second;
    three = *third;

    Replayed all = replay_all(*log, 0);
    CHECK(all.summary.transactions == 3);
    CHECK(all.summary.last_txnid == 3);
    CHECK(all.summary.dropped_bytes == 0);
    CHECK(all.summary.dropped_reason.empty());
    // Prepared and never taken: gone with the log, as the zeros after the last record are.
    REQUIRE(log->prepare_segment(1).is_ok());
  }
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(redo)) files.push_back(entry.path().filename());
  CHECK(files.size() == 2);  // the two segments, no prepared file
  const fs::path segment = segments_in(redo).at(1);
  // Both segments have the same header; the second holds records 2 and 3 and now ends there.
  const std::uint64_t header = fs::file_size(segments_in(redo).at(0)) - one - kEndOfRecords;
  CHECK(fs::file_size(segment) == header + (three - one));

  SECTION("a torn last record among the zeros ends replay before it") {
    fs::resize_file(segment, 1u << 20);  // the zeros back, as after a crash
    const std::uint64_t third_starts = header + (two - one);
    write_at(segment, third_starts + 20, std::string(8, '\0'));  // inside its body: the CRC fails
    auto log = open_log(redo);
    Replayed replayed = replay_all(*log, 0);
    CHECK(replayed.summary.transactions == 2);
    CHECK(replayed.summary.last_txnid == 2);
    CHECK_THAT(replayed.summary.dropped_reason, Catch::Contains("checksum"));
  }
  SECTION("bytes after the zeros are not read: replay ends at the zeros") {
    fs::resize_file(segment, 1u << 20);
    write_at(segment, 1u << 19, "stray");
    auto log = open_log(redo);
    Replayed replayed = replay_all(*log, 0);
    CHECK(replayed.summary.transactions == 3);
    CHECK(replayed.summary.dropped_bytes == 0);
    CHECK(replayed.summary.dropped_reason.empty());
  }
  SECTION("a prepared file left by a crash is removed at open") {
    const fs::path left = redo / "segment.prepared.7";
    std::ofstream(left, std::ios::binary) << std::string(4096, '\0');
    auto log = open_log(redo);
    CHECK_FALSE(fs::exists(left));
    CHECK(replay_all(*log, 0).summary.transactions == 3);
  }
}

std::string file_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

ino_t inode_of(const fs::path& file) {
  struct stat st {};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  return st.st_ino;
}

TEST_CASE("a segment removed after a checkpoint is recycled as a later one, and its old records never replay",
          "[storage][redo]") {
  kvs::test::TempDir dir;
  const fs::path redo = dir.path() / "redo";
  auto log = open_log(redo);
  REQUIRE(log->start_segment(1, kDbs).is_ok());
  for (std::uint64_t txnid = 1; txnid <= 5; ++txnid) REQUIRE(log->append(record_of(txnid)).is_ok());
  REQUIRE(log->start_segment(6, kDbs).is_ok());
  auto six = log->append(record_of(6));
  REQUIRE(six.is_ok());
  const fs::path old = segments_in(redo).at(0);
  const ino_t old_inode = inode_of(old);
  const std::uintmax_t old_size = fs::file_size(old);

  // A checkpoint at 5: the first segment goes, kept aside under a prepared file's name.
  REQUIRE(log->remove_segments_through(5).is_ok());
  CHECK(segments_in(redo).size() == 1);
  CHECK_FALSE(fs::exists(old));
  REQUIRE(log->prepare_segment(1).is_ok());
  REQUIRE(log->start_segment(7, kDbs).is_ok());
  const fs::path recycled = segments_in(redo).at(1);
  CHECK(inode_of(recycled) == old_inode);
  CHECK(fs::file_size(recycled) == old_size);  // as large as asked already: no zeros written
  auto seven = log->append(record_of(7));
  REQUIRE(seven.is_ok());
  REQUIRE(log->sync_through(*seven).is_ok());

  // Records 2 to 5 of the old segment lie after record 7: replay reads 6 and 7 only.
  Replayed replayed = replay_all(*log, 5);
  CHECK(replayed.summary.transactions == 2);
  CHECK(replayed.summary.last_txnid == 7);
  CHECK(replayed.summary.dropped_bytes == 0);
  CHECK(replayed.summary.dropped_reason.empty());

  // A record written whole under another segment's salt, even one with the very txnid replay
  // expects next, fails this segment's CRC where the zeros after record 7 were.
  std::string foreign;
  std::uintmax_t header = 0;
  {
    kvs::test::TempDir other_dir;
    auto other = open_log(other_dir.path());
    REQUIRE(other->start_segment(8, kDbs).is_ok());
    header = fs::file_size(segments_in(other_dir.path()).at(0)) - kEndOfRecords;
    auto eight = other->append(record_of(8));
    REQUIRE(eight.is_ok());
    foreign = file_bytes(segments_in(other_dir.path()).at(0)).substr(header, *eight);
  }
  const std::uintmax_t after_seven = header + (*seven - *six);
  REQUIRE(file_bytes(recycled).substr(after_seven, kEndOfRecords) == std::string(kEndOfRecords, '\0'));
  write_at(recycled, after_seven, foreign);
  Replayed salted = replay_all(*log, 5);
  CHECK(salted.summary.transactions == 2);
  CHECK_THAT(salted.summary.dropped_reason, Catch::Contains("checksum"));
  // The same record appended to this segment replays.
  write_at(recycled, after_seven, std::string(kEndOfRecords, '\0'));
  REQUIRE(log->append(record_of(8)).is_ok());
  CHECK(replay_all(*log, 5).summary.transactions == 3);
}

TEST_CASE("a redo log checkpoint round-trips and a damaged one is refused", "[storage][redo]") {
  kvs::test::TempDir dir;
  auto log = open_log(dir.path() / "redo");
  auto none = log->read_checkpoint();
  REQUIRE(none.is_ok());
  CHECK_FALSE(none->has_value());

  RedoCheckpoint checkpoint;
  checkpoint.txnid = 42;
  checkpoint.data_dev = 7;
  checkpoint.data_ino = 99;
  checkpoint.meta_page = std::string(4096, '\x11');
  REQUIRE(log->write_checkpoint(checkpoint).is_ok());
  checkpoint.txnid = 43;  // replaced whole
  checkpoint.clean = true;
  REQUIRE(log->write_checkpoint(checkpoint).is_ok());
  auto read = log->read_checkpoint();
  REQUIRE(read.is_ok());
  REQUIRE(read->has_value());
  CHECK((*read)->txnid == 43);
  CHECK((*read)->clean);
  CHECK((*read)->data_dev == 7);
  CHECK((*read)->data_ino == 99);
  CHECK((*read)->meta_page == checkpoint.meta_page);
  CHECK_FALSE(fs::exists(dir.path() / "redo" / "checkpoint.tmp"));

  const fs::path file = dir.path() / "redo" / "checkpoint";
  const int fd = ::open(file.c_str(), O_WRONLY);
  REQUIRE(fd >= 0);
  REQUIRE(::pwrite(fd, "\x22", 1, 100) == 1);
  ::close(fd);
  auto damaged = log->read_checkpoint();
  REQUIRE_FALSE(damaged.is_ok());
  CHECK(damaged.status().code() == Status::Code::kCorruption);
}

}  // namespace
}  // namespace kvs::storage::test
