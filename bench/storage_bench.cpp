// storage_bench: durable puts through kvs::storage::Store with 1, 4, 16 and 64 concurrent
// writer threads, each against a fresh store in a temporary directory. It prints puts/s and
// the number of commits (one fsync each), so the group-commit scaling shows as a ratio.
// Then random gets over --keys keys, through Store::get and through raw LMDB on the same
// environment (the floor: begin, get, copy, abort), with 1 and 2 reader threads.
//
//   storage_bench [--seconds S] [--dir PARENT] [--keys N] [--no-compression]
//
// PARENT (default: the system temp dir) decides which disk is measured; use one on the disk
// you care about, since fsync cost is the whole story here.

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include <unistd.h>

#include <lmdb.h>

#include "storage/store.hpp"

namespace {

using kvs::Result;
using kvs::Version;
using kvs::storage::Store;
using kvs::storage::StoreOptions;
using kvs::storage::WriteView;

struct Figures {
  std::uint64_t puts = 0;
  std::uint64_t failures = 0;
  std::uint64_t commits = 0;
  double seconds = 0;
};

// A ~200-byte JSON document, different per key.
std::string document(std::uint64_t n) {
  std::string doc = R"({"id":)" + std::to_string(n) +
                    R"(,"name":"benchmark user","email":"user@example.com","tags":["alpha","beta","gamma"],)"
                    R"("address":{"street":"1 Main Street","city":"Springfield","zip":"12345"},"score":)" +
                    std::to_string(n % 1000) + "}";
  return doc;
}

std::filesystem::path make_temp_dir(const std::filesystem::path& parent) {
  std::string pattern = (parent / "kvs-storage-bench-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    std::perror("mkdtemp");
    std::exit(1);
  }
  return pattern;
}

bool compression_enabled = true;  // --no-compression turns it off

std::unique_ptr<Store> open_or_die(const std::filesystem::path& dir) {
  StoreOptions options;
  options.dir = dir;
  options.compression_enabled = compression_enabled;
  auto opened = Store::open(options);
  if (!opened.is_ok()) {
    std::fprintf(stderr, "open %s: %s\n", dir.c_str(), opened.status().to_string().c_str());
    std::exit(1);
  }
  return std::move(*opened);
}

std::string key_of(std::uint64_t n) { return "bench/key" + std::to_string(n); }

// Writes `keys` keys with 64 writer threads (group commit makes this quick).
void fill(Store& store, std::uint64_t keys) {
  std::atomic<std::uint64_t> next{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < 64; ++t) {
    writers.emplace_back([&] {
      for (std::uint64_t n; (n = next.fetch_add(1)) < keys;) {
        Version version;
        version.path = key_of(n);
        version.uuid = std::to_string(n);
        version.timestamp_ms = 1'700'000'000'000;
        version.data = document(n);
        auto written = store.write([&version](WriteView&) -> Result<std::optional<Version>> {
          return std::optional<Version>(version);
        });
        if (!written.is_ok()) {
          std::fprintf(stderr, "fill: %s\n", written.status().to_string().c_str());
          std::exit(1);
        }
      }
    });
  }
  for (auto& writer : writers) writer.join();
}

// Runs `get(n)` on random keys from `threads` threads for `duration`; returns gets/s.
template <class Get>
double measure_gets(int threads, std::uint64_t keys, std::chrono::milliseconds duration, Get get) {
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> total{0};
  std::vector<std::thread> readers;
  auto started = std::chrono::steady_clock::now();
  for (int t = 0; t < threads; ++t) {
    readers.emplace_back([&, t] {
      std::mt19937_64 random(static_cast<std::uint64_t>(t) + 1);
      std::uint64_t done = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        for (int i = 0; i < 256; ++i) {
          if (std::string key = key_of(random() % keys); !get(key)) {
            std::fprintf(stderr, "get %s found nothing\n", key.c_str());
            std::exit(1);
          }
        }
        done += 256;
      }
      total += done;
    });
  }
  std::this_thread::sleep_for(duration);
  stop = true;
  for (auto& reader : readers) reader.join();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return static_cast<double>(total.load()) / seconds;
}

