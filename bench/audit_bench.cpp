// audit_bench: what the tamper-evident audit log costs a write, measured at the storage layer.
//
// This program plays the storage writer's part directly on LMDB (node_audit_bench measures it
// through kvs::Node): each write puts the records a PUT puts (current version, revision,
// change sequence, time index) and, with audit on, also appends the chained audit entry in
// the same transaction as storage::Store does (here the tip is read once per transaction; the
// Store keeps it in memory between commits), then features::append_audit_entry per write. Runs alternate off/on so drift hits both, and
// the best of the rounds is reported. The figure to watch is on/off (issue 7 asks >= 85%).
//
// Usage: audit_bench [writes_per_round=20000] [rounds=3]; TMPDIR=/dev/shm takes the disk out.
// Modes: durable (fsync per transaction; batch 1 and 64) and nosync (CPU-bound: the worst
// case for the audit's relative cost).

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <lmdb.h>
#include <stdlib.h>

#include "features/audit.hpp"
#include "features/audit_lmdb.hpp"

namespace {

namespace fs = std::filesystem;
using kvs::features::AuditTip;

void check(int rc, const char* what) {
  if (rc != 0) {
    std::fprintf(stderr, "%s: %s\n", what, mdb_strerror(rc));
    std::exit(1);
  }
}

std::string be64(std::uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8) out[static_cast<std::size_t>(i)] = static_cast<char>(v & 0xFF);
  return out;
}

void put(MDB_txn* txn, MDB_dbi dbi, const std::string& k, const std::string& v) {
  MDB_val key{k.size(), const_cast<char*>(k.data())};
  MDB_val val{v.size(), const_cast<char*>(v.data())};
  check(mdb_put(txn, dbi, &key, &val, 0), "mdb_put");
}

// Writes per second for `writes` PUTs in transactions of `batch`.
// audit: 0 off; 1 on, the writer hashes the value; 2 on, the value hash was computed before
// the write was queued (on the request thread, outside this loop's timing).
double run(const fs::path& dir, int audit, bool durable, int writes, int batch) {
  fs::remove_all(dir);
  fs::create_directories(dir);
  MDB_env* env = nullptr;
  check(mdb_env_create(&env), "env_create");
  check(mdb_env_set_maxdbs(env, 8), "maxdbs");
  check(mdb_env_set_mapsize(env, std::size_t{1} << 30), "mapsize");
  check(mdb_env_open(env, dir.c_str(), durable ? 0u : static_cast<unsigned>(MDB_NOSYNC), 0600), "env_open");
  MDB_dbi versions = 0, revisions = 0, changes = 0, tindex = 0, audit_dbi = 0;
  {
    MDB_txn* txn = nullptr;
    check(mdb_txn_begin(env, nullptr, 0, &txn), "begin");
    check(mdb_dbi_open(txn, "versions", MDB_CREATE, &versions), "dbi");
    check(mdb_dbi_open(txn, "revisions", MDB_CREATE, &revisions), "dbi");
    check(mdb_dbi_open(txn, "changes", MDB_CREATE, &changes), "dbi");
    check(mdb_dbi_open(txn, "tindex", MDB_CREATE, &tindex), "dbi");
    check(mdb_dbi_open(txn, "audit", MDB_CREATE, &audit_dbi), "dbi");
    check(mdb_txn_commit(txn), "commit");
  }
  const std::string value = "{\"name\":\"john\",\"email\":\"john@example.com\",\"tags\":[\"a\",\"b\",\"c\"],"
                            "\"bio\":\"" + std::string(180, 'x') + "\"}";
  const auto value_hash = kvs::features::audit_value_hash(value);
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t seq = 0;
  for (int done = 0; done < writes;) {
    MDB_txn* txn = nullptr;
    check(mdb_txn_begin(env, nullptr, 0, &txn), "begin");
    AuditTip tip;
    if (audit != 0) {
      auto t = kvs::features::read_audit_tip(txn, audit_dbi);
      if (!t) std::exit(1);
      tip = *t;
    }
    for (int i = 0; i < batch && done < writes; ++i, ++done) {
      const std::string path = "users/" + std::to_string(done % 5000) + "/profile";
      ++seq;
      put(txn, versions, path, value);
      put(txn, revisions, path + '\0' + be64(seq), value);
      put(txn, changes, be64(seq), path);
      put(txn, tindex, "_ts:" + std::to_string(1'700'000'000'000 + done) + ":" + path, "");
      if (audit != 0) {
        auto entry = audit == 1 ? kvs::features::append_audit_entry(txn, audit_dbi, tip, 1'700'000'000'000 + done,
                                                                    "user-uuid", "kv.put", path, value)
                                : kvs::features::append_audit_entry(txn, audit_dbi, tip, 1'700'000'000'000 + done,
                                                                    "user-uuid", "kv.put", path, value_hash);
        if (!entry) std::exit(1);
        tip = kvs::features::audit_tip(*entry);
      }
    }
    check(mdb_txn_commit(txn), "commit");
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  mdb_env_close(env);
  return writes / seconds;
}

}  // namespace

int main(int argc, char** argv) {
  const int writes = argc > 1 ? std::atoi(argv[1]) : 20000;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 3;
  std::string tmpl = (fs::temp_directory_path() / "kvs-audit-bench-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) return 1;
  const fs::path tmp(tmpl);
  struct Mode {
    const char* name;
    bool durable;
    int batch;
    int writes;
  };
  const Mode modes[] = {
      {"durable, batch 1 ", true, 1, std::max(1, writes / 10)},
      {"durable, batch 64", true, 64, writes},
      {"nosync,  batch 64", false, 64, writes},
  };
  std::printf("audit_bench: PUT-equivalent writes/s, best of %d rounds\n", rounds);
  for (const auto& m : modes) {
    double off = 0, on = 0, pre = 0;
    for (int r = 0; r < rounds; ++r) {
      off = std::max(off, run(tmp / "env", 0, m.durable, m.writes, m.batch));
      on = std::max(on, run(tmp / "env", 1, m.durable, m.writes, m.batch));
      pre = std::max(pre, run(tmp / "env", 2, m.durable, m.writes, m.batch));
    }
    std::printf("  %s %6d writes  off %8.0f/s  on %8.0f/s (%5.1f%%)  on, value pre-hashed %8.0f/s (%5.1f%%)\n",
                m.name, m.writes, off, on, 100.0 * on / off, pre, 100.0 * pre / off);
  }
  fs::remove_all(tmp);
  return 0;
}
