#include "features/backup.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "storage/store.hpp"
#include "util/blake2b.hpp"
#include "util/coding.hpp"
#include "util/private_dir.hpp"

namespace kvs::features {
namespace {

namespace fs = std::filesystem;

constexpr std::array<char, 8> kMagic = {'K', 'V', 'S', 'B', 'A', 'K', 'U', 'P'};
constexpr std::array<char, 8> kTrailerMagic = {'K', 'V', 'S', 'B', 'K', 'E', 'N', 'D'};
constexpr std::uint8_t kCompressionZstd = 1;
constexpr std::size_t kHeaderFixedBytes = 8 + 1 + 1 + 8 + 2;
constexpr std::size_t kChecksumBytes = 32;  // BLAKE2b-256
constexpr std::size_t kTrailerHashedBytes = 8 + 8 + 8;
constexpr std::size_t kTrailerBytes = kTrailerHashedBytes + kChecksumBytes;
constexpr std::size_t kMaxNodeIdBytes = 1024;
constexpr std::size_t kChunk = 128 * 1024;

// ---- Small POSIX helpers ----------------------------------------------------------------------

Status errno_status(const std::string& what) {
  const int e = errno;
  return Status::io_error(what + ": " + std::strerror(e));
}

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~Fd() { reset(); }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

Status write_all(int fd, const void* data, std::size_t size, const std::string& what) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_status("write " + what);
    }
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return Status::ok();
}

// Reads exactly `size` bytes at `offset`; false with a status on a short read or an error.
Status pread_exact(int fd, void* data, std::size_t size, std::uint64_t offset, const std::string& what) {
  char* p = static_cast<char*>(data);
  while (size > 0) {
    const ssize_t n = ::pread(fd, p, size, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_status("read " + what);
    }
    if (n == 0) return Status::corruption(what + ": truncated (unexpected end of file)");
    p += n;
    size -= static_cast<std::size_t>(n);
    offset += static_cast<std::uint64_t>(n);
  }
  return Status::ok();
}

Status fsync_fd(int fd, const std::string& what) {
  if (::fsync(fd) != 0) return errno_status("fsync " + what);
  return Status::ok();
}

Status fsync_dir(const fs::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return errno_status("open directory " + dir.string());
  return fsync_fd(fd.get(), "directory " + dir.string());
}

// `size` bytes of a header or trailer read from the file, starting at `offset`.
std::string_view field(const unsigned char* bytes, std::size_t offset, std::size_t size) {
  return {reinterpret_cast<const char*>(bytes) + offset, size};
}

struct CCtxFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DCtxFree {
  void operator()(ZSTD_DCtx* c) const { ZSTD_freeDCtx(c); }
};

std::string header_bytes(std::int64_t created_at_ms, std::string_view node_id) {
  std::string h(kMagic.begin(), kMagic.end());
  h += static_cast<char>(kBackupFormatVersion);
  h += static_cast<char>(kCompressionZstd);
  util::put_i64_be(h, created_at_ms);
  util::put_u16_be(h, static_cast<std::uint16_t>(node_id.size()));
  h += node_id;
  return h;
}

// What the header and trailer say, checked for shape but not for content.
struct Layout {
  std::uint64_t file_size = 0;          // from fstat
  std::uint64_t header_size = 0;        // the fixed part and the node id
  std::uint64_t body_size = 0;          // the compressed body, as the trailer says
  std::uint64_t uncompressed_size = 0;  // the body decompressed, as the trailer says
  std::int64_t created_at_ms = 0;       // from the header
  std::string node_id;                  // from the header
  std::string header;                   // the raw header bytes
  std::array<unsigned char, kTrailerBytes> trailer{};  // the raw trailer bytes
};

