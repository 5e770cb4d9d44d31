// node_bench: what kvs::Node costs over raw LMDB, and how group commit scales durable puts.
// In one run it prints:
//   1. durable puts through kvs::Node with 1, 2, 4, 8, 16, 32 and 64 writer threads (small JSON
//      documents, every put fsynced before it returns), with puts/s, the ratio to 1 writer and
//      the put latency (p50, p99);
//   2. the same durable puts straight into LMDB (one transaction and one fsync per put) with 1
//      and 64 writers: the floor without group commit; and raw LMDB with 64 writers behind a
//      minimal group commit (one thread commits whatever is queued, up to 1024 puts, in one
//      durable transaction, as kvs's writer does), with the Node/LMDB ratio at 64 writers and
//      the mean batch size of the raw side;
//   3. random gets on N keys of ~200-byte JSON with 1 and 2 reader threads, through kvs::Node and
//      through raw LMDB (read transaction, mdb_get, copy), with the Node/LMDB ratio.
// Targets (issue 2): Node gets >= 70% of raw LMDB; Node puts with 64 writers >= 20x 1 writer.
// Issue 12: Node puts with 64 writers >= 80% of raw LMDB group-committing the same load.
//
//   node_bench [--seconds S] [--keys N] [--dir PARENT] [--no-compression] [--gets-only] [--group-only]
//              [--raw-pad BYTES]
//
// S: seconds per measurement (default 2). N: keys for the get test (default 100000). PARENT:
// where the temporary data directories go (default: the system temp dir); fsync cost depends on
// that disk, so run it on the disk you care about. --no-compression runs the nodes with
// compression_enabled false (the raw LMDB side never compresses). --gets-only runs part 3 alone
// (for profiling the read path without minutes of fsyncs first). --group-only runs part 2b
// alone: kvs::Node against raw LMDB group commit at 64 writers (for profiling the put path and
// comparing builds without the writer sweep). --raw-pad stores each raw LMDB value of the get
// test BYTES longer than the document (default 0): with kvs's per-record overhead (46 bytes here
// in record format 2: format, flags, permissions, stamps, 16-byte uuid, node id, varint
// lengths; 103 in format 1, which also repeated the path) it shows what the larger record alone
// costs raw LMDB.

#include <lmdb.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "bench_support.hpp"
#include "kvs/kvs.hpp"
#include "support/temp_dir.hpp"

namespace {

using kvs::bench::Clock;
using kvs::bench::FastRandom;
using kvs::bench::Figures;
using kvs::bench::measure;
using kvs::test::TempDir;

struct Options {
  double seconds = 2.0;
  std::size_t keys = 100000;
  std::filesystem::path parent = std::filesystem::temp_directory_path();
  bool compression = true;  // compression_enabled of the nodes (default: the config default)
  bool gets_only = false;    // skip the put measurements (parts 1 and 2)
  bool group_only = false;   // run part 2b alone
  std::size_t raw_pad = 0;   // extra bytes per raw LMDB value in the get test
};

// A small document for the put test (~60 bytes).
std::string small_document(std::uint64_t n) {
  return R"({"n":)" + std::to_string(n) + R"(,"kind":"bench","ok":true,"tags":["a","b"]})";
}

// A ~200-byte document for the get test, different per key.
std::string document(std::uint64_t n) {
  return R"({"id":)" + std::to_string(n) +
         R"(,"name":"benchmark user","email":"benchmark.user@example.com","tags":["alpha","beta","gamma","delta"],)"
         R"("address":{"street":"1 Main Street","city":"Springfield","zip":"12345","country":"US"},"score":)" +
         std::to_string(n % 1000) + "}";
}

std::string key_for(std::uint64_t n) {
  char key[32];
  std::snprintf(key, sizeof key, "users/%08llu", static_cast<unsigned long long>(n));
  return key;
}

kvs::Config bench_config(const std::filesystem::path& dir, const Options& options) {
  kvs::Config config = kvs::bench::lone_node_config(dir);
  config.compression_enabled = options.compression;
  config.revision_history_enabled = true;  // the default: revisions are part of a put's cost
  return config;
}

std::unique_ptr<kvs::Node> open_node(const kvs::Config& config) {
  return kvs::bench::open_node_or_exit(config, "node_bench");
}

void check_mdb(int rc, const char* what) {
  if (rc != MDB_SUCCESS) {
    std::fprintf(stderr, "node_bench: %s: %s\n", what, mdb_strerror(rc));
    std::exit(1);
  }
}

// A raw LMDB environment with one unnamed database, default (durable) flags.
struct RawLmdb {
  MDB_env* env = nullptr;
  MDB_dbi dbi = 0;

