// The LMDB plumbing behind lmdb_env.hpp: environment setup, the reader pool, transactions,
// the checkpoint's meta pages, the mapping from LMDB codes to Status, and the check that a
// file is an LMDB environment (store.hpp, check_environment_file). Cursors and the overlay
// they merge are in lmdb_cursor.cpp. Threading as lmdb_env.hpp says; the reader pool takes no
// lock (atomic slots).

#include "storage/lmdb_env.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvs/log.hpp"
#include "storage/file_sync.hpp"
#include "storage/lmdb_detail.hpp"
#include "storage/store.hpp"
#include "storage/tables.hpp"

namespace kvs::storage {
namespace lmdb {
namespace {

static_assert(std::is_same_v<Dbi, MDB_dbi>, "lmdb::Dbi must be MDB_dbi");

constexpr unsigned kMaxDbs = 16;
constexpr unsigned kMaxReaders = 512;
// Idle read transactions kept for reuse (each keeps a reader slot, so well under kMaxReaders).
constexpr std::size_t kMaxIdleReaders = 64;

#if defined(KVS_BENCH_UNSAFE_NOSYNC)
// The build that measures what syncing costs (storage/file_sync.hpp): sync and write_back
// return at once, and commits run with MDB_NOSYNC.
constexpr bool kNeverSync = true;

// On stderr whatever the log level or sink, and in the log: this build loses acknowledged
// writes on a crash, and must never be mistaken for a normal one.
void warn_unsafe_nosync(const std::filesystem::path& dir) {
  std::fprintf(stderr,
               "WARNING: this kvs was built with KVS_BENCH_UNSAFE_NOSYNC: it never syncs (LMDB runs with "
               "MDB_NOSYNC, the redo log and the checkpoints skip their syncs), writes are NOT durable and a crash "
               "loses acknowledged writes. For benchmarks only. (%s)\n",
               dir.c_str());
  log(LogLevel::kWarn, "storage.unsafe_nosync",
      {{"data_dir", dir.string()},
       {"detail", "built with KVS_BENCH_UNSAFE_NOSYNC: no syncs, writes are not durable; benchmarks only"}});
}
#else
constexpr bool kNeverSync = false;
#endif

// The last commit's meta page as LMDB reports it (txnid, last page, map size) and the main
// database's figures (page size).
Status info_and_stat(MDB_env* env, MDB_envinfo& info, MDB_stat& stat) {
  if (int rc = mdb_env_info(env, &info); rc != 0) return lmdb_status(rc, "environment info");
  if (int rc = mdb_env_stat(env, &stat); rc != 0) return lmdb_status(rc, "environment stat");
  return Status::ok();
}


// LMDB's meta page (data format 1, unchanged since 0.9.0), as far as the redo log's checkpoint
// reads it: a 16-byte page header (u64 page number, u16 pad, u16 flags, u32 bounds), then
// MDB_meta: u32 magic, u32 format, u64 address, u64 map size, two 48-byte MDB_db (free pages,
// main), u64 last page, u64 txnid. A checkpoint is taken only when the page read back has the
// txnid and last page that mdb_env_info reports, so a layout other than this one is noticed
// before it is relied on.
namespace meta {
static_assert(sizeof(std::size_t) == 8, "the meta page offsets below are for 64-bit LMDB");
constexpr std::size_t kFlags = 10;
constexpr std::uint16_t kFlagMeta = 0x08;  // P_META
constexpr std::size_t kMagic = 16;
constexpr std::uint32_t kMagicValue = 0xBEEFC0DE;
constexpr std::size_t kFormat = 20;
constexpr std::uint32_t kFormatValue = 1;
constexpr std::size_t kLastPage = 136;
constexpr std::size_t kTxnid = 144;
constexpr std::size_t kEnd = 152;
constexpr int kSlots = 2;

template <class U>
U read(std::string_view page, std::size_t offset) {
  U value{};
  std::memcpy(&value, page.data() + offset, sizeof value);
  return value;
}

// True when `page` is a meta page of LMDB's data format 1.
bool is_meta(std::string_view page) {
  return page.size() >= kEnd && (read<std::uint16_t>(page, kFlags) & kFlagMeta) != 0 &&
         read<std::uint32_t>(page, kMagic) == kMagicValue && read<std::uint32_t>(page, kFormat) == kFormatValue;
}

Status pread_all(int fd, char* out, std::size_t size, off_t offset, const std::filesystem::path& file) {
  std::size_t done = 0;
  while (done < size) {
    ssize_t got = ::pread(fd, out + done, size - done, offset + static_cast<off_t>(done));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      return Status::io_error("read the meta pages of " + file.string() + ": " +
                              (got < 0 ? std::strerror(errno) : "file too short"));
    }
    done += static_cast<std::size_t>(got);
  }
  return Status::ok();
}

Status pwrite_all(int fd, std::string_view bytes, off_t offset, const std::filesystem::path& file) {
  while (!bytes.empty()) {
    ssize_t put = ::pwrite(fd, bytes.data(), bytes.size(), offset);
    if (put < 0 && errno == EINTR) continue;
    if (put < 0) return Status::io_error("write the meta pages of " + file.string() + ": " + std::strerror(errno));
    bytes.remove_prefix(static_cast<std::size_t>(put));
    offset += put;
  }
  return Status::ok();
}
}  // namespace meta

}  // namespace

Status lmdb_status(int rc, std::string_view operation) {
  std::string message = "lmdb " + std::string(operation) + ": " + mdb_strerror(rc);
  switch (rc) {
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
      return Status::corruption(std::move(message));
    // The map is full, or the disk under it: a state to report (507), not a fault. The
    // transaction is rolled back; nothing already committed is touched.
    case MDB_MAP_FULL:
    case ENOSPC:
    case EDQUOT:
      return Status::insufficient_storage(std::move(message));
    default:
      return Status::io_error(std::move(message));
  }
}

std::string What::text() const {
  std::string text(label);
  if (!subject.empty()) text.append(" ").append(subject);
  return text;
}

// Read transactions are recycled (mdb_txn_reset / mdb_txn_renew) rather than begun afresh:
// with MDB_NOTLS a fresh one takes LMDB's process-shared reader mutex to find a slot, a
// renewed one keeps its slot. A reset transaction holds no snapshot, so idle ones do not pin
// old pages. Every read still takes its snapshot at the start of the call and drops it at
// the end, on the caller's thread.
//
// The idle transactions sit in a fixed array of slots, each taken and filled with one atomic
// exchange, so that a read takes no lock: a mutex around a shared list was a cache line every
// reader wrote twice per read. Each thread starts looking at its own home slot (threads are
// numbered as they first read), so concurrent readers mostly touch different cache lines; a
// thread finding its home empty or full walks on. Handing a slot's transaction over is a
// release store / acquire exchange, so whoever takes it sees everything the last user did;
// an exchange moves the pointer whole, so no transaction is ever held by two readers.
class ReaderPool {
 public:
  explicit ReaderPool(MDB_env* env) : env_(env) {}
  ~ReaderPool() {
    for (Slot& slot : slots_) {
      if (MDB_txn* txn = slot.txn.exchange(nullptr, std::memory_order_acquire)) mdb_txn_abort(txn);
    }
  }
  ReaderPool(const ReaderPool&) = delete;
  ReaderPool& operator=(const ReaderPool&) = delete;