Result<Layout> read_layout(int fd, const fs::path& path) {
  const std::string name = "backup " + path.string();
  struct stat st {};
  if (::fstat(fd, &st) != 0) return errno_status("stat " + name);
  Layout l;
  l.file_size = static_cast<std::uint64_t>(st.st_size);
  if (l.file_size < kMagic.size()) return Status::corruption(name + ": not a kvs backup (file too short)");

  std::array<unsigned char, kHeaderFixedBytes> fixed{};
  const std::size_t fixed_read = static_cast<std::size_t>(std::min<std::uint64_t>(l.file_size, fixed.size()));
  if (Status s = pread_exact(fd, fixed.data(), fixed_read, 0, name); !s) return s;
  if (std::memcmp(fixed.data(), kMagic.data(), kMagic.size()) != 0) {
    return Status::corruption(name + ": not a kvs backup (bad magic)");
  }
  if (fixed_read < fixed.size()) return Status::corruption(name + ": truncated (header incomplete)");
  if (fixed[8] != kBackupFormatVersion) {
    return Status::corruption(name + ": unsupported backup format version " + std::to_string(fixed[8]));
  }
  if (fixed[9] != kCompressionZstd) {
    return Status::corruption(name + ": unsupported compression " + std::to_string(fixed[9]));
  }
  l.created_at_ms = util::get_i64_be(field(fixed.data(), 10, 8));
  const std::size_t id_size = util::get_u16_be(field(fixed.data(), 18, 2));
  if (id_size > kMaxNodeIdBytes) return Status::corruption(name + ": header node id too long");
  l.header_size = kHeaderFixedBytes + id_size;
  if (l.file_size < l.header_size + kTrailerBytes) {
    return Status::corruption(name + ": truncated (" + std::to_string(l.file_size) + " bytes, no trailer)");
  }
  l.node_id.resize(id_size);
  if (Status s = pread_exact(fd, l.node_id.data(), id_size, kHeaderFixedBytes, name); !s) return s;
  l.header.assign(reinterpret_cast<const char*>(fixed.data()), fixed.size());
  l.header += l.node_id;

  if (Status s = pread_exact(fd, l.trailer.data(), kTrailerBytes, l.file_size - kTrailerBytes, name); !s) return s;
  if (std::memcmp(l.trailer.data(), kTrailerMagic.data(), kTrailerMagic.size()) != 0) {
    return Status::corruption(name + ": truncated or incomplete (no trailer at the end of the file)");
  }
  l.uncompressed_size = util::get_u64_be(field(l.trailer.data(), 8, 8));
  l.body_size = util::get_u64_be(field(l.trailer.data(), 16, 8));
  if (l.body_size != l.file_size - l.header_size - kTrailerBytes) {
    return Status::corruption(name + ": size mismatch (trailer says " + std::to_string(l.body_size) +
                              " compressed bytes, file holds " +
                              std::to_string(l.file_size - l.header_size - kTrailerBytes) + ")");
  }
  return l;
}