  explicit RawLmdb(const std::filesystem::path& dir) {
    check_mdb(mdb_env_create(&env), "mdb_env_create");
    check_mdb(mdb_env_set_mapsize(env, std::size_t{1} << 30), "mdb_env_set_mapsize");
    check_mdb(mdb_env_set_maxreaders(env, 256), "mdb_env_set_maxreaders");
    check_mdb(mdb_env_open(env, dir.c_str(), MDB_NOTLS, 0644), "mdb_env_open");
    MDB_txn* txn = nullptr;
    check_mdb(mdb_txn_begin(env, nullptr, 0, &txn), "mdb_txn_begin");
    check_mdb(mdb_dbi_open(txn, nullptr, 0, &dbi), "mdb_dbi_open");
    check_mdb(mdb_txn_commit(txn), "mdb_txn_commit");
  }
  ~RawLmdb() { mdb_env_close(env); }
  RawLmdb(const RawLmdb&) = delete;
  RawLmdb& operator=(const RawLmdb&) = delete;

  // One key in its own durable transaction.
  bool put(const std::string& key, const std::string& value) {
    MDB_txn* txn = nullptr;
    if (mdb_txn_begin(env, nullptr, 0, &txn) != MDB_SUCCESS) return false;
    MDB_val k{key.size(), const_cast<char*>(key.data())};
    MDB_val v{value.size(), const_cast<char*>(value.data())};
    if (mdb_put(txn, dbi, &k, &v, 0) != MDB_SUCCESS) {
      mdb_txn_abort(txn);
      return false;
    }
    return mdb_txn_commit(txn) == MDB_SUCCESS;
  }

  bool get(const std::string& key, std::string& out) {
    MDB_txn* txn = nullptr;
    if (mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) != MDB_SUCCESS) return false;
    MDB_val k{key.size(), const_cast<char*>(key.data())};
    MDB_val v{};
    int rc = mdb_get(txn, dbi, &k, &v);
    if (rc == MDB_SUCCESS) out.assign(static_cast<const char*>(v.mv_data), v.mv_size);
    mdb_txn_abort(txn);
    return rc == MDB_SUCCESS;
  }
};

// Raw LMDB behind the simplest group commit: callers queue a put and wait; one thread takes
// every queued put (up to 1024) into one durable transaction, commits and wakes them. What
// kvs's writer does, without its tables, indexes, Decide or commit observer: the ceiling for
// kvs::Node puts on this disk.
class RawGroupCommit {
 public:
  explicit RawGroupCommit(RawLmdb& lmdb) : lmdb_(lmdb), thread_([this] { loop(); }) {}
  ~RawGroupCommit() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wakeup_.notify_all();
    thread_.join();
  }
  RawGroupCommit(const RawGroupCommit&) = delete;
  RawGroupCommit& operator=(const RawGroupCommit&) = delete;

  bool put(const std::string& key, const std::string& value) {
    Pending pending{&key, &value};
    std::unique_lock<std::mutex> lock(mutex_);
    queue_.push_back(&pending);
    wakeup_.notify_one();
    done_.wait(lock, [&] { return pending.done; });
    return pending.ok;
  }
  double mean_batch() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return commits_ > 0 ? static_cast<double>(puts_) / static_cast<double>(commits_) : 0;
  }

 private:
  struct Pending {
    const std::string* key;
    const std::string* value;
    bool ok = false;
    bool done = false;
  };

  void loop() {
    std::vector<Pending*> batch;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wakeup_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;
        while (!queue_.empty() && batch.size() < 1024) {
          batch.push_back(queue_.front());
          queue_.pop_front();
        }
      }
      bool ok = false;
      MDB_txn* txn = nullptr;
      if (mdb_txn_begin(lmdb_.env, nullptr, 0, &txn) == MDB_SUCCESS) {
        ok = true;
        for (Pending* p : batch) {
          MDB_val k{p->key->size(), const_cast<char*>(p->key->data())};
          MDB_val v{p->value->size(), const_cast<char*>(p->value->data())};
          if (mdb_put(txn, lmdb_.dbi, &k, &v, 0) != MDB_SUCCESS) {
            ok = false;
            break;
          }
        }
        if (ok) {
          ok = mdb_txn_commit(txn) == MDB_SUCCESS;
        } else {
          mdb_txn_abort(txn);
        }
      }
      {
        std::lock_guard<std::mutex> lock(mutex_);
        commits_ += 1;
        puts_ += batch.size();
        for (Pending* p : batch) {
          p->ok = ok;
          p->done = true;
        }
      }
      done_.notify_all();
      batch.clear();
    }
  }

  RawLmdb& lmdb_;
  mutable std::mutex mutex_;
  std::condition_variable wakeup_;
  std::condition_variable done_;
  std::deque<Pending*> queue_;
  bool stopping_ = false;
  std::uint64_t commits_ = 0;
  std::uint64_t puts_ = 0;
  std::thread thread_;  // last: starts once the members above exist
};