  Result<MDB_txn*> take() {
    const std::size_t home = home_slot();
    for (std::size_t i = 0; i < kMaxIdleReaders; ++i) {
      Slot& slot = slots_[(home + i) % kMaxIdleReaders];
      if (slot.txn.load(std::memory_order_relaxed) == nullptr) continue;
      MDB_txn* txn = slot.txn.exchange(nullptr, std::memory_order_acquire);
      if (txn == nullptr) continue;  // another reader took it first
      if (mdb_txn_renew(txn) == 0) return txn;
      mdb_txn_abort(txn);
      break;
    }
    MDB_txn* txn = nullptr;
    int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn);
    if (rc != 0) return lmdb_status(rc, "begin read transaction");
    return txn;
  }

  void give_back(MDB_txn* txn) noexcept {
    mdb_txn_reset(txn);
    const std::size_t home = home_slot();
    for (std::size_t i = 0; i < kMaxIdleReaders; ++i) {
      Slot& slot = slots_[(home + i) % kMaxIdleReaders];
      MDB_txn* empty = nullptr;
      if (slot.txn.load(std::memory_order_relaxed) == nullptr &&
          slot.txn.compare_exchange_strong(empty, txn, std::memory_order_release, std::memory_order_relaxed)) {
        return;
      }
    }
    mdb_txn_abort(txn);  // every slot is full: more readers than kMaxIdleReaders at once
  }