// Reads the body once: hashes it with the header and trailer, decompresses it and hands the
// output to `sink` (may be empty), and checks the checksum, the zstd frame and the size. A
// damaged stream stops decompression but not hashing, so a flipped byte is reported as the
// checksum mismatch it is rather than as whatever zstd made of it. The caller discards
// whatever `sink` received when this fails.
Status scan_body(int fd, const fs::path& path, const Layout& l,
                 const std::function<Status(const char*, std::size_t)>& sink) {
  const std::string name = "backup " + path.string();
  util::Blake2bHasher hash(kChecksumBytes);
  hash.update(l.header.data(), l.header.size());

  std::unique_ptr<ZSTD_DCtx, DCtxFree> dctx(ZSTD_createDCtx());
  if (!dctx) return Status::internal("zstd: cannot create a decompression context");
  std::vector<char> in_buf(kChunk);
  std::vector<char> out_buf(ZSTD_DStreamOutSize());
  std::uint64_t produced = 0;
  std::uint64_t offset = l.header_size;
  std::uint64_t left = l.body_size;
  std::size_t last_ret = 1;  // nonzero: the frame is not finished
  bool frame_done = false;

  auto consume = [&](ZSTD_inBuffer& in) -> Status {
    // Also called with an empty input to flush what the decoder still holds.
    do {
      ZSTD_outBuffer out{out_buf.data(), out_buf.size(), 0};
      const std::size_t ret = ZSTD_decompressStream(dctx.get(), &out, &in);
      if (ZSTD_isError(ret)) {
        return Status::corruption(name + ": damaged compressed stream (" + ZSTD_getErrorName(ret) + ")");
      }
      last_ret = ret;
      produced += out.pos;
      if (produced > l.uncompressed_size) {
        return Status::corruption(name + ": decompresses to more than the " + std::to_string(l.uncompressed_size) +
                                  " bytes its trailer records");
      }
      if (sink && out.pos > 0) {
        if (Status s = sink(out_buf.data(), out.pos); !s) return s;
      }
      if (ret == 0) {
        frame_done = true;
        if (in.pos < in.size) return Status::corruption(name + ": unexpected data after the compressed stream");
        return Status::ok();
      }
      if (out.pos < out.size && in.pos == in.size) return Status::ok();  // needs more input
    } while (true);
  };

  Status stream_status;  // the first decompression fault; hashing goes on regardless
  while (left > 0) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, in_buf.size()));
    if (Status s = pread_exact(fd, in_buf.data(), n, offset, name); !s) return s;
    hash.update(in_buf.data(), n);
    offset += n;
    left -= n;
    if (!stream_status) continue;
    if (frame_done) {
      stream_status = Status::corruption(name + ": unexpected data after the compressed stream");
      continue;
    }
    ZSTD_inBuffer in{in_buf.data(), n, 0};
    stream_status = consume(in);
    if (!stream_status && stream_status.code() != Status::Code::kCorruption) return stream_status;  // sink I/O
  }

  hash.update(l.trailer.data(), kTrailerHashedBytes);
  const auto digest = hash.final<kChecksumBytes>();
  if (std::memcmp(digest.data(), l.trailer.data() + kTrailerHashedBytes, digest.size()) != 0) {
    return Status::corruption(name + ": checksum mismatch (the file is damaged)");
  }
  if (!stream_status) return stream_status;
  if (!frame_done || last_ret != 0) {
    return Status::corruption(name + ": truncated compressed stream");
  }
  if (produced != l.uncompressed_size) {
    return Status::corruption(name + ": decompressed " + std::to_string(produced) + " bytes, trailer records " +
                              std::to_string(l.uncompressed_size));
  }
  return Status::ok();
}

BackupInfo info_of(const fs::path& path, const Layout& l) {
  BackupInfo info;
  info.path = path.string();
  info.bytes = l.file_size;
  info.uncompressed_bytes = l.uncompressed_size;
  info.created_at_ms = l.created_at_ms;
  info.node_id = l.node_id;
  return info;
}

Result<Fd> open_for_read(const fs::path& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return Status::not_found("backup " + path.string());
    return errno_status("open backup " + path.string());
  }
  return fd;
}

std::int64_t mtime_ms(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1'000'000;
}

bool is_temp_name(const std::string& name) {
  return name.starts_with(".kvs-backup-") && name.ends_with(".tmp");
}

}  // namespace

std::string backup_file_name(std::int64_t created_at_ms) {
  using namespace std::chrono;
  const sys_time<milliseconds> t{milliseconds(created_at_ms)};
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss<milliseconds> time{t - day};
  char buf[64];
  std::snprintf(buf, sizeof buf, "kvs-backup-%04d%02u%02uT%02d%02d%02d.%03dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(time.hours().count()), static_cast<int>(time.minutes().count()),
                static_cast<int>(time.seconds().count()), static_cast<int>(time.subseconds().count()));
  return std::string(buf) + std::string(kBackupExtension);
}

