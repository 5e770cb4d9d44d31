#pragma once

// What the benchmark programs share: a flag reader, the measuring loop (N threads for S seconds,
// with optional latency percentiles), order statistics, the load average, cheap randomness, and
// a lone in-process node on a scratch directory. Header-only, because every bench is one program
// built from one .cpp (bench/CMakeLists.txt); scratch directories, kvs-server processes and
// loopback client sockets come from the tests' Catch2-free helpers (tests/support: TempDir,
// ServerProcess, RawConnection), which the benches link.
//
// Nothing here is thread-safe except measure(), whose `op` runs on its own threads.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "kvs/config.hpp"
#include "kvs/node.hpp"

namespace kvs::bench {

using Clock = std::chrono::steady_clock;

// Reads `--flag value` and bare `--switch` arguments in order:
//   Flags flags(argc, argv, "usage: node_bench [--seconds S] ...");
//   while (flags.next()) {
//     if (flags.is("--seconds")) seconds = flags.number();
//     else flags.unknown();
//   }
// A flag without its value, or an unknown one, prints the usage and exits 2 (--help: 0).
class Flags {
 public:
  Flags(int argc, char** argv, std::string usage) : argc_(argc), argv_(argv), usage_(std::move(usage)) {}

  // Moves to the next argument; false after the last.
  bool next() {
    if (++at_ >= argc_) return false;
    flag_ = argv_[at_];
    return true;
  }
  bool is(std::string_view name) const { return flag_ == name; }
  const std::string& flag() const { return flag_; }

  // The current flag's value (the next argument), consumed.
  std::string value() {
    if (at_ + 1 >= argc_) {
      std::fprintf(stderr, "%s needs a value\n%s\n", flag_.c_str(), usage_.c_str());
      std::exit(2);
    }
    return argv_[++at_];
  }
  double number() { return std::atof(value().c_str()); }
  long long integer() { return std::atoll(value().c_str()); }

  [[noreturn]] void unknown() const {
    const bool help = flag_ == "--help" || flag_ == "-h";
    std::fprintf(help ? stdout : stderr, "%s\n", usage_.c_str());
    std::exit(help ? 0 : 2);
  }

 private:
  int argc_;
  char** argv_;
  std::string usage_;
  int at_ = 0;
  std::string flag_;
};

// The kvs-server of the build tree that holds the bench binary `argv0` (build/bench/x ->
// build/kvs-server/kvs-server); a --server flag overrides it.
inline std::string default_server_binary(const char* argv0) {
  return (std::filesystem::path(argv0).parent_path() / ".." / "kvs-server" / "kvs-server").string();
}

// `server` made absolute (the servers run from their own directories), or exit 1 with
// `program`'s name when there is no such file.
inline std::string server_binary_or_exit(const std::string& server, const char* program) {
  if (!std::filesystem::exists(server)) {
    std::fprintf(stderr, "%s: no kvs-server at %s (use --server PATH)\n", program, server.c_str());
    std::exit(1);
  }
  return std::filesystem::absolute(server).string();
}

// The 1-minute load average, as /proc/loadavg has it ("?" when unreadable). Printed beside
// each figure: on a shared machine, only figures taken under a like load compare.
inline std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string first;
  in >> first;
  return first.empty() ? "?" : first;
}

// The value at fraction `p` (0..1) of `values`, nearest rank; `empty` when there are none.
inline double percentile(std::vector<double> values, double p, double empty = 0) {
  if (values.empty()) return empty;
  std::sort(values.begin(), values.end());
  auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(index, values.size() - 1)];
}

// The middle value, or the mean of the two middle ones. Requires: `values` is not empty.
inline double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  std::size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// xorshift64*: cheap per-thread randomness for key choice. Requires: a non-zero seed.
struct FastRandom {
  std::uint64_t state;
  std::uint64_t next() {
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545F4914F6CDD1DULL;
  }
};

struct Figures {
  std::uint64_t ops = 0;       // calls that succeeded
  std::uint64_t failures = 0;  // calls that did not
  double seconds = 0;
  double p50_us = 0;           // with latencies only
  double p99_us = 0;
  double mean_us = 0;
  double p90_us = 0;
  double p999_us = 0;
  double max_us = 0;
  double rate() const { return seconds > 0 ? static_cast<double>(ops) / seconds : 0; }
};

// Runs `op(thread, n)` on `threads` threads until `seconds` have passed; `n` counts the calls of
// that thread from 0, and `op` returns whether the call succeeded. Latencies are recorded when
// `latencies` is set (a clock read per call, so leave it off where the call is sub-microsecond).
template <class Op>
Figures measure(int threads, double seconds, bool latencies, Op op) {
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> ops{0};
  std::atomic<std::uint64_t> failures{0};
  std::vector<std::vector<float>> samples(static_cast<std::size_t>(threads));
  std::vector<std::thread> workers;
  const auto started = Clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::uint64_t mine = 0;
      std::uint64_t bad = 0;
      auto& my_samples = samples[static_cast<std::size_t>(t)];
      for (std::uint64_t n = 0; !stop.load(std::memory_order_relaxed); ++n) {
        const auto before = latencies ? Clock::now() : Clock::time_point{};
        bool ok = op(t, n);
        if (latencies) {
          my_samples.push_back(std::chrono::duration<float, std::micro>(Clock::now() - before).count());
        }
        if (ok) ++mine;
        else ++bad;
      }
      ops += mine;
      failures += bad;
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& worker : workers) worker.join();
  Figures figures;
  figures.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  figures.ops = ops;
  figures.failures = failures;
  if (latencies) {
    std::vector<float> all;
    for (auto& s : samples) all.insert(all.end(), s.begin(), s.end());
    if (!all.empty()) {
      std::sort(all.begin(), all.end());
      figures.p50_us = all[all.size() / 2];
      figures.p90_us = all[std::min(all.size() - 1, all.size() * 90 / 100)];
      figures.p99_us = all[std::min(all.size() - 1, all.size() * 99 / 100)];
      figures.p999_us = all[std::min(all.size() - 1, all.size() * 999 / 1000)];
      figures.max_us = all.back();
      double sum = 0;
      for (float v : all) sum += v;
      figures.mean_us = sum / static_cast<double>(all.size());
    }
  }
  return figures;
}

// A lone node storing under `dir` (data/, backups/): clustering, auth, audit, backups and rate
// limiting off, so that a bench measures the data path; each bench turns on what it measures.
inline Config lone_node_config(const std::filesystem::path& dir, std::string node_id = "bench") {
  Config config;
  config.node_id = std::move(node_id);
  config.data_dir = (dir / "data").string();
  config.backup_path = (dir / "backups").string();
  config.auth_enabled = false;
  config.clustering_enabled = false;
  config.backup_enabled = false;
  config.rate_limiting_enabled = false;
  config.tamper_logging_enabled = false;
  return config;
}

// The open node, or exit 1 with `program`'s name and the reason.
inline std::unique_ptr<Node> open_node_or_exit(const Config& config, const char* program) {
  auto node = Node::open(config);
  if (!node.is_ok()) {
    std::fprintf(stderr, "%s: open %s: %s\n", program, config.data_dir.c_str(), node.status().to_string().c_str());
    std::exit(1);
  }
  return std::move(*node);
}

}  // namespace kvs::bench
