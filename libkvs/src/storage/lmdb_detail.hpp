#pragma once

// What storage's LMDB files (lmdb_env.cpp, lmdb_cursor.cpp) share: LMDB's own header, the
// conversions between MDB_val and string_view, and the mapping from LMDB's return codes to
// Status. Included by those two files only: nothing else in kvs sees lmdb.h.

#include <string>
#include <string_view>

#include <lmdb.h>

#include "kvs/status.hpp"

namespace kvs::storage::lmdb {

inline MDB_val to_val(std::string_view bytes) { return MDB_val{bytes.size(), const_cast<char*>(bytes.data())}; }
inline std::string_view to_view(const MDB_val& val) {
  return {static_cast<const char*>(val.mv_data), val.mv_size};
}

// LMDB's code `rc` as a Status naming `operation`: kCorruption for a damaged file,
// kInsufficientStorage for a full map or disk, kIOError otherwise.
Status lmdb_status(int rc, std::string_view operation);

}  // namespace kvs::storage::lmdb
