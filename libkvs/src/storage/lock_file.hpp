#pragma once

// LockFile: an exclusive, non-blocking flock on `<data_dir>/LOCK` that says "this directory is
// open". It holds the pid of the owner as text, so the refusal can name it. flock locks belong
// to an open file description, so a second open in the same process is refused too (LMDB itself
// must never be opened twice in one process). The lock goes when the LockFile is destroyed or
// the process dies; the file itself stays.

#include <filesystem>
#include <memory>

#include "kvs/status.hpp"

namespace kvs::storage {

class LockFile {
 public:
  // Takes the lock on `path`, creating the file when missing. kUnavailable naming the holder's
  // pid when another open holds it; kIOError when the file cannot be opened.
  static Result<std::unique_ptr<LockFile>> acquire(const std::filesystem::path& path);
  ~LockFile();
  LockFile(const LockFile&) = delete;
  LockFile& operator=(const LockFile&) = delete;

 private:
  explicit LockFile(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace kvs::storage