 private:
  // One cache line per slot: readers on their home slots do not share lines.
  struct alignas(64) Slot {
    std::atomic<MDB_txn*> txn{nullptr};
  };

  static std::size_t home_slot() noexcept {
    static std::atomic<std::size_t> next_thread{0};
    thread_local const std::size_t home = next_thread.fetch_add(1, std::memory_order_relaxed) % kMaxIdleReaders;
    return home;
  }

  MDB_env* env_;
  std::array<Slot, kMaxIdleReaders> slots_{};
};

// ---------------------------------------------------------------------------------------------
// Env

Result<std::unique_ptr<Env>> Env::open(const std::filesystem::path& dir, std::size_t map_size_bytes) {
  std::unique_ptr<Env> env(new Env());
  int rc = mdb_env_create(&env->env_);
  if (rc != 0) {
    env->env_ = nullptr;
    return lmdb_status(rc, "create environment");
  }
  if ((rc = mdb_env_set_maxdbs(env->env_, kMaxDbs)) != 0) return lmdb_status(rc, "set maxdbs");
  if ((rc = mdb_env_set_maxreaders(env->env_, kMaxReaders)) != 0) return lmdb_status(rc, "set maxreaders");
  if ((rc = mdb_env_set_mapsize(env->env_, map_size_bytes)) != 0) return lmdb_status(rc, "set mapsize");
  // MDB_NOTLS: reads come from thread pools, and a read transaction is recycled across threads.
  // No MDB_NOSYNC / MDB_NOMETASYNC: every commit is durable when it returns. The one exception
  // is a build configured with KVS_BENCH_UNSAFE_NOSYNC, made only to measure what fsync costs
  // (bench/kvs_ab.sh --nosync); it says so loudly at every open.
  unsigned flags = MDB_NOTLS;
#if defined(KVS_BENCH_UNSAFE_NOSYNC)
  flags |= MDB_NOSYNC;
  warn_unsafe_nosync(dir);
#endif
  // 0600: the file holds every document, user record and the audit log (SPEC section 2,
  // "Files"). The mode applies to files LMDB creates; files made by an older kvs, which used
  // 0644, are narrowed below.
  rc = mdb_env_open(env->env_, dir.c_str(), flags, 0600);
  if (rc != 0) return lmdb_status(rc, "open environment in " + dir.string());
  for (const char* name : {"data.mdb", "lock.mdb"}) {
    std::filesystem::path file = dir / name;
    if (::chmod(file.c_str(), 0600) != 0) {
      return Status::io_error("cannot set mode 0600 on " + file.string() + ": " + std::strerror(errno));
    }
  }
  // Reader slots left behind by dead processes would pin old pages forever.
  int stale = 0;
  mdb_reader_check(env->env_, &stale);
  env->dir_ = dir;
  env->readers_ = std::make_unique<ReaderPool>(env->env_);
  return env;
}

Status Env::set_commit_sync(bool sync) {
  if constexpr (kNeverSync) return Status::ok();  // MDB_NOSYNC since open
  int rc = mdb_env_set_flags(env_, MDB_NOSYNC, sync ? 0 : 1);
  if (rc != 0) return lmdb_status(rc, "set MDB_NOSYNC");
  return Status::ok();
}

Status Env::sync() {
  if constexpr (kNeverSync) return Status::ok();
  int rc = mdb_env_sync(env_, 1);
  if (rc != 0) return lmdb_status(rc, "sync " + (dir_ / "data.mdb").string());
  return Status::ok();
}

