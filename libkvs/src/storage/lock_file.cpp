#include "storage/lock_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace kvs::storage {
namespace {

std::string errno_text(int error) { return std::strerror(error); }

// The pid written by the holder, or empty when it cannot be read.
std::string read_holder(int fd) {
  char buffer[32] = {};
  ssize_t size = ::pread(fd, buffer, sizeof buffer - 1, 0);
  if (size <= 0) return {};
  std::string text(buffer, static_cast<std::size_t>(size));
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

}  // namespace

Result<std::unique_ptr<LockFile>> LockFile::acquire(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Status::io_error("cannot open lock file " + path.string() + ": " + errno_text(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int error = errno;
    std::string holder = read_holder(fd);
    ::close(fd);
    std::string dir = path.parent_path().string();
    if (error == EWOULDBLOCK) {
      if (holder == std::to_string(::getpid())) {
        return Status::unavailable("data_dir " + dir + " is already open in this process (pid " + holder + ")");
      }
      return Status::unavailable("data_dir " + dir + " is in use by another process (pid " +
                                 (holder.empty() ? std::string("unknown") : holder) + ")");
    }
    return Status::io_error("cannot lock " + path.string() + ": " + errno_text(error));
  }
  // A LOCK made 0644 by an older kvs is narrowed like the rest of data_dir; failing to do so
  // only leaves a pid readable, so it is not a reason to refuse the directory.
  (void)::fchmod(fd, 0600);
  // We hold the lock: record our pid for whoever is refused next. Failing to write it only
  // makes that message less helpful, so it is not an error.
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) == 0) {
    [[maybe_unused]] ssize_t written = ::pwrite(fd, pid.data(), pid.size(), 0);
  }
  return std::unique_ptr<LockFile>(new LockFile(fd));
}

LockFile::~LockFile() {
  // Closing the last descriptor of the open file description releases the flock.
  ::close(fd_);
}

}  // namespace kvs::storage
