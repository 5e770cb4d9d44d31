#include "util/private_dir.hpp"

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include <sys/stat.h>

namespace kvs::util {

Status create_private_directories(const std::filesystem::path& dir) {
  if (dir.empty()) return Status::ok();
  // The missing folders, innermost first; created outermost first below. mkdir(2) with an
  // explicit mode and then chmod: the umask may take bits away, never add them, but a mode
  // must not depend on it either way.
  std::vector<std::filesystem::path> missing;
  std::filesystem::path at = dir;
  for (;;) {
    struct stat info {};
    if (::stat(at.c_str(), &info) == 0) {
      if (!S_ISDIR(info.st_mode)) {
        return Status::io_error("cannot create folder " + dir.string() + ": " + at.string() + " is not a folder");
      }
      break;
    }
    if (errno != ENOENT) return Status::io_error("cannot examine " + at.string() + ": " + std::strerror(errno));
    missing.push_back(at);
    std::filesystem::path parent = at.parent_path();
    if (parent.empty() || parent == at) break;
    at = parent;
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (::mkdir(it->c_str(), 0700) != 0) {
      // Another process (or thread) may have made it meanwhile: then it is theirs, as it is.
      if (errno == EEXIST) continue;
      return Status::io_error("cannot create folder " + it->string() + ": " + std::strerror(errno));
    }
    if (::chmod(it->c_str(), 0700) != 0) {
      return Status::io_error("cannot set mode 0700 on " + it->string() + ": " + std::strerror(errno));
    }
  }
  return Status::ok();
}

bool open_to_others(const std::filesystem::path& dir) {
  struct stat info {};
  if (::stat(dir.c_str(), &info) != 0) return false;
  return (info.st_mode & 077) != 0;
}

}  // namespace kvs::util