void run_gets(const std::filesystem::path& parent, std::uint64_t keys, std::chrono::milliseconds duration) {
  std::filesystem::path dir = make_temp_dir(parent);
  double store_rate[2] = {};
  double raw_rate[2] = {};
  {
    auto store = open_or_die(dir);
    auto started = std::chrono::steady_clock::now();
    fill(*store, keys);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::printf("\nfilled %llu keys in %.1f s (%llu commits)\n", static_cast<unsigned long long>(keys), seconds,
                static_cast<unsigned long long>(store->stats().commits));
    for (int threads : {1, 2}) {
      store_rate[threads - 1] = measure_gets(threads, keys, duration, [&](const std::string& path) {
        auto held = store->get(path);
        if (!held.is_ok()) std::fprintf(stderr, "Store::get: %s\n", held.status().to_string().c_str());
        return held.is_ok() && held->has_value();
      });
    }
  }
  {
    // The floor: the same environment through raw LMDB, one read transaction per get.
    MDB_env* env = nullptr;
    MDB_txn* txn = nullptr;
    MDB_dbi versions = 0;
    if (mdb_env_create(&env) != 0 || mdb_env_set_maxdbs(env, 16) != 0 || mdb_env_set_maxreaders(env, 512) != 0 ||
        mdb_env_open(env, dir.c_str(), MDB_NOTLS | MDB_RDONLY, 0644) != 0 ||
        mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) != 0 || mdb_dbi_open(txn, "versions", 0, &versions) != 0) {
      std::fprintf(stderr, "raw LMDB open failed\n");
      std::exit(1);
    }
    mdb_txn_commit(txn);  // a commit (not an abort) keeps the database handle open
    for (int threads : {1, 2}) {
      raw_rate[threads - 1] = measure_gets(threads, keys, duration, [&](const std::string& path) {
        MDB_txn* read = nullptr;
        if (int rc = mdb_txn_begin(env, nullptr, MDB_RDONLY, &read); rc != 0) {
          std::fprintf(stderr, "raw LMDB begin: %s\n", mdb_strerror(rc));
          return false;
        }
        MDB_val key{path.size(), const_cast<char*>(path.data())};
        MDB_val value{0, nullptr};
        bool found = mdb_get(read, versions, &key, &value) == 0;
        std::string copy(static_cast<const char*>(value.mv_data), found ? value.mv_size : 0);
        mdb_txn_abort(read);
        return found && !copy.empty();
      });
    }
    mdb_env_close(env);
  }
  std::printf("%8s %14s %14s %8s\n", "readers", "Store gets/s", "raw LMDB/s", "ratio");
  for (int threads : {1, 2}) {
    std::printf("%8d %14.0f %14.0f %7.0f%%\n", threads, store_rate[threads - 1], raw_rate[threads - 1],
                100.0 * store_rate[threads - 1] / raw_rate[threads - 1]);
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

Figures run(const std::filesystem::path& parent, int threads, std::chrono::milliseconds duration) {
  std::filesystem::path dir = make_temp_dir(parent);
  Figures figures;
  {
    std::unique_ptr<Store> store = open_or_die(dir);
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> puts{0};
    std::atomic<std::uint64_t> failures{0};
    std::vector<std::thread> writers;
    auto started = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; ++t) {
      writers.emplace_back([&, t] {
        for (std::uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
          Version version;
          version.path = "bench/t" + std::to_string(t) + "/k" + std::to_string(i);
          version.uuid = std::to_string(t) + "-" + std::to_string(i);
          version.timestamp_ms = 1'700'000'000'000 + static_cast<std::int64_t>(i);
          version.data = document(i);
          version.origin_node_id = "bench";
          // Read through the view like kvs::Node does before it decides.
          auto written = store->write([&version](WriteView& view) -> Result<std::optional<Version>> {
            auto held = view.get(version.path);
            if (!held.is_ok()) return held.status();
            return std::optional<Version>(version);
          });
          (written.is_ok() ? puts : failures).fetch_add(1, std::memory_order_relaxed);
        }
      });
    }
    std::this_thread::sleep_for(duration);
    stop = true;
    for (auto& writer : writers) writer.join();
    figures.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    figures.puts = puts.load();
    figures.failures = failures.load();
    figures.commits = store->stats().commits;
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  return figures;
}


}  // namespace

int main(int argc, char** argv) {
  double seconds = 3;
  std::uint64_t keys = 100'000;
  std::filesystem::path parent = std::filesystem::temp_directory_path();
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--seconds" && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else if (arg == "--dir" && i + 1 < argc) {
      parent = argv[++i];
    } else if (arg == "--no-compression") {
      compression_enabled = false;
    } else if (arg == "--keys" && i + 1 < argc) {
      keys = std::strtoull(argv[++i], nullptr, 10);
    } else {
      std::fprintf(stderr, "usage: %s [--seconds S] [--dir PARENT] [--keys N] [--no-compression]\n", argv[0]);
      return 2;
    }
  }
  auto duration = std::chrono::milliseconds(static_cast<long>(seconds * 1000));

  std::printf("storage_bench: durable puts (~200-byte JSON, one fsync per commit), %.1f s per run, under %s\n",
              seconds, parent.c_str());
  std::printf("%8s %10s %12s %10s %12s %14s %10s\n", "writers", "puts", "puts/s", "commits", "commits/s",
              "puts/commit", "vs 1");
  double single_rate = 0;
  for (int threads : {1, 4, 16, 64}) {
    Figures figures = run(parent, threads, duration);
    double rate = static_cast<double>(figures.puts) / figures.seconds;
    if (threads == 1) single_rate = rate;
    double per_commit = figures.commits ? static_cast<double>(figures.puts) / static_cast<double>(figures.commits) : 0;
    std::printf("%8d %10llu %12.0f %10llu %12.0f %14.1f %9.1fx\n", threads,
                static_cast<unsigned long long>(figures.puts), rate, static_cast<unsigned long long>(figures.commits),
                static_cast<double>(figures.commits) / figures.seconds, per_commit,
                single_rate > 0 ? rate / single_rate : 0.0);
    if (figures.failures != 0) {
      std::printf("         %llu puts failed\n", static_cast<unsigned long long>(figures.failures));
    }
  }
  if (keys > 0) run_gets(parent, keys, duration);
  return 0;
}
