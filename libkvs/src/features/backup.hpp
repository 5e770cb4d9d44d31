#pragma once

// Backups: hot, consistent copies of a node's LMDB environment, zstd-compressed into one
// self-checking file, and their listing, retention, verification and restore. The functions
// own no state: Node calls them (one backup at a time, on a thread of its own, never on the
// request or cluster loop threads); `kvs-server restore` calls `restore_backup` on a stopped
// node's data directory. BackupScheduler is a pure value that says when the next backup is due.
//
// File format (integers big-endian), version 1:
//   header   8  magic "KVSBAKUP"
//            1  format version (kBackupFormatVersion)
//            1  compression: 1 = zstd
//            8  created_at_ms (i64, ms since the Unix epoch)
//            2  length n of the source node id (at most 1024)
//            n  source node id
//   body        one zstd frame (content checksum on) of the LMDB copy (a complete data.mdb)
//   trailer  8  magic "KVSBKEND"
//            8  uncompressed size of the LMDB copy
//            8  body size (compressed bytes)
//           32  BLAKE2b-256 (libsodium crypto_generichash) of every byte before it: header,
//               body and the first 24 trailer bytes
// A file is written to a hidden temp name in the target directory, fsynced, then linked to its
// final name (never replacing one) and the directory fsynced, so a listed backup is complete.
// The trailer comes last, so a truncated file has no valid trailer and is refused.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "features/cron.hpp"
#include "kvs/operations.hpp"
#include "kvs/status.hpp"

namespace kvs::features {

inline constexpr std::uint8_t kBackupFormatVersion = 1;
inline constexpr std::string_view kBackupExtension = ".kvsbackup";

// A backup file is described by the public kvs::BackupInfo (kvs/operations.hpp), so that Node
// hands out what these functions return as it is.

struct BackupWriteOptions {
  std::int64_t created_at_ms = 0;        // recorded in the header (the caller's wall clock)
  std::string node_id;                   // recorded in the header; at most 1024 bytes
  int compression_level = 3;             // zstd level, config compression_level
};

// "kvs-backup-20261126T233922.123Z.kvsbackup": names sort by creation time.
std::string backup_file_name(std::int64_t created_at_ms);

// Writes a backup to `path` (its directory is created when missing). `copy_env_to_fd` must
// write one complete LMDB environment copy to the fd it is given and return; the store passes
// a function that calls mdb_env_copyfd2(env, fd, MDB_CP_COMPACT), which copies from a read
// transaction and so never blocks writers. It runs on a thread of its own writing into a pipe
// while this thread compresses, hashes and writes the file; it must not close the fd.
// Returns the new file's info. kPreconditionFailed when `path` exists; kIOError on a file
// system error; the copier's status when it fails. On failure nothing is left at `path`.
Result<BackupInfo> write_backup(const std::filesystem::path& path,
                                const std::function<Status(int fd)>& copy_env_to_fd,
                                const BackupWriteOptions& options);

// Reads the whole file: header, trailer, checksum, and a full decompression whose size must
// match the trailer. Returns its info. kNotFound when missing; kCorruption naming the fault
// (not a kvs backup, unsupported version, truncated, checksum mismatch, damaged stream).
Result<BackupInfo> verify_backup(const std::filesystem::path& path);

struct RestoreOptions {
  // When data_dir already holds data.mdb, move it aside to data.mdb.before-restore (replacing
  // an older one) instead of deleting it.
  bool keep_previous = true;
};

// Restores `backup` into `data_dir` (created when missing): decompresses into a temp file
// there, and only when the whole file verified (checksum, sizes, an LMDB environment that
// opens) fsyncs it and renames it to data.mdb; LMDB's lock.mdb is removed, and the directory
// fsynced. A corrupt or truncated backup changes nothing. kUnavailable when a running node
// holds data_dir (its LOCK file); otherwise the codes of verify_backup, and kIOError.
Result<BackupInfo> restore_backup(const std::filesystem::path& backup, const std::filesystem::path& data_dir,
                                  const RestoreOptions& options = {});

// Backups in `dir` (files ending in kBackupExtension), newest first, from their header and
// trailer only (cheap; use verify_backup for a full check). A file whose header or trailer is
// wrong is listed with `problem` set. A missing dir is an empty list.
Result<std::vector<BackupInfo>> list_backups(const std::filesystem::path& dir);

// Deletes backups in `dir` created more than `retention_days` days before `now_ms`, keeping
// the newest sound backup whatever its age (an operator whose backups stopped would not want
// the last one gone). Unusable backup files and leftover temp files older than the cutoff (by
// modification time) go too. retention_days <= 0 keeps everything. Never touches other files.
// Returns the paths removed.
Result<std::vector<std::filesystem::path>> apply_retention(const std::filesystem::path& dir,
                                                           std::int64_t retention_days, std::int64_t now_ms);

// When backups are due, from the cron schedule (UTC). A pure value: the caller's timer asks it
// with the wall-clock time and runs a backup when `due` says so. Missed fire times (the node
// was down, or a backup ran long) collapse into one run; a wall clock that jumps backwards
// re-arms from the new time.
class BackupScheduler {
 public:
  explicit BackupScheduler(CronSchedule schedule) : schedule_(std::move(schedule)) {}

  // The next fire time after `now_ms` if none is armed yet, else the armed one; nullopt when
  // the schedule never fires. Use it to size the timer's sleep.
  std::optional<std::int64_t> next_run_ms(std::int64_t now_ms);

  // True when a backup is due at `now_ms`; then arms the first fire time after `now_ms`.
  bool due(std::int64_t now_ms);

  const CronSchedule& schedule() const noexcept { return schedule_; }

 private:
  void arm(std::int64_t now_ms);

  CronSchedule schedule_;
  std::optional<std::int64_t> next_ms_;
  std::int64_t armed_at_ms_ = 0;
  bool armed_ = false;
};

}  // namespace kvs::features
