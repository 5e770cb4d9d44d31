// storage_bench: durable puts through kvs::storage::Store with 1, 4, 16 and 64 concurrent
// writer threads, each against a fresh store in a temporary directory. It prints puts/s and
// the number of commits (one fsync each), so the group-commit scaling shows as a ratio.
//
//   storage_bench [--seconds S] [--dir PARENT]
//
// PARENT (default: the system temp dir) decides which disk is measured; use one on the disk
// you care about, since fsync cost is the whole story here.

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include <unistd.h>

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

Figures run(const std::filesystem::path& parent, int threads, std::chrono::milliseconds duration) {
  std::string pattern = (parent / "kvs-storage-bench-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    std::perror("mkdtemp");
    std::exit(1);
  }
  std::filesystem::path dir = pattern;
  Figures figures;
  {
    StoreOptions options;
    options.dir = dir;
    auto opened = Store::open(options);
    if (!opened.is_ok()) {
      std::fprintf(stderr, "open %s: %s\n", dir.c_str(), opened.status().to_string().c_str());
      std::exit(1);
    }
    std::unique_ptr<Store> store = std::move(*opened);
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
  std::filesystem::path parent = std::filesystem::temp_directory_path();
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--seconds" && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else if (arg == "--dir" && i + 1 < argc) {
      parent = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--seconds S] [--dir PARENT]\n", argv[0]);
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
  return 0;
}