Options parse(int argc, char** argv) {
  Options options;
  kvs::bench::Flags flags(argc, argv, "usage: node_bench [--seconds S] [--keys N] [--dir PARENT] [--no-compression] [--gets-only] "
                         "[--group-only] [--raw-pad BYTES]");
  while (flags.next()) {
    if (flags.is("--seconds")) options.seconds = flags.number();
    else if (flags.is("--keys")) options.keys = static_cast<std::size_t>(flags.integer());
    else if (flags.is("--dir")) options.parent = flags.value();
    else if (flags.is("--no-compression")) options.compression = false;
    else if (flags.is("--gets-only")) options.gets_only = true;
    else if (flags.is("--group-only")) options.group_only = true;
    else if (flags.is("--raw-pad")) options.raw_pad = static_cast<std::size_t>(flags.integer());
    else flags.unknown();
  }
  if (options.gets_only && options.group_only) {
    std::fprintf(stderr, "node_bench: --gets-only and --group-only exclude each other\n");
    std::exit(2);
  }
  if (options.seconds <= 0 || options.keys == 0) {
    std::fprintf(stderr, "node_bench: --seconds and --keys must be positive\n");
    std::exit(2);
  }
  return options;
}

void print_puts(const char* what, int writers, const Figures& f, double base) {
  std::printf("%-10s writers=%-3d %10.0f puts/s  x%-6.1f p50=%8.0fus p99=%8.0fus  (%llu puts, %llu failed)\n", what,
              writers, f.rate(), base > 0 ? f.rate() / base : 1.0, f.p50_us, f.p99_us,
              static_cast<unsigned long long>(f.ops), static_cast<unsigned long long>(f.failures));
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse(argc, argv);
  kvs::set_log_level(kvs::LogLevel::kWarn);
  std::printf("node_bench: kvs %s, %u hardware threads, %.1f s per measurement, data under %s, compression %s\n",
              std::string(kvs::library_version()).c_str(), std::thread::hardware_concurrency(), options.seconds,
              options.parent.c_str(), options.compression ? "on" : "off");

  double node_one_writer = 0;
  double node_64_writers = 0;
  double put_ratio = 0;
  if (!options.gets_only) {
    // 1. Durable puts through kvs::Node: each writer count on a fresh data_dir.
    std::printf("\n== durable puts, small JSON (fsync before each put returns) ==\n");
    // fsync latency drifts with the machine's load, so 1 writer runs first and last and the
    // ratios use the mean of the two.
    double node_one_writer_first = 0;
    for (int writers : {1, 2, 4, 8, 16, 32, 64, 1}) {
      if (options.group_only) break;
      TempDir dir("kvs-node-bench", options.parent);
      auto node = open_node(bench_config(dir.path(), options));
      Figures f = measure(writers, options.seconds, true, [&](int t, std::uint64_t n) {
        std::string key = "w/" + std::to_string(t) + "/" + std::to_string(n);
        return node->put(key, small_document(n)).is_ok();
      });
      if (writers == 1 && node_one_writer_first == 0) {
        node_one_writer_first = f.rate();
        node_one_writer = f.rate();
      } else if (writers == 1) {
        node_one_writer = (node_one_writer_first + f.rate()) / 2;
      }
      if (writers == 64) node_64_writers = f.rate();
      print_puts("kvs::Node", writers, f, node_one_writer);
    }

    // 2. The floor: one LMDB transaction and fsync per put, writers serialised by LMDB's lock.
    double raw_one_writer = 0;
    for (int writers : {1, 64}) {
      if (options.group_only) break;
      TempDir dir("kvs-lmdb-bench", options.parent);
      RawLmdb lmdb(dir.path());
      Figures f = measure(writers, options.seconds, true, [&](int t, std::uint64_t n) {
        return lmdb.put("w/" + std::to_string(t) + "/" + std::to_string(n), small_document(n));
      });
      if (writers == 1) raw_one_writer = f.rate();
      print_puts("raw LMDB", writers, f, raw_one_writer);
    }

    // 2b. Raw LMDB with group commit at 64 writers, next to kvs::Node at 64 writers again, taking
    // turns so that a change in the disk's fsync latency hits both alike.
    std::printf("\n== durable puts, 64 writers: kvs::Node vs raw LMDB with the same group commit ==\n");
    Figures node_group;
    Figures raw_group;
    double raw_batch = 0;
    constexpr int kPutSlices = 2;
    for (int slice = 0; slice < kPutSlices; ++slice) {
      {
        TempDir dir("kvs-node-bench", options.parent);
        auto node = open_node(bench_config(dir.path(), options));
        Figures f = measure(64, options.seconds, false, [&](int t, std::uint64_t n) {
          return node->put("w/" + std::to_string(t) + "/" + std::to_string(n), small_document(n)).is_ok();
        });
        node_group.ops += f.ops;
        node_group.failures += f.failures;
        node_group.seconds += f.seconds;
      }
      {
        TempDir dir("kvs-lmdb-bench", options.parent);
        RawLmdb lmdb(dir.path());
        RawGroupCommit group(lmdb);
        Figures f = measure(64, options.seconds, false, [&](int t, std::uint64_t n) {
          return group.put("w/" + std::to_string(t) + "/" + std::to_string(n), small_document(n));
        });
        raw_group.ops += f.ops;
        raw_group.failures += f.failures;
        raw_group.seconds += f.seconds;
        raw_batch += group.mean_batch() / kPutSlices;
      }
    }
    put_ratio = raw_group.rate() > 0 ? node_group.rate() / raw_group.rate() : 0;
    std::printf("puts writers=64  kvs::Node %10.0f puts/s  raw LMDB group commit %10.0f puts/s (mean batch %.1f)  "
                "Node/LMDB %5.1f%%  (%llu + %llu failed)\n",
                node_group.rate(), raw_group.rate(), raw_batch, 100 * put_ratio,
                static_cast<unsigned long long>(node_group.failures), static_cast<unsigned long long>(raw_group.failures));
    std::fflush(stdout);
  }
  if (options.group_only) {
    std::printf("\n== summary ==\nputs: kvs::Node / raw LMDB group commit, 64 writers = %.0f%% (target >= 80%%)\n",
                100 * put_ratio);
    return 0;
  }

  // 3. Random gets on N keys of ~200-byte JSON.
  std::printf("\n== random gets, %zu keys of ~%zu-byte JSON ==\n", options.keys, document(0).size());
  if (options.raw_pad > 0) std::printf("raw LMDB values padded by %zu bytes\n", options.raw_pad);
  TempDir node_dir("kvs-node-bench", options.parent);
  auto node = open_node(bench_config(node_dir.path(), options));
  {
    // Load through 64 writers so group commit shares the fsyncs.
    const auto started = Clock::now();
    std::atomic<std::uint64_t> next{0};
    std::atomic<std::uint64_t> failed{0};
    std::vector<std::thread> loaders;
    for (int t = 0; t < 64; ++t) {
      loaders.emplace_back([&] {
        for (std::uint64_t n = next++; n < options.keys; n = next++) {
          if (!node->put(key_for(n), document(n)).is_ok()) ++failed;
        }
      });
    }
    for (auto& loader : loaders) loader.join();
    std::printf("loaded kvs::Node: %zu keys in %.1f s (%llu failed)\n", options.keys,
                std::chrono::duration<double>(Clock::now() - started).count(),
                static_cast<unsigned long long>(failed.load()));
  }
  TempDir lmdb_dir("kvs-lmdb-bench", options.parent);
  RawLmdb lmdb(lmdb_dir.path());
  {
    MDB_txn* txn = nullptr;
    check_mdb(mdb_txn_begin(lmdb.env, nullptr, 0, &txn), "mdb_txn_begin");
    for (std::uint64_t n = 0; n < options.keys; ++n) {
      std::string key = key_for(n);
      std::string value = document(n);
      value.append(options.raw_pad, ' ');
      MDB_val k{key.size(), key.data()};
      MDB_val v{value.size(), value.data()};
      check_mdb(mdb_put(txn, lmdb.dbi, &k, &v, 0), "mdb_put");
    }
    check_mdb(mdb_txn_commit(txn), "mdb_txn_commit");
  }

  double worst_ratio = 1e9;
  for (int readers : {1, 2}) {
    std::vector<FastRandom> random(static_cast<std::size_t>(readers));
    for (int t = 0; t < readers; ++t) random[static_cast<std::size_t>(t)].state = 0x9E3779B97F4A7C15ULL * static_cast<std::uint64_t>(t + 1);
    // Node and LMDB take turns in short slices, so that a change in machine load (other
    // processes, page cache) hits both sides alike.
    std::vector<std::string> buffers(static_cast<std::size_t>(readers));
    Figures via_node;
    Figures via_lmdb;
    constexpr int kSlices = 4;
    for (int slice = 0; slice < kSlices; ++slice) {
      Figures n = measure(readers, options.seconds / kSlices, false, [&](int t, std::uint64_t) {
        auto got = node->get(key_for(random[static_cast<std::size_t>(t)].next() % options.keys));
        return got.is_ok() && !got->data.empty();
      });
      Figures l = measure(readers, options.seconds / kSlices, false, [&](int t, std::uint64_t) {
        return lmdb.get(key_for(random[static_cast<std::size_t>(t)].next() % options.keys),
                        buffers[static_cast<std::size_t>(t)]);
      });
      via_node.ops += n.ops;
      via_node.failures += n.failures;
      via_node.seconds += n.seconds;
      via_lmdb.ops += l.ops;
      via_lmdb.failures += l.failures;
      via_lmdb.seconds += l.seconds;
    }
    double ratio = via_lmdb.rate() > 0 ? via_node.rate() / via_lmdb.rate() : 0;
    worst_ratio = std::min(worst_ratio, ratio);
    std::printf("gets readers=%d  kvs::Node %10.0f gets/s  raw LMDB %10.0f gets/s  Node/LMDB %5.1f%%  (%llu + %llu failed)\n",
                readers, via_node.rate(), via_lmdb.rate(), 100 * ratio,
                static_cast<unsigned long long>(via_node.failures), static_cast<unsigned long long>(via_lmdb.failures));
    std::fflush(stdout);
  }

  std::printf("\n== summary ==\n");
  if (!options.gets_only) {
    std::printf("durable puts: 64 writers / 1 writer = x%.1f (1 writer: mean of first and last run, %.0f puts/s; "
                "target >= x20)\n",
                node_one_writer > 0 ? node_64_writers / node_one_writer : 0.0, node_one_writer);
    std::printf("puts: kvs::Node / raw LMDB group commit, 64 writers = %.0f%% (target >= 80%%)\n", 100 * put_ratio);
  }
  std::printf("gets: kvs::Node / raw LMDB, worst of 1 and 2 readers = %.0f%% (target >= 70%%)\n", 100 * worst_ratio);
  return 0;
}