Status Env::write_back(std::size_t step_bytes, std::size_t max_steps) {
  if constexpr (kNeverSync) return Status::ok();
  auto failed = [this](std::string_view what) {
    return Status::io_error(std::string(what) + " " + (dir_ / "data.mdb").string() + ": " + std::strerror(errno));
  };
  int fd = -1;
  if (int rc = mdb_env_get_fd(env_, &fd); rc != 0) return lmdb_status(rc, "write back data.mdb");
  struct stat st{};
  if (::fstat(fd, &st) != 0) return failed("stat");
  const auto size = static_cast<std::size_t>(st.st_size);
  const std::size_t steps = std::max<std::size_t>(max_steps, 1);
  const auto step = static_cast<off_t>(std::max({step_bytes, (size + steps - 1) / steps, std::size_t{4096}}));
  constexpr unsigned kWriteAndWait =
      SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER;
  for (off_t offset = 0; offset < st.st_size; offset += step) {
    while (::sync_file_range(fd, offset, step, kWriteAndWait) != 0) {
      if (errno != EINTR) return failed("write back");
    }
  }
  return Status::ok();
}

Result<std::uint64_t> Env::last_txnid() const {
  MDB_envinfo info{};
  int rc = mdb_env_info(env_, &info);
  if (rc != 0) return lmdb_status(rc, "environment info");
  return std::uint64_t{info.me_last_txnid};
}

PinnedSnapshot::~PinnedSnapshot() { mdb_txn_abort(txn_); }

Result<std::unique_ptr<PinnedSnapshot>> Env::pin() const {
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn);
  if (rc != 0) return lmdb_status(rc, "begin the checkpoint's read transaction");
  return std::unique_ptr<PinnedSnapshot>(new PinnedSnapshot(txn, mdb_txn_id(txn)));
}

Result<RedoCheckpoint> Env::checkpoint_of(std::uint64_t txnid) const {
  MDB_envinfo info{};
  MDB_stat stat{};
  if (Status s = info_and_stat(env_, info, stat); !s.is_ok()) return s;
  if (info.me_last_txnid != txnid) {
    return Status::internal("checkpoint of transaction " + std::to_string(txnid) + " asked for, but the last is " +
                            std::to_string(info.me_last_txnid));
  }
  int fd = -1;
  if (int rc = mdb_env_get_fd(env_, &fd); rc != 0) return lmdb_status(rc, "environment file");
  const std::filesystem::path file = dir_ / "data.mdb";
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Status::io_error("stat " + file.string() + ": " + std::strerror(errno));
  const std::size_t page_size = stat.ms_psize;
  std::string pages(page_size * meta::kSlots, '\0');
  if (Status s = meta::pread_all(fd, pages.data(), pages.size(), 0, file); !s.is_ok()) return s;
  for (int slot = 0; slot < meta::kSlots; ++slot) {
    std::string_view page = std::string_view(pages).substr(static_cast<std::size_t>(slot) * page_size, page_size);
    if (!meta::is_meta(page) || meta::read<std::uint64_t>(page, meta::kTxnid) != txnid) continue;
    if (meta::read<std::uint64_t>(page, meta::kLastPage) != info.me_last_pgno) break;
    RedoCheckpoint checkpoint;
    checkpoint.txnid = txnid;
    checkpoint.data_dev = static_cast<std::uint64_t>(st.st_dev);
    checkpoint.data_ino = static_cast<std::uint64_t>(st.st_ino);
    checkpoint.meta_page = std::string(page);
    return checkpoint;
  }
  return Status::internal("the meta pages of " + file.string() + " do not show transaction " + std::to_string(txnid) +
                          " as this build of kvs expects LMDB's file format to: no checkpoint can be taken");
}

std::vector<RedoDb> Env::databases() const {
  MutexLock lock(databases_mutex_);
  return databases_;
}

Result<bool> checkpoint_matches(const std::filesystem::path& dir, const RedoCheckpoint& checkpoint) {
  const std::filesystem::path file = dir / "data.mdb";
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    if (errno == ENOENT) return false;
    return Status::io_error("stat " + file.string() + ": " + std::strerror(errno));
  }
  return static_cast<std::uint64_t>(st.st_dev) == checkpoint.data_dev &&
         static_cast<std::uint64_t>(st.st_ino) == checkpoint.data_ino;
}

