#pragma once

// Folders kvs makes for its own files (data_dir, backup_path and what it creates in them) are
// private to the user that runs it: mode 0700, so that no other local user can list or read
// documents, user records, the cluster secret, tokens or backups (SPEC section 2, "Files").
// The files themselves are created 0600 where they are opened. Safe from any thread.

#include <filesystem>

#include "kvs/status.hpp"

namespace kvs::util {

// Creates `dir` and every missing parent, each with mode 0700 whatever the umask. A folder
// that already exists keeps its mode. kIOError naming the folder on failure (kIOError too
// when `dir` exists and is not a folder).
Status create_private_directories(const std::filesystem::path& dir);

// True when group or others have any access to the existing folder `dir` (mode & 077); false
// when they have none or `dir` cannot be examined.
bool open_to_others(const std::filesystem::path& dir);

}  // namespace kvs::util
