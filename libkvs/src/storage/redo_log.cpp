// The redo log's files: segments and their records, the checkpoint file, replay. The format
// and the threading are in redo_log.hpp.

#include "storage/redo_log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <initializer_list>
#include <map>
#include <random>
#include <system_error>
#include <utility>

#include "storage/file_sync.hpp"
#include "util/coding.hpp"
#include "util/crc32c.hpp"
#include "util/private_dir.hpp"

namespace kvs::storage {
namespace {

constexpr std::string_view kSegmentMagic = "KVSREDO1";
constexpr std::string_view kCheckpointMagic = "KVSCKPT1";
constexpr std::uint32_t kCheckpointFormat = 1;
// Segment formats: 2 (written) salts its records' CRCs, 1 (still replayed) does not.
constexpr std::uint32_t kSegmentFormatUnsalted = 1;
constexpr std::uint32_t kSegmentFormat = 2;
constexpr std::string_view kCheckpointName = "checkpoint";
constexpr std::string_view kSegmentSuffix = ".log";
constexpr std::size_t kRecordHead = 8 + 4;  // body size, CRC
// A record head of zeros: what follows each record, and the header of a new segment, so that
// a segment's records end there whatever bytes lie beyond (a recycled file's old records).
constexpr std::string_view kEndOfRecords("\0\0\0\0\0\0\0\0\0\0\0\0", kRecordHead);
// The files segments are prepared in (prepare_segment) until start_segment names one: this,
// then a number, a new one each time, so that a preparation never touches a file being taken.
constexpr std::string_view kPreparedPrefix = "segment.prepared.";

Status errno_status(const std::string& what) { return Status::io_error(what + ": " + std::strerror(errno)); }

// A file descriptor, closed on scope exit.
class Fd {
 public:
  explicit Fd(int fd = -1) noexcept : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  int release() noexcept { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// Writes `parts` in order from file offset `offset`, with as few pwritev calls as the kernel
// allows.
Status write_all(int fd, off_t offset, std::initializer_list<std::string_view> parts,
                 const std::filesystem::path& file) {
  std::array<iovec, 3> vec{};
  if (parts.size() > vec.size()) return Status::internal("write of more parts than write_all takes");
  std::size_t count = 0;
  for (std::string_view part : parts) {
    if (part.empty()) continue;
    vec[count].iov_base = const_cast<char*>(part.data());
    vec[count].iov_len = part.size();
    ++count;
  }
  std::size_t first = 0;
  while (first < count) {
    ssize_t written = ::pwritev(fd, vec.data() + first, static_cast<int>(count - first), offset);
    if (written < 0) {
      if (errno == EINTR) continue;
      return errno_status("write " + file.string());
    }
    offset += static_cast<off_t>(written);
    auto left = static_cast<std::size_t>(written);
    while (first < count && left >= vec[first].iov_len) left -= vec[first++].iov_len;
    if (first < count) {
      vec[first].iov_base = static_cast<char*>(vec[first].iov_base) + left;
      vec[first].iov_len -= left;
    }
  }
  return Status::ok();
}

Status sync_dir(const std::filesystem::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return errno_status("open " + dir.string());
  if (sync_all(fd.get()) != 0) return errno_status("sync " + dir.string());
  return Status::ok();
}

Result<std::string> read_file(const std::filesystem::path& file) {
  Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return errno_status("open " + file.string());
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return errno_status("stat " + file.string());
  std::string bytes(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t got = ::pread(fd.get(), bytes.data() + done, bytes.size() - done, static_cast<off_t>(done));
    if (got < 0) {
      if (errno == EINTR) continue;
      return errno_status("read " + file.string());
    }
    if (got == 0) break;  // shorter than fstat said: read what is there
    done += static_cast<std::size_t>(got);
  }
  bytes.resize(done);
  return bytes;
}

std::string segment_name(std::uint64_t first_txnid) {
  std::string digits = std::to_string(first_txnid);
  return std::string(20 - std::min<std::size_t>(digits.size(), 20), '0') + digits + std::string(kSegmentSuffix);
}

// A segment's header, decoded.
struct SegmentHeader {
  std::uint64_t first_txnid = 0;
  std::uint32_t crc_seed = 0;  // record_crc_seed of its salt (format 2); 0 (format 1)
  std::map<std::uint32_t, std::string> dbs;
  std::size_t size = 0;  // bytes, the CRC included
};

// The CRC a record's head holds is of the segment's salt (4 bytes) and the body (format 2), or
// of the body alone (format 1): the body's CRC continued from this seed, which is the salt's
// CRC, computed once a segment (0 for format 1).
std::uint32_t record_crc_seed(std::uint32_t salt) {
  std::string bytes;
  util::put_u32_le(bytes, salt);
  return util::crc32c(bytes);
}

std::uint32_t new_salt() {
  std::random_device device;
  return static_cast<std::uint32_t>(device());
}

std::string encode_header(std::uint64_t first_txnid, std::uint32_t salt, std::span<const RedoDb> dbs) {
  std::string header(kSegmentMagic);
  util::put_u32_le(header, kSegmentFormat);
  util::put_u64_le(header, first_txnid);
  util::put_u32_le(header, salt);
  util::put_u32_le(header, static_cast<std::uint32_t>(dbs.size()));
  for (const RedoDb& db : dbs) {
    util::put_u32_le(header, db.handle);
    util::put_u16_le(header, static_cast<std::uint16_t>(db.name.size()));
    header.append(db.name);
  }
  util::put_u32_le(header, util::crc32c(header));
  return header;
}

// kCorruption naming the damaged file (`what`: "segment", "checkpoint") and why.
Status damaged_file(std::string_view what, const std::filesystem::path& file, std::string_view why) {
  return Status::corruption("redo log " + std::string(what) + " " + file.string() + ": " + std::string(why));
}

Result<SegmentHeader> decode_header(std::string_view bytes, const std::filesystem::path& file) {
  util::ByteReader reader(bytes);
  auto damaged = [&file](std::string_view why) { return damaged_file("segment", file, why); };
  if (reader.bytes(kSegmentMagic.size()) != kSegmentMagic) return damaged("not a redo log segment");
  SegmentHeader header;
  const std::uint32_t format = reader.u32_le();
  if (format != kSegmentFormat && format != kSegmentFormatUnsalted) return damaged("unknown format");
  header.first_txnid = reader.u64_le();
  if (format == kSegmentFormat) header.crc_seed = record_crc_seed(reader.u32_le());
  const std::uint32_t count = reader.u32_le();
  for (std::uint32_t i = 0; i < count && !reader.failed(); ++i) {
    const std::uint32_t handle = reader.u32_le();
    const std::uint16_t size = reader.u16_le();
    header.dbs[handle] = std::string(reader.bytes(size));
  }
  const std::size_t covered = bytes.size() - reader.remaining();
  const std::uint32_t crc = reader.u32_le();
  if (reader.failed()) return damaged("header cut short");
  if (crc != util::crc32c(bytes.substr(0, covered))) return damaged("header checksum mismatch");
  header.size = covered + 4;
  return header;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// RedoRecord

void RedoRecord::begin(std::uint64_t txnid) {
  body_.clear();
  util::put_u64_le(body_, txnid);
  txnid_ = txnid;
  operations_ = 0;
}

void RedoRecord::put(std::uint32_t db, std::string_view key, std::string_view value) {
  body_.push_back(static_cast<char>(RedoOperation::Kind::kPut));
  util::put_u32_le(body_, db);
  util::put_u32_le(body_, static_cast<std::uint32_t>(key.size()));
  body_.append(key);
  util::put_u32_le(body_, static_cast<std::uint32_t>(value.size()));
  body_.append(value);
  ++operations_;
}

void RedoRecord::del(std::uint32_t db, std::string_view key) {
  body_.push_back(static_cast<char>(RedoOperation::Kind::kDelete));
  util::put_u32_le(body_, db);
  util::put_u32_le(body_, static_cast<std::uint32_t>(key.size()));
  body_.append(key);
  ++operations_;
}

// ---------------------------------------------------------------------------------------------
// RedoLog

struct RedoLog::Segment {
  Fd fd;
  std::filesystem::path path;
  std::uint32_t crc_seed = 0;  // record_crc_seed of its salt
  std::uint64_t end = 0;  // the log position after its last record
  off_t offset = 0;       // where the next record goes in the file; the writer thread's
  off_t written = 0;      // the file's size: after `offset`, zeros or a recycled file's old bytes
  Segment(int raw_fd, std::filesystem::path file, std::uint32_t seed, off_t at, off_t size)
      : fd(raw_fd), path(std::move(file)), crc_seed(seed), offset(at), written(size) {}
};

struct RedoLog::Prepared {
  Fd fd;
  std::filesystem::path path;
  off_t size = 0;
  Prepared(int raw_fd, std::filesystem::path file, off_t bytes) : fd(raw_fd), path(std::move(file)), size(bytes) {}
};

RedoLog::RedoLog(std::filesystem::path dir) : dir_(std::move(dir)) {}

Result<std::unique_ptr<RedoLog>> RedoLog::open(const std::filesystem::path& dir) {
  if (Status made = util::create_private_directories(dir); !made.is_ok()) return made;
  // Files prepared and never used (the store closed or crashed first) hold nothing.
  std::error_code error;
  std::filesystem::directory_iterator it(dir, error);
  for (; !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
    if (!it->path().filename().string().starts_with(kPreparedPrefix)) continue;
    if (::unlink(it->path().c_str()) != 0 && errno != ENOENT) return errno_status("remove " + it->path().string());
  }
  if (error) return Status::io_error("list " + dir.string() + ": " + error.message());
  return std::unique_ptr<RedoLog>(new RedoLog(dir));
}

RedoLog::~RedoLog() {
  // Best effort, for the disk space of a closed store: what a prepared or recycled segment
  // still has after its records, a prepared file never used, and a segment kept for
  // recycling. Replay reads none of them.
  MutexLock lock(mutex_);
  if (current_ && current_->offset < current_->written) {
    static_cast<void>(::ftruncate(current_->fd.get(), current_->offset));
  }
  if (prepared_) static_cast<void>(::unlink(prepared_->path.c_str()));
  if (!recyclable_.empty()) static_cast<void>(::unlink(recyclable_.c_str()));
}

Result<std::optional<RedoCheckpoint>> RedoLog::read_checkpoint() const {
  const std::filesystem::path file = dir_ / kCheckpointName;
  std::error_code error;
  if (!std::filesystem::exists(file, error)) {
    if (error) return Status::io_error("examine " + file.string() + ": " + error.message());
    return std::optional<RedoCheckpoint>();
  }
  auto bytes = read_file(file);
  if (!bytes.is_ok()) return bytes.status();
  util::ByteReader reader(*bytes);
  auto damaged = [&file](std::string_view why) { return damaged_file("checkpoint", file, why); };
  if (reader.bytes(kCheckpointMagic.size()) != kCheckpointMagic) return damaged("not a checkpoint file");
  if (reader.u32_le() != kCheckpointFormat) return damaged("unknown format");
  RedoCheckpoint checkpoint;
  checkpoint.txnid = reader.u64_le();
  checkpoint.clean = reader.u8() == 1;
  checkpoint.data_dev = reader.u64_le();
  checkpoint.data_ino = reader.u64_le();
  const std::uint32_t page = reader.u32_le();
  checkpoint.meta_page = std::string(reader.bytes(page));
  const std::size_t covered = bytes->size() - reader.remaining();
  const std::uint32_t crc = reader.u32_le();
  if (reader.failed() || !reader.at_end()) return damaged("wrong size");
  if (crc != util::crc32c(std::string_view(*bytes).substr(0, covered))) return damaged("checksum mismatch");
  return std::optional<RedoCheckpoint>(std::move(checkpoint));
}

Status RedoLog::write_checkpoint(const RedoCheckpoint& checkpoint) {
  std::string bytes(kCheckpointMagic);
  util::put_u32_le(bytes, kCheckpointFormat);
  util::put_u64_le(bytes, checkpoint.txnid);
  bytes.push_back(checkpoint.clean ? '\1' : '\0');
  util::put_u64_le(bytes, checkpoint.data_dev);
  util::put_u64_le(bytes, checkpoint.data_ino);
  util::put_u32_le(bytes, static_cast<std::uint32_t>(checkpoint.meta_page.size()));
  bytes.append(checkpoint.meta_page);
  util::put_u32_le(bytes, util::crc32c(bytes));

  const std::filesystem::path file = dir_ / kCheckpointName;
  const std::filesystem::path temp = dir_ / (std::string(kCheckpointName) + ".tmp");
  {
    Fd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd.valid()) return errno_status("create " + temp.string());
    if (Status s = write_all(fd.get(), 0, {bytes}, temp); !s.is_ok()) return s;
    if (sync_data(fd.get()) != 0) return errno_status("sync " + temp.string());
  }
  if (::rename(temp.c_str(), file.c_str()) != 0) return errno_status("rename " + temp.string());
  return sync_dir(dir_);
}

Result<std::vector<std::pair<std::uint64_t, std::filesystem::path>>> RedoLog::list_segments() const {
  std::vector<std::pair<std::uint64_t, std::filesystem::path>> segments;
  std::error_code error;
  std::filesystem::directory_iterator it(dir_, error);
  for (; !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (name.size() != 20 + kSegmentSuffix.size() || !name.ends_with(kSegmentSuffix)) continue;
    std::uint64_t first = 0;
    auto [end, parse_error] = std::from_chars(name.data(), name.data() + 20, first);
    if (parse_error != std::errc() || end != name.data() + 20) continue;
    segments.emplace_back(first, it->path());
  }
  if (error) return Status::io_error("list " + dir_.string() + ": " + error.message());
  std::sort(segments.begin(), segments.end());
  return segments;
}

Result<bool> RedoLog::has_records_after(std::uint64_t txnid) const {
  bool found = false;
  auto replayed = replay(txnid, [&found](std::uint64_t, std::span<const RedoOperation>) {
    found = true;
    return Status::internal("found");  // one is enough: stops the replay
  });
  if (found) return true;
  if (!replayed.is_ok()) return replayed.status();
  return false;
}

Result<RedoReplay> RedoLog::replay(std::uint64_t after, const Apply& apply) const {
  auto segments = list_segments();
  if (!segments.is_ok()) return segments.status();
  RedoReplay result;
  std::uint64_t expected = after + 1;  // the txnid the next record redone must have
  // The records of one transaction, applied together: a held transaction (storage/writer.hpp)
  // is logged as one record per batch, all with its txnid, in one segment (a segment starts
  // only at a checkpoint, after a commit). Each record was complete when its batch was
  // acknowledged, so the records before a torn one are redone even when the transaction has
  // more that were lost.
  std::vector<RedoOperation> operations;
  std::uint64_t pending_txnid = 0;
  bool pending = false;
  auto apply_pending = [&]() -> Status {
    if (!pending) return Status::ok();
    pending = false;
    if (Status applied = apply(pending_txnid, operations); !applied.is_ok()) return applied;
    operations.clear();
    ++result.transactions;
    result.last_txnid = pending_txnid;
    expected = pending_txnid + 1;
    return Status::ok();
  };
  for (std::size_t s = 0; s < segments->size(); ++s) {
    const std::filesystem::path& file = (*segments)[s].second;
    if (!result.dropped_reason.empty()) {
      std::error_code error;
      const auto size = std::filesystem::file_size(file, error);
      if (!error) result.dropped_bytes += size;
      continue;
    }
    auto bytes = read_file(file);
    if (!bytes.is_ok()) return bytes.status();
    auto header = decode_header(*bytes, file);
    if (!header.is_ok()) {
      // A segment is created with its header written and synced before any record goes into
      // it, so a bad header is a segment cut short at creation: the end of the log.
      result.dropped_reason = header.status().message();
      result.dropped_bytes += bytes->size();
      continue;
    }
    std::string_view rest = std::string_view(*bytes).substr(header->size);
    while (!rest.empty()) {
      auto stop = [&](std::string why) {
        result.dropped_reason = file.string() + " at byte " + std::to_string(bytes->size() - rest.size()) + ": " + why;
        result.dropped_bytes += rest.size();
      };
      if (rest.size() < kRecordHead) {
        // The zeros after the last record, cut short (the file was truncated there): the end.
        if (rest.find_first_not_of('\0') != std::string_view::npos) stop("record head cut short");
        break;
      }
      const std::uint64_t size = util::get_u64_le(rest);
      const std::uint32_t crc = util::get_u32_le(rest.substr(8));
      if (size == 0 && crc == 0) {
        // The zeros after the last record: the segment's records end here. What lies beyond
        // is a prepared file's zeros, a recycled file's old records, or part of a record whose
        // head never reached the disk, which no sync covered and so was never acknowledged.
        break;
      }
      if (size < 8 || size > rest.size() - kRecordHead) {
        stop("record cut short");
        break;
      }
      const std::string_view body = rest.substr(kRecordHead, size);
      if (util::crc32c(body, header->crc_seed) != crc) {
        stop("record checksum mismatch");
        break;
      }
      util::ByteReader reader(body);
      const std::uint64_t txnid = reader.u64_le();
      const bool continues = pending && txnid == pending_txnid;
      if (!continues) {
        if (Status applied = apply_pending(); !applied.is_ok()) return applied;
      }
      const std::size_t first_operation = operations.size();
      while (!reader.at_end() && !reader.failed()) {
        RedoOperation op;
        const std::uint8_t kind = reader.u8();
        const std::uint32_t handle = reader.u32_le();
        op.key = reader.bytes(reader.u32_le());
        if (kind == static_cast<std::uint8_t>(RedoOperation::Kind::kPut)) {
          op.kind = RedoOperation::Kind::kPut;
          op.value = reader.bytes(reader.u32_le());
        } else if (kind == static_cast<std::uint8_t>(RedoOperation::Kind::kDelete)) {
          op.kind = RedoOperation::Kind::kDelete;
        } else {
          return Status::corruption("redo log " + file.string() + ": transaction " + std::to_string(txnid) +
                                    " has an operation of unknown kind " + std::to_string(kind));
        }
        auto db = header->dbs.find(handle);
        if (db == header->dbs.end()) {
          return Status::corruption("redo log " + file.string() + ": transaction " + std::to_string(txnid) +
                                    " names database handle " + std::to_string(handle) +
                                    ", which its segment does not list");
        }
        op.db = db->second;
        operations.push_back(op);
      }
      if (reader.failed()) {
        // The CRC matched, so these are the bytes that were written: a writer bug, not a tear.
        return Status::corruption("redo log " + file.string() + ": transaction " + std::to_string(txnid) +
                                  " does not decode");
      }
      rest.remove_prefix(kRecordHead + size);
      if (continues) continue;
      if (txnid < expected) {  // already in data.mdb as of the checkpoint
        operations.resize(first_operation);
        continue;
      }
      if (txnid != expected) {
        return Status::corruption("redo log " + file.string() + ": transaction " + std::to_string(txnid) +
                                  " follows " + std::to_string(expected - 1) + "; the transactions between are missing");
      }
      pending = true;
      pending_txnid = txnid;
    }
    // The operations point into this segment's bytes: applied before they go.
    if (Status applied = apply_pending(); !applied.is_ok()) return applied;
  }
  return result;
}

Status RedoLog::start_segment(std::uint64_t first_txnid, std::span<const RedoDb> dbs) {
  std::shared_ptr<Segment> previous;
  {
    MutexLock lock(mutex_);
    previous = current_;
  }
  // Everything in the segment being replaced is durable before records go elsewhere, so that
  // the log position stays one number: synced_ covers a prefix of every segment.
  if (previous) {
    if (Status s = sync_through(previous->end); !s.is_ok()) return s;
  }
  const std::filesystem::path file = dir_ / segment_name(first_txnid);
  // A fresh salt each time: a recycled file's old records fail the new segment's CRCs.
  const std::uint32_t salt = new_salt();
  const std::string header = encode_header(first_txnid, salt, dbs);
  const off_t header_end = static_cast<off_t>(header.size() + kEndOfRecords.size());
  std::unique_ptr<Prepared> prepared;
  {
    MutexLock lock(mutex_);
    prepared = std::move(prepared_);
  }
  const bool use_prepared = prepared && prepared->size > header_end;
  const off_t size = use_prepared ? prepared->size : header_end;
  if (use_prepared) {
    // The header goes in first and is synced, then the file takes its name: a crash leaves
    // either a prepared file (removed at the next open) or a whole segment header, with no
    // record after it.
    const std::filesystem::path& from = prepared->path;
    if (Status s = write_all(prepared->fd.get(), 0, {header, kEndOfRecords}, from); !s.is_ok()) return s;
    if (sync_data(prepared->fd.get()) != 0) return errno_status("sync " + from.string());
    if (::rename(from.c_str(), file.c_str()) != 0) return errno_status("rename " + from.string());
  }
  Fd fd(use_prepared ? prepared->fd.release() : ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd.valid()) return errno_status("create " + file.string());
  if (!use_prepared) {
    if (Status s = write_all(fd.get(), 0, {header, kEndOfRecords}, file); !s.is_ok()) return s;
    if (sync_data(fd.get()) != 0) return errno_status("sync " + file.string());
  }
  if (Status s = sync_dir(dir_); !s.is_ok()) return s;
  auto segment =
      std::make_shared<Segment>(fd.release(), file, record_crc_seed(salt), static_cast<off_t>(header.size()), size);
  MutexLock lock(mutex_);
  segment->end = position_;
  current_ = std::move(segment);
  return Status::ok();
}

Status RedoLog::prepare_segment(std::uint64_t bytes) {
  std::filesystem::path file;
  bool recycled = false;
  {
    MutexLock lock(mutex_);
    if (prepared_) return Status::ok();
    recycled = !recyclable_.empty();
    file = recycled ? std::exchange(recyclable_, std::filesystem::path())
                    : dir_ / (std::string(kPreparedPrefix) + std::to_string(++prepared_count_));
  }
  off_t size = 0;
  Fd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (recycled ? 0 : O_TRUNC), 0600));
  if (!fd.valid()) return errno_status("create " + file.string());
  if (recycled) {
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return errno_status("stat " + file.string());
    size = st.st_size;
  }
  // Zeros really written, not fallocate: space fallocate reserves is marked unwritten, and
  // the first write into it changes the file's extents, which again needs the journal. A
  // recycled file gets them only past its end, when it is smaller than asked.
  const std::string zeros(std::size_t{1} << 20, '\0');
  Status written;
  const off_t from = size;
  while (written.is_ok() && static_cast<std::uint64_t>(size) < bytes) {
    written = write_all(fd.get(), size, {zeros}, file);
    size += static_cast<off_t>(zeros.size());
  }
  if (written.is_ok() && size > from && sync_data(fd.get()) != 0) written = errno_status("sync " + file.string());
  if (!written.is_ok()) {
    static_cast<void>(::unlink(file.c_str()));  // out of space, most likely: give it back
    return written;
  }
  auto made = std::make_unique<Prepared>(fd.release(), file, size);
  MutexLock lock(mutex_);
  prepared_ = std::move(made);
  return Status::ok();
}

Result<std::uint64_t> RedoLog::append(const RedoRecord& record) {
  std::shared_ptr<Segment> segment;
  {
    MutexLock lock(mutex_);
    if (!current_) return Status::internal("redo log append without a segment");
    segment = current_;
  }
  std::string head;
  head.reserve(kRecordHead);
  util::put_u64_le(head, record.body().size());
  util::put_u32_le(head, util::crc32c(record.body(), segment->crc_seed));
  // One pwritev for head, body and the zeros that end the records after it (the next record
  // writes over them); a short write (or a crash between its parts) leaves a record that
  // replay's checks end the log at.
  if (Status s = write_all(segment->fd.get(), segment->offset, {head, record.body(), kEndOfRecords}, segment->path);
      !s.is_ok()) {
    return s;
  }
  segment->offset += static_cast<off_t>(head.size() + record.body().size());
  segment->written = std::max(segment->written, segment->offset + static_cast<off_t>(kEndOfRecords.size()));
  MutexLock lock(mutex_);
  position_ += head.size() + record.body().size();
  segment->end = position_;
  return position_;
}

Status RedoLog::sync_through(std::uint64_t position) {
  std::shared_ptr<Segment> segment;
  std::uint64_t end = 0;
  {
    MutexLock lock(mutex_);
    if (!sync_failure_.is_ok()) return sync_failure_;
    if (synced_ >= position || !current_) return Status::ok();
    segment = current_;
    end = segment->end;
  }
  const int rc = sync_data(segment->fd.get());
  const int error = errno;
  MutexLock lock(mutex_);
  if (rc != 0) {
    sync_failure_ = Status::io_error("sync " + segment->path.string() + ": " + std::strerror(error));
    return sync_failure_;
  }
  synced_ = std::max(synced_, end);
  return Status::ok();
}

Status RedoLog::remove_segments_through(std::uint64_t txnid) {
  auto segments = list_segments();
  if (!segments.is_ok()) return segments.status();
  std::filesystem::path current;
  {
    MutexLock lock(mutex_);
    if (current_) current = current_->path;
  }
  bool removed = false;
  for (std::size_t i = 0; i < segments->size(); ++i) {
    const auto& [first, path] = (*segments)[i];
    // A segment's records run up to the next segment's first txnid - 1.
    const bool next_starts_after = i + 1 < segments->size() && (*segments)[i + 1].first <= txnid + 1;
    if (path == current || !next_starts_after) continue;
    removed = true;
    {
      // One is kept for prepare_segment to reuse: its blocks are allocated and written, so a
      // record written into them needs no journal commit, and no zeros need writing first. It
      // takes a prepared file's name (durable with the folder's sync below) before anything
      // is written into it: a crash then leaves a file that open removes, never a segment
      // whose old records sit under a new header.
      MutexLock lock(mutex_);
      if (recyclable_.empty() && !prepared_) {
        std::filesystem::path kept = dir_ / (std::string(kPreparedPrefix) + std::to_string(++prepared_count_));
        if (::rename(path.c_str(), kept.c_str()) != 0) return errno_status("rename " + path.string());
        recyclable_ = std::move(kept);
        continue;
      }
    }
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return errno_status("remove " + path.string());
  }
  if (removed) return sync_dir(dir_);
  return Status::ok();
}

std::uint64_t RedoLog::position() const {
  MutexLock lock(mutex_);
  return position_;
}

std::uint64_t RedoLog::synced() const {
  MutexLock lock(mutex_);
  return synced_;
}

}  // namespace kvs::storage
