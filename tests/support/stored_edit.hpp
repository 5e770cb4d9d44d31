#pragma once

// Edits a closed data directory behind the Store's back, as someone with the file could: the
// tamper and damage tests use it to corrupt one stored value. It goes through storage's LMDB
// wrappers (storage/lmdb_env.hpp), so no test needs lmdb.h.
// Requires: no Store has the directory open.

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include <catch2/catch.hpp>

#include "storage/lmdb_env.hpp"

namespace kvs::test {

namespace stored_edit_detail {

// Opens the environment in `data_dir`, runs change(txn, dbi) on the named database `database`
// in a write transaction and commits it.
inline void change_stored_database(
    const std::filesystem::path& data_dir, const char* database,
    const std::function<void(storage::lmdb::WriteTxn&, storage::lmdb::Dbi)>& change) {
  auto env = storage::lmdb::Env::open(data_dir, std::size_t{1} << 30);
  INFO(env.status().to_string());
  REQUIRE(env.is_ok());
  storage::lmdb::WriteTxn txn;
  REQUIRE(txn.begin(**env).is_ok());
  auto dbi = txn.open_db(database);
  REQUIRE(dbi.is_ok());
  change(txn, *dbi);
  REQUIRE(txn.commit().is_ok());
}

// The same, requiring a value under `key`: runs change(txn, dbi, value).
inline void change_stored_value(
    const std::filesystem::path& data_dir, const char* database, std::string_view key,
    const std::function<void(storage::lmdb::WriteTxn&, storage::lmdb::Dbi, std::string_view)>& change) {
  change_stored_database(data_dir, database, [&](storage::lmdb::WriteTxn& txn, storage::lmdb::Dbi dbi) {
    auto held = txn.get(dbi, key, storage::lmdb::What{"stored value"});
    REQUIRE(held.is_ok());
    REQUIRE(held->has_value());
    change(txn, dbi, **held);
  });
}

}  // namespace stored_edit_detail

// Replaces the value under `key` in the named database `database` of the environment in
// `data_dir` with edit(old value). The value must exist.
inline void edit_stored_value(const std::filesystem::path& data_dir, const char* database, std::string_view key,
                              const std::function<std::string(std::string)>& edit) {
  stored_edit_detail::change_stored_value(data_dir, database, key,
                                          [&](storage::lmdb::WriteTxn& txn, storage::lmdb::Dbi dbi, std::string_view old) {
    std::string edited = edit(std::string(old));
    REQUIRE(txn.put(dbi, key, edited, storage::lmdb::What{"edited value"}).is_ok());
  });
}

// Puts `value` under `key` (new or not) in the named database `database` of the environment in
// `data_dir`: an entry the Store would not have written, or has not yet swept.
inline void put_stored_value(const std::filesystem::path& data_dir, const char* database, std::string_view key,
                             std::string_view value) {
  stored_edit_detail::change_stored_database(data_dir, database,
                                             [&](storage::lmdb::WriteTxn& txn, storage::lmdb::Dbi dbi) {
    REQUIRE(txn.put(dbi, key, value, storage::lmdb::What{"put value"}).is_ok());
  });
}

// Deletes the value under `key` in the named database `database` of the environment in
// `data_dir`. The value must exist.
inline void delete_stored_value(const std::filesystem::path& data_dir, const char* database, std::string_view key) {
  stored_edit_detail::change_stored_value(data_dir, database, key,
                                          [&](storage::lmdb::WriteTxn& txn, storage::lmdb::Dbi dbi, std::string_view) {
    REQUIRE(txn.del(dbi, key, storage::lmdb::What{"deleted value"}).is_ok());
  });
}

}  // namespace kvs::test
