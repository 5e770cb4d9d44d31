// audit_bench: what the tamper-evident audit log costs a write, measured at the storage layer.
//
// This program plays the storage writer's part directly on storage's LMDB wrappers
// (node_audit_bench measures it through kvs::Node): each write puts the records a PUT puts
// (current version, revision log entry, change sequence, time index) and, with audit on, also appends the
// chained audit entry in the same transaction as storage::Store does (here the tip is read once
// per transaction; the Store keeps it in memory between commits), then
// storage::append_audit_entry per write. Runs alternate off/on so drift hits both, and the best
// of the rounds is reported. The figure to watch is on/off (issue 7 asks >= 85%).
//
// Usage: audit_bench [writes_per_round=20000] [rounds=3]. Every commit is durable (fsync), in
// batches of 1 and 64; TMPDIR=/dev/shm takes the disk out, the CPU-bound worst case for the
// audit's relative cost.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <stdlib.h>

#include "audit/chain.hpp"
#include "storage/audit_table.hpp"
#include "storage/lmdb_env.hpp"

namespace {

namespace fs = std::filesystem;
namespace lmdb = kvs::storage::lmdb;
using kvs::audit::AuditTip;

void check(const kvs::Status& status, const char* what) {
  if (!status.is_ok()) {
    std::fprintf(stderr, "%s: %s\n", what, status.to_string().c_str());
    std::exit(1);
  }
}

lmdb::Dbi open_db(lmdb::WriteTxn& txn, const char* name) {
  auto dbi = txn.open_db(name);
  check(dbi.status(), name);
  return *dbi;
}

std::string be64(std::uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8) out[static_cast<std::size_t>(i)] = static_cast<char>(v & 0xFF);
  return out;
}

void put(lmdb::WriteTxn& txn, lmdb::Dbi dbi, const std::string& k, const std::string& v) {
  check(txn.put(dbi, k, v, lmdb::What{"record"}), "put");
}

// Writes per second for `writes` PUTs in transactions of `batch`.
// audit: 0 off; 1 on, the writer hashes the value; 2 on, the value hash was computed before
// the write was queued (on the request thread, outside this loop's timing).
double run(const fs::path& dir, int audit, int writes, int batch) {
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto opened = lmdb::Env::open(dir, std::size_t{1} << 30);
  check(opened.status(), "open environment");
  lmdb::Env& env = **opened;
  lmdb::Dbi versions = 0, revisions = 0, changes = 0, tindex = 0, audit_dbi = 0;
  {
    lmdb::WriteTxn txn;
    check(txn.begin(env), "begin");
    versions = open_db(txn, "versions");
    revisions = open_db(txn, "revision_log");
    changes = open_db(txn, "changes");
    tindex = open_db(txn, "tindex");
    audit_dbi = open_db(txn, "audit");
    check(txn.commit(), "commit");
  }
  const std::string value = "{\"name\":\"john\",\"email\":\"john@example.com\",\"tags\":[\"a\",\"b\",\"c\"],"
                            "\"bio\":\"" + std::string(180, 'x') + "\"}";
  const auto value_hash = kvs::audit::audit_value_hash(value);
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t seq = 0;
  for (int done = 0; done < writes;) {
    lmdb::WriteTxn txn;
    check(txn.begin(env), "begin");
    AuditTip tip;
    if (audit != 0) {
      auto t = kvs::storage::read_audit_tip(txn, audit_dbi);
      if (!t) std::exit(1);
      tip = *t;
    }
    for (int i = 0; i < batch && done < writes; ++i, ++done) {
      const std::string path = "users/" + std::to_string(done % 5000) + "/profile";
      ++seq;
      put(txn, versions, path, value);
      put(txn, revisions, be64(seq), value);
      put(txn, changes, be64(seq), path);
      put(txn, tindex, "_ts:" + std::to_string(1'700'000'000'000 + done) + ":" + path, "");
      if (audit != 0) {
        // audit 1: the writer hashes the value itself, as Store does without a value_hash.
        auto entry = kvs::storage::append_audit_entry(txn, audit_dbi, tip, 1'700'000'000'000 + done, "user-uuid",
                                                      "kv.put", path,
                                                      audit == 1 ? kvs::audit::audit_value_hash(value) : value_hash);
        if (!entry) std::exit(1);
        tip = kvs::audit::audit_tip(*entry);
      }
    }
    check(txn.commit(), "commit");
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
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
    int batch;
    int writes;
  };
  const Mode modes[] = {
      {"durable, batch 1 ", 1, std::max(1, writes / 10)},
      {"durable, batch 64", 64, writes},
  };
  std::printf("audit_bench: PUT-equivalent writes/s, best of %d rounds\n", rounds);
  for (const auto& m : modes) {
    double off = 0, on = 0, pre = 0;
    for (int r = 0; r < rounds; ++r) {
      off = std::max(off, run(tmp / "env", 0, m.writes, m.batch));
      on = std::max(on, run(tmp / "env", 1, m.writes, m.batch));
      pre = std::max(pre, run(tmp / "env", 2, m.writes, m.batch));
    }
    std::printf("  %s %6d writes  off %8.0f/s  on %8.0f/s (%5.1f%%)  on, value pre-hashed %8.0f/s (%5.1f%%)\n",
                m.name, m.writes, off, on, 100.0 * on / off, pre, 100.0 * pre / off);
  }
  fs::remove_all(tmp);
  return 0;
}