Status restore_checkpoint(const std::filesystem::path& dir, const RedoCheckpoint& checkpoint) {
  const std::filesystem::path file = dir / "data.mdb";
  const std::string_view page = checkpoint.meta_page;
  if (!meta::is_meta(page) || meta::read<std::uint64_t>(page, meta::kTxnid) != checkpoint.txnid) {
    return Status::corruption("the redo log's checkpoint does not hold a meta page of transaction " +
                              std::to_string(checkpoint.txnid));
  }
  const int fd = ::open(file.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return Status::io_error("open " + file.string() + ": " + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Status::io_error("stat " + file.string() + ": " + std::strerror(errno));
  const std::uint64_t needed = (meta::read<std::uint64_t>(page, meta::kLastPage) + 1) * page.size();
  if (static_cast<std::uint64_t>(st.st_size) < needed) {
    return Status::corruption(file.string() + " is " + std::to_string(st.st_size) + " bytes, shorter than the " +
                              std::to_string(needed) + " its redo log checkpoint needs");
  }
  // The page goes into both slots, each with its own page number: LMDB opens at the higher
  // txnid of the two, and both are the checkpoint's now.
  for (int slot = 0; slot < meta::kSlots; ++slot) {
    std::string copy(page);
    const std::uint64_t page_number = static_cast<std::uint64_t>(slot);
    std::memcpy(copy.data(), &page_number, sizeof page_number);
    if (Status s = meta::pwrite_all(fd, copy, static_cast<off_t>(slot * page.size()), file); !s.is_ok()) return s;
  }
  if (sync_data(fd) != 0) return Status::io_error("sync " + file.string() + ": " + std::strerror(errno));
  return Status::ok();
}

Result<MapUsage> Env::usage() const {
  MDB_envinfo info{};
  MDB_stat stat{};
  if (Status s = info_and_stat(env_, info, stat); !s.is_ok()) return s;
  MapUsage usage;
  usage.page_bytes = stat.ms_psize;
  usage.map_bytes = info.me_mapsize;
  usage.next_page = static_cast<std::uint64_t>(info.me_last_pgno) + 1;
  int fd = -1;
  if (int rc = mdb_env_get_fd(env_, &fd); rc != 0) return lmdb_status(rc, "environment file");
  struct stat file {};
  if (::fstat(fd, &file) != 0) return Status::io_error(std::string("stat of data.mdb: ") + std::strerror(errno));
  usage.file_bytes = static_cast<std::uint64_t>(file.st_size);
  return usage;
}

Env::~Env() {
  readers_.reset();  // idle read transactions go before their environment
  if (env_ != nullptr) mdb_env_close(env_);
}

Status Env::copy_to_fd(int fd) const {
  // Free pages are left out (MDB_CP_COMPACT), so the copy is as small as the live data.
  int rc = mdb_env_copyfd2(env_, fd, MDB_CP_COMPACT);
  if (rc != 0) return lmdb_status(rc, "copy environment");
  return Status::ok();
}

void Env::set_overlay(std::shared_ptr<const Overlay> overlay) {
  const bool held = overlay != nullptr;
  std::shared_ptr<const Overlay> replaced;
  {
    MutexLock lock(overlay_mutex_);
    replaced = std::exchange(overlay_, std::move(overlay));
  }
  held_.store(held, std::memory_order_release);
}

// ---------------------------------------------------------------------------------------------
// Transactions

Result<std::optional<std::string_view>> Txn::get(Dbi dbi, std::string_view key, What what) const {
  if (overlay_) {
    ReaderLock lock(overlay_->mutex_);
    if (const Overlay::Keys* keys = overlay_->keys(dbi)) {
      auto found = keys->find(key);
      if (found != keys->end()) {
        if (const Overlay::Version* version = Overlay::at(found->second.get(), visible_)) {
          if (version->deleted) return std::optional<std::string_view>();
          return std::optional<std::string_view>(version->value);
        }
      }
    }
  }
  MDB_val k = to_val(key);
  MDB_val v{0, nullptr};
  int rc = mdb_get(txn_, dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return std::optional<std::string_view>();
  if (rc != 0) return lmdb_status(rc, "get " + what.text());
  return std::optional<std::string_view>(to_view(v));
}

// The freelist (LMDB's database 0) maps a transaction id to the pages it freed, each value an
// array of page numbers whose first element is their count: the layout mdb_stat -f reads.
Result<std::uint64_t> Txn::free_pages() const {
  MDB_cursor* cursor = nullptr;
  int rc = mdb_cursor_open(txn_, 0, &cursor);
  if (rc != 0) return lmdb_status(rc, "cursor on the freelist");
  std::uint64_t pages = 0;
  MDB_val key{0, nullptr};
  MDB_val value{0, nullptr};
  while ((rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)) == 0) {
    if (value.mv_size >= sizeof(std::size_t)) {
      std::size_t count = 0;
      std::memcpy(&count, value.mv_data, sizeof count);
      pages += count;
    }
  }
  mdb_cursor_close(cursor);
  if (rc != MDB_NOTFOUND) return lmdb_status(rc, "read the freelist");
  return pages;
}

Result<std::uint64_t> Txn::entries(Dbi dbi, What what) const {
  MDB_stat stat{};
  int rc = mdb_stat(txn_, dbi, &stat);
  if (rc != 0) return lmdb_status(rc, "stat " + what.text());
  return std::uint64_t{stat.ms_entries};
}

ReadTxn::~ReadTxn() {
  if (txn_ != nullptr) env_.readers_->give_back(txn_);
}

Status ReadTxn::begin() {
  // The overlay before the snapshot: the writer commits the held transaction before it takes
  // the overlay away, so a reader that finds none has a snapshot with every batch in it.
  std::shared_ptr<const Overlay> overlay;
  if (env_.held_.load(std::memory_order_acquire)) {
    MutexLock lock(env_.overlay_mutex_);
    overlay = env_.overlay_;
  }
  const std::uint64_t visible = overlay ? overlay->batches() : 0;
  auto txn = env_.readers_->take();
  if (!txn.is_ok()) return txn.status();
  txn_ = *txn;
  // A snapshot newer than the overlay's base already holds the held transaction, committed
  // meanwhile, with every batch of it: then LMDB alone is the newer, whole state.
  if (overlay && mdb_txn_id(txn_) == overlay->base()) {
    overlay_ = std::move(overlay);
    visible_ = visible;
  }
  return Status::ok();
}

Status WriteTxn::begin(Env& env) {
  int rc = mdb_txn_begin(env.env_, nullptr, 0, &txn_);
  if (rc != 0) {
    txn_ = nullptr;
    return lmdb_status(rc, "begin write transaction");
  }
  env_ = &env;
  return Status::ok();
}

Status WriteTxn::begin_nested(WriteTxn& parent) {
  int rc = mdb_txn_begin(parent.env_->env_, parent.txn_, 0, &txn_);
  if (rc != 0) {
    txn_ = nullptr;
    return lmdb_status(rc, "begin nested write transaction");
  }
  env_ = parent.env_;
  return Status::ok();
}

std::uint64_t WriteTxn::id() const noexcept { return mdb_txn_id(txn_); }

Status WriteTxn::commit() {
  int rc = mdb_txn_commit(txn_);
  txn_ = nullptr;  // freed by LMDB whether or not the commit worked
  if (rc != 0) return lmdb_status(rc, "commit");
  return Status::ok();
}

void WriteTxn::abort() noexcept {
  if (txn_ != nullptr) mdb_txn_abort(txn_);
  txn_ = nullptr;
}

Result<Dbi> WriteTxn::open_db(const char* name) {
  if (redo_ != nullptr) {
    return Status::internal(std::string("database ") + name + " opened while the redo log records: too late");
  }
  MDB_dbi dbi = 0;
  int rc = mdb_dbi_open(txn_, name, MDB_CREATE, &dbi);
  if (rc != 0) return lmdb_status(rc, std::string("open database ") + name);
  MutexLock lock(env_->databases_mutex_);
  auto known = std::find_if(env_->databases_.begin(), env_->databases_.end(),
                            [dbi](const RedoDb& db) { return db.handle == dbi; });
  if (known == env_->databases_.end()) env_->databases_.push_back(RedoDb{dbi, name});
  return dbi;
}

Status WriteTxn::put(Dbi dbi, std::string_view key, std::string_view value, What what, PutMode mode) {
  MDB_val k = to_val(key);
  MDB_val v = to_val(value);
  int rc = mdb_put(txn_, dbi, &k, &v, mode == PutMode::kAppend ? MDB_APPEND : 0U);
  if (rc != 0) return lmdb_status(rc, "put " + what.text());
  if (redo_ != nullptr) redo_->put(dbi, key, value);
  if (staged_ != nullptr) staged_->push_back(Change{dbi, false, std::string(key), std::string(value)});
  return Status::ok();
}

Status WriteTxn::del(Dbi dbi, std::string_view key, What what) {
  MDB_val k = to_val(key);
  int rc = mdb_del(txn_, dbi, &k, nullptr);
  if (rc != 0 && rc != MDB_NOTFOUND) return lmdb_status(rc, "delete " + what.text());
  if (rc == 0 && redo_ != nullptr) redo_->del(dbi, key);
  if (rc == 0 && staged_ != nullptr) staged_->push_back(Change{dbi, true, std::string(key), {}});
  return Status::ok();
}

}  // namespace lmdb

// Opens the file as an LMDB environment, read-only and without a lock file, to be sure it is
// one: the main database must open in a read transaction.
Status check_environment_file(const std::filesystem::path& file) {
  MDB_env* env = nullptr;
  int rc = mdb_env_create(&env);
  if (rc == 0) rc = mdb_env_set_maxdbs(env, 64);
  if (rc == 0) rc = mdb_env_open(env, file.c_str(), MDB_NOSUBDIR | MDB_RDONLY | MDB_NOLOCK, 0600);
  MDB_txn* txn = nullptr;
  if (rc == 0) rc = mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn);
  MDB_dbi dbi = 0;
  if (rc == 0) rc = mdb_dbi_open(txn, nullptr, 0, &dbi);
  if (txn != nullptr) mdb_txn_abort(txn);
  if (env != nullptr) mdb_env_close(env);
  if (rc != 0) {
    return Status::corruption("restored data is not a valid LMDB environment: " + std::string(mdb_strerror(rc)));
  }
  return Status::ok();
}