Result<BackupInfo> write_backup(const fs::path& path, const std::function<Status(int fd)>& copy_env_to_fd,
                                const BackupWriteOptions& options) {
  if (options.node_id.size() > kMaxNodeIdBytes) return Status::invalid_argument("backup: node id longer than 1024 bytes");
  if (path.filename().empty()) return Status::invalid_argument("backup: no file name in " + path.string());
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  std::error_code ec;
  if (Status made = util::create_private_directories(dir); !made.is_ok()) return made.with_context("backup_path");
  if (fs::exists(path, ec)) return Status::precondition_failed("backup " + path.string() + " already exists");

  const fs::path temp = dir / (".kvs-backup-" + path.filename().string() + ".tmp");
  Fd out(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));  // backups hold secrets too
  if (!out.valid()) return errno_status("create " + temp.string());
  // From here on, any failure removes the temp file.
  struct TempGuard {
    fs::path path;
    bool keep = false;
    ~TempGuard() {
      if (!keep) ::unlink(path.c_str());
    }
  } guard{temp};

  util::Blake2bHasher hash(kChecksumBytes);
  std::uint64_t body_size = 0;
  const std::string header = header_bytes(options.created_at_ms, options.node_id);
  if (Status s = write_all(out.get(), header.data(), header.size(), temp.string()); !s) return s;
  hash.update(header.data(), header.size());

  std::unique_ptr<ZSTD_CCtx, CCtxFree> cctx(ZSTD_createCCtx());
  if (!cctx) return Status::internal("zstd: cannot create a compression context");
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, std::clamp(options.compression_level, 1, 19));
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_checksumFlag, 1);

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return errno_status("pipe for backup");
  Fd read_end(pipe_fds[0]);
  int write_end = pipe_fds[1];

  // The copier writes the environment into the pipe; closing its end is our end-of-file.
  Status copy_status;
  std::thread copier([&copy_env_to_fd, &copy_status, write_end] {
    // Should the read end close early, a write must fail with EPIPE rather than kill the
    // process with SIGPIPE. Threads the copier starts (mdb_env_copyfd2 with MDB_CP_COMPACT
    // starts one) inherit this mask; a signal left pending dies with the thread.
    sigset_t pipe_signal;
    sigemptyset(&pipe_signal);
    sigaddset(&pipe_signal, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);
    try {
      copy_status = copy_env_to_fd(write_end);
    } catch (const std::exception& e) {
      copy_status = Status::internal(std::string("backup copy threw: ") + e.what());
    } catch (...) {
      copy_status = Status::internal("backup copy threw");
    }
    ::close(write_end);
  });

  // Compress what arrives. After a failure here we keep reading (and discarding) until the
  // copier is done: closing the read end early would hit it with SIGPIPE.
  Status status;
  std::uint64_t uncompressed = 0;
  std::vector<char> in_buf(ZSTD_CStreamInSize());
  std::vector<char> out_buf(ZSTD_CStreamOutSize());
  auto emit = [&](const char* data, std::size_t n) -> Status {
    if (n == 0) return Status::ok();
    hash.update(data, n);
    body_size += n;
    return write_all(out.get(), data, n, temp.string());
  };
  while (true) {
    const ssize_t n = ::read(read_end.get(), in_buf.data(), in_buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      if (status) status = errno_status("read backup pipe");
      read_end.reset();  // the copier's writes now fail with EPIPE (SIGPIPE is blocked there)
      break;
    }
    if (n == 0) break;
    if (!status) continue;  // draining
    uncompressed += static_cast<std::uint64_t>(n);
    ZSTD_inBuffer in{in_buf.data(), static_cast<std::size_t>(n), 0};
    while (in.pos < in.size && status) {
      ZSTD_outBuffer o{out_buf.data(), out_buf.size(), 0};
      const std::size_t ret = ZSTD_compressStream2(cctx.get(), &o, &in, ZSTD_e_continue);
      if (ZSTD_isError(ret)) {
        status = Status::internal(std::string("zstd: ") + ZSTD_getErrorName(ret));
        break;
      }
      status = emit(out_buf.data(), o.pos);
    }
  }
  copier.join();
  read_end.reset();
  if (!copy_status) return copy_status.with_context("backup copy of the environment");
  if (!status) return status;
  if (uncompressed == 0) return Status::internal("backup: the environment copy produced no data");

  // Finish the frame.
  for (std::size_t remaining = 1; remaining != 0;) {
    ZSTD_inBuffer in{nullptr, 0, 0};
    ZSTD_outBuffer o{out_buf.data(), out_buf.size(), 0};
    remaining = ZSTD_compressStream2(cctx.get(), &o, &in, ZSTD_e_end);
    if (ZSTD_isError(remaining)) return Status::internal(std::string("zstd: ") + ZSTD_getErrorName(remaining));
    if (Status s = emit(out_buf.data(), o.pos); !s) return s;
  }

  std::string trailer(kTrailerMagic.begin(), kTrailerMagic.end());
  util::put_u64_be(trailer, uncompressed);
  util::put_u64_be(trailer, body_size);
  hash.update(trailer.data(), trailer.size());
  const auto digest = hash.final<kChecksumBytes>();
  trailer.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  if (Status s = write_all(out.get(), trailer.data(), trailer.size(), temp.string()); !s) return s;
  if (Status s = fsync_fd(out.get(), temp.string()); !s) return s;
  out.reset();

  // link() refuses to replace an existing name, unlike rename(): a backup never overwrites one.
  if (::link(temp.c_str(), path.c_str()) != 0) {
    if (errno == EEXIST) return Status::precondition_failed("backup " + path.string() + " already exists");
    return errno_status("name backup " + path.string());
  }
  if (Status s = fsync_dir(dir); !s) {
    ::unlink(path.c_str());
    return s;
  }

  BackupInfo info;
  info.path = path.string();
  info.bytes = header.size() + body_size + trailer.size();
  info.uncompressed_bytes = uncompressed;
  info.created_at_ms = options.created_at_ms;
  info.node_id = options.node_id;
  return info;  // the guard unlinks the temp name; the data stays under `path`
}

