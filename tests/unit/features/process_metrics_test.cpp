// The metrics added for operators (libkvs/src/features/metrics.cpp, process_stats.cpp): latency
// buckets from 100 µs, counters sampled from elsewhere, kvs_build_info, the process_* gauges
// and the connection layer's refusals. Not covered: their exposition over HTTP
// (tests/integration/metrics_test.cpp).

#include <string>

#include <catch2/catch.hpp>

#include "features/metrics.hpp"
#include "features/process_stats.hpp"
#include "kvs/operations.hpp"

namespace kvs::features {

TEST_CASE("latency buckets start at 100 microseconds, so a sub-millisecond read lands in its own bucket",
          "[features][metrics]") {
  auto bounds = default_latency_buckets();
  REQUIRE(bounds.size() == 16);
  CHECK(bounds.front() == 0.0001);
  CHECK(bounds.back() == 10);
  for (std::size_t i = 1; i < bounds.size(); ++i) CHECK(bounds[i - 1] < bounds[i]);

  MetricsRegistry registry;
  auto& latency = registry.histogram("latency_seconds", "Latency.", {"route"});
  latency.labels({"kv"}).observe(0.00027);  // a GET served from the page cache
  std::string text = registry.render();
  CHECK(text.find("latency_seconds_bucket{route=\"kv\",le=\"0.00025\"} 0\n") != std::string::npos);
  CHECK(text.find("latency_seconds_bucket{route=\"kv\",le=\"0.0005\"} 1\n") != std::string::npos);
}

TEST_CASE("a sampled counter is set from outside and rendered with TYPE counter", "[features][metrics]") {
  MetricsRegistry registry;
  auto& cpu = registry.sampled_counter("process_cpu_seconds_total", "CPU time.").get();
  cpu.set(1.5);
  std::string text = registry.render();
  CHECK(text == "# HELP process_cpu_seconds_total CPU time.\n# TYPE process_cpu_seconds_total counter\n"
                "process_cpu_seconds_total 1.5\n");
}

TEST_CASE("node metrics carry build info, the process and the connection layer's refusals", "[features][metrics]") {
  MetricsRegistry registry;
  NodeMetrics metrics(registry);
  metrics.connections_refused.labels({"headers_too_large"}).inc();
  metrics.sample_process();
  std::string text = registry.render();
  std::string build = "kvs_build_info{version=\"" + std::string(library_version()) + "\",commit=\"" +
                      std::string(library_commit()) + "\"} 1\n";
  CHECK(text.find(build) != std::string::npos);
  CHECK_FALSE(library_commit().empty());
  CHECK(text.find("kvs_connections_refused_total{reason=\"headers_too_large\"} 1\n") != std::string::npos);
  CHECK(text.find("# TYPE process_cpu_seconds_total counter\n") != std::string::npos);
  // On Linux the process gauges are read from /proc: a running process has memory, open
  // descriptors (stdin at least) and a start time after 2020.
  CHECK(metrics.process_resident_memory.value() > 0);
  CHECK(metrics.process_open_fds.value() >= 1);
  CHECK(metrics.process_start_time.value() > 1.6e9);
  CHECK(metrics.process_cpu_seconds.value() >= 0);
}

TEST_CASE("process stats parse /proc/self/stat, a command name with spaces and parentheses included",
          "[features][metrics]") {
  // Fields 3.. as proc(5) numbers them: utime (14) 250 ticks, stime (15) 50, starttime (22)
  // 1000 ticks after boot, rss (24) 300 pages.
  const std::string stat =
      "4242 (kvs (server) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 9 0 1000 123456789 300 "
      "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
  const std::string system_stat = "cpu  1 2 3 4\nbtime 1700000000\nprocesses 99\n";
  auto stats = parse_process_stats(stat, system_stat, 100, 4096);
  REQUIRE(stats);
  CHECK(stats->cpu_seconds == 3.0);
  CHECK(stats->resident_bytes == 300.0 * 4096);
  CHECK(stats->start_time_seconds == 1700000010.0);

  CHECK_FALSE(parse_process_stats("4242 (kvs) S 1 2 3", system_stat, 100, 4096));  // too few fields
  CHECK_FALSE(parse_process_stats(stat, "cpu 1 2 3\n", 100, 4096));                  // no btime
  CHECK_FALSE(parse_process_stats(stat, system_stat, 0, 4096));
  CHECK_FALSE(parse_process_stats("no parenthesis", system_stat, 100, 4096));
}

}  // namespace kvs::features