// Opens the lone file read-write without a lock file (the caller holds the data directory's
// lock, and no Store has the file open) and deletes the meta entry in one transaction. The map
// is the file's size plus room for the pages the transaction copies.
Status forget_feed_id(const std::filesystem::path& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    return Status::io_error("forget the change feed id of " + file.string() + ": " + std::strerror(errno));
  }
  MDB_env* env = nullptr;
  int rc = mdb_env_create(&env);
  if (rc == 0) rc = mdb_env_set_maxdbs(env, 64);
  if (rc == 0) rc = mdb_env_set_mapsize(env, static_cast<std::size_t>(st.st_size) + (std::size_t{64} << 20));
  if (rc == 0) rc = mdb_env_open(env, file.c_str(), MDB_NOSUBDIR | MDB_NOLOCK, 0600);
  MDB_txn* txn = nullptr;
  if (rc == 0) rc = mdb_txn_begin(env, nullptr, 0, &txn);
  MDB_dbi dbi = 0;
  if (rc == 0) {
    rc = mdb_dbi_open(txn, "meta", 0, &dbi);
    if (rc == 0) {
      MDB_val key{kFeedIdName.size(), const_cast<char*>(kFeedIdName.data())};
      rc = mdb_del(txn, dbi, &key, nullptr);
    }
    if (rc == MDB_NOTFOUND) rc = 0;  // no meta database or no id: nothing to forget
  }
  if (rc == 0) {
    rc = mdb_txn_commit(txn);
  } else if (txn != nullptr) {
    mdb_txn_abort(txn);
  }
  if (env != nullptr) mdb_env_close(env);
  if (rc != 0) return lmdb::lmdb_status(rc, "forget the change feed id of " + file.string());
  return Status::ok();
}

}  // namespace kvs::storage