Result<BackupInfo> verify_backup(const fs::path& path) {
  auto fd = open_for_read(path);
  if (!fd) return fd.status();
  auto layout = read_layout(fd->get(), path);
  if (!layout) return layout.status();
  if (Status s = scan_body(fd->get(), path, *layout, {}); !s) return s;
  return info_of(path, *layout);
}

Result<BackupInfo> restore_backup(const fs::path& backup, const fs::path& data_dir, const RestoreOptions& options) {
  auto fd = open_for_read(backup);
  if (!fd) return fd.status();
  auto layout = read_layout(fd->get(), backup);
  if (!layout) return layout.status();

  if (Status made = util::create_private_directories(data_dir); !made.is_ok()) return made.with_context("data_dir");

  // The store holds an exclusive flock on <data_dir>/LOCK while it runs; so do we, so that a
  // node cannot start on the directory halfway through.
  const fs::path lock_path = data_dir / "LOCK";
  Fd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock.valid()) return errno_status("open " + lock_path.string());
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return Status::unavailable("data_dir " + data_dir.string() + " is in use by a running kvs node; stop it first");
    }
    return errno_status("lock " + lock_path.string());
  }

  const fs::path temp = data_dir / "data.mdb.restore.tmp";
  struct TempGuard {
    fs::path path;
    ~TempGuard() { ::unlink(path.c_str()); }  // after the rename below this is a no-op
  } guard{temp};
  {
    Fd out(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!out.valid()) return errno_status("create " + temp.string());
    const int out_fd = out.get();
    const std::string temp_name = temp.string();
    Status s = scan_body(fd->get(), backup, *layout, [out_fd, &temp_name](const char* data, std::size_t n) {
      return write_all(out_fd, data, n, temp_name);
    });
    if (!s) return s;
    if (Status f = fsync_fd(out_fd, temp_name); !f) return f;
  }
  if (Status s = storage::check_environment_file(temp); !s) return s.with_context("backup " + backup.string());
  // The restored data goes on from the backup's change sequence, so the change feed's cursors
  // handed out since then would name other changes: a new feed id makes them resync.
  if (Status s = storage::forget_feed_id(temp); !s) return s.with_context("backup " + backup.string());

  const fs::path data = data_dir / "data.mdb";
  std::error_code ec;
  if (fs::exists(data, ec)) {
    if (options.keep_previous) {
      if (::rename(data.c_str(), (data_dir / "data.mdb.before-restore").c_str()) != 0) {
        return errno_status("move aside " + data.string());
      }
    }
  }
  if (::rename(temp.c_str(), data.c_str()) != 0) return errno_status("rename into " + data.string());
  // LMDB's reader table belongs to the old file; it is rebuilt on open. So does the redo log
  // (storage/redo_log.hpp): its checkpoint and transactions are the old file's, and the
  // restored data is the backup's as it stands.
  if (::unlink((data_dir / "lock.mdb").c_str()) != 0 && errno != ENOENT) {
    return errno_status("remove " + (data_dir / "lock.mdb").string());
  }
  fs::remove_all(data_dir / "redo", ec);
  if (ec) return Status::io_error("remove " + (data_dir / "redo").string() + ": " + ec.message());
  if (Status s = fsync_dir(data_dir); !s) return s;
  return info_of(backup, *layout);
}

Result<std::vector<BackupInfo>> list_backups(const fs::path& dir) {
  std::vector<BackupInfo> out;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return out;
  fs::directory_iterator it(dir, ec);
  // Iterated with error codes: std::filesystem throws otherwise, and nothing may throw here.
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const fs::directory_entry& entry = *it;
    const fs::path path = entry.path();
    const std::string name = path.filename().string();
    if (!name.ends_with(kBackupExtension) || name.starts_with(".")) continue;
    if (!entry.is_regular_file(ec)) continue;
    BackupInfo info;
    info.path = path.string();
    auto fd = open_for_read(path);
    if (!fd) {
      info.problem = fd.status().message();
      out.push_back(std::move(info));
      continue;
    }
    auto layout = read_layout(fd->get(), path);
    if (!layout) {
      info.problem = layout.status().message();
      struct stat st {};
      if (::fstat(fd->get(), &st) == 0) info.bytes = static_cast<std::uint64_t>(st.st_size);
      out.push_back(std::move(info));
      continue;
    }
    out.push_back(info_of(path, *layout));
  }
  if (ec) return Status::io_error("list backups in " + dir.string() + ": " + ec.message());
  std::sort(out.begin(), out.end(), [](const BackupInfo& a, const BackupInfo& b) {
    if (a.created_at_ms != b.created_at_ms) return a.created_at_ms > b.created_at_ms;
    return fs::path(a.path).filename() > fs::path(b.path).filename();
  });
  return out;
}

Result<std::vector<fs::path>> apply_retention(const fs::path& dir, std::int64_t retention_days, std::int64_t now_ms) {
  std::vector<fs::path> removed;
  if (retention_days <= 0) return removed;
  const std::int64_t cutoff_ms = now_ms - retention_days * 86'400'000;
  auto backups = list_backups(dir);
  if (!backups) return backups.status();

  bool kept_newest_sound = false;  // the list is newest first
  for (const auto& b : *backups) {
    bool remove = false;
    if (b.problem.empty()) {
      if (!kept_newest_sound) {
        kept_newest_sound = true;
        continue;
      }
      remove = b.created_at_ms < cutoff_ms;
    } else {
      remove = mtime_ms(b.path) < cutoff_ms;
    }
    if (!remove) continue;
    if (::unlink(b.path.c_str()) != 0 && errno != ENOENT) return errno_status("remove backup " + b.path);
    removed.push_back(b.path);
  }

  // Temp files of backups that never finished (a crash mid-write).
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    for (fs::directory_iterator it(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
      const fs::path path = it->path();
      if (!is_temp_name(path.filename().string()) || mtime_ms(path) >= cutoff_ms) continue;
      if (::unlink(path.c_str()) == 0) removed.push_back(path);
    }
  }
  if (!removed.empty()) (void)fsync_dir(dir);
  return removed;
}

// ---- Scheduler --------------------------------------------------------------------------------

void BackupScheduler::arm(std::int64_t now_ms) {
  // Cron works in whole seconds; fire times are whole minutes.
  const std::int64_t now_s = now_ms >= 0 ? now_ms / 1000 : -((-now_ms + 999) / 1000);
  const auto next_s = schedule_.next_after(now_s);
  next_ms_ = next_s ? std::optional<std::int64_t>(*next_s * 1000) : std::nullopt;
  armed_at_ms_ = now_ms;
  armed_ = true;
}

std::optional<std::int64_t> BackupScheduler::next_run_ms(std::int64_t now_ms) {
  if (!armed_ || now_ms < armed_at_ms_) arm(now_ms);
  return next_ms_;
}

bool BackupScheduler::due(std::int64_t now_ms) {
  if (!armed_ || now_ms < armed_at_ms_) {
    arm(now_ms);
    return false;
  }
  if (!next_ms_ || now_ms < *next_ms_) return false;
  arm(now_ms);
  return true;
}

}  // namespace kvs::features
