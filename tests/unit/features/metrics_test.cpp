#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "features/metrics.hpp"

namespace {

using namespace kvs::features;

// One sample line of the Prometheus text format, parsed independently of the renderer.
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct Exposition {
  std::map<std::string, std::string> help;
  std::map<std::string, std::string> type;
  std::vector<Sample> samples;

  std::vector<Sample> find(const std::string& name, const std::map<std::string, std::string>& subset = {}) const {
    std::vector<Sample> out;
    for (const auto& s : samples) {
      if (s.name != name) continue;
      bool ok = true;
      for (const auto& [k, v] : subset) {
        auto it = s.labels.find(k);
        if (it == s.labels.end() || it->second != v) ok = false;
      }
      if (ok) out.push_back(s);
    }
    return out;
  }
  double value(const std::string& name, const std::map<std::string, std::string>& labels = {}) const {
    auto found = find(name, labels);
    if (found.size() != 1) throw std::runtime_error("expected one sample of " + name);
    return found.front().value;
  }
};

bool is_name_char(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || (!first && c >= '0' && c <= '9');
}

double parse_value(const std::string& text) {
  if (text == "+Inf") return INFINITY;
  if (text == "-Inf") return -INFINITY;
  if (text == "NaN") return NAN;
  std::size_t used = 0;
  double v = std::stod(text, &used);
  if (used != text.size()) throw std::runtime_error("bad value " + text);
  return v;
}

// A strict parser: any line it does not understand fails the test.
Exposition parse(const std::string& text) {
  Exposition e;
  REQUIRE((text.empty() || text.back() == '\n'));
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    INFO("line: " << line);
    REQUIRE_FALSE(line.empty());
    if (line.rfind("# HELP ", 0) == 0) {
      auto rest = line.substr(7);
      auto sp = rest.find(' ');
      REQUIRE(sp != std::string::npos);
      e.help[rest.substr(0, sp)] = rest.substr(sp + 1);
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      auto rest = line.substr(7);
      auto sp = rest.find(' ');
      REQUIRE(sp != std::string::npos);
      const auto type = rest.substr(sp + 1);
      REQUIRE((type == "counter" || type == "gauge" || type == "histogram"));
      REQUIRE(e.type.count(rest.substr(0, sp)) == 0);  // one TYPE per family
      e.type[rest.substr(0, sp)] = type;
      continue;
    }
    REQUIRE(line[0] != '#');
    Sample s;
    std::size_t i = 0;
    while (i < line.size() && is_name_char(line[i], i == 0)) ++i;
    REQUIRE(i > 0);
    s.name = line.substr(0, i);
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (line.at(i) != '}') {
        std::size_t start = i;
        while (is_name_char(line.at(i), i == start)) ++i;
        const std::string label = line.substr(start, i - start);
        REQUIRE(line.at(i) == '=');
        REQUIRE(line.at(i + 1) == '"');
        i += 2;
        std::string value;
        while (line.at(i) != '"') {
          if (line[i] == '\\') {
            const char next = line.at(i + 1);
            REQUIRE((next == '\\' || next == '"' || next == 'n'));
            value += next == 'n' ? '\n' : next;
            i += 2;
          } else {
            value += line[i++];
          }
        }
        ++i;
        REQUIRE(s.labels.count(label) == 0);
        s.labels[label] = value;
        if (line.at(i) == ',') ++i;
      }
      ++i;
    }
    REQUIRE(line.at(i) == ' ');
    s.value = parse_value(line.substr(i + 1));
    e.samples.push_back(std::move(s));
  }
  // Every sample belongs to a family with HELP and TYPE declared before it.
  for (const auto& s : e.samples) {
    std::string family = s.name;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      const std::string suf(suffix);
      if (family.size() > suf.size() && family.compare(family.size() - suf.size(), suf.size(), suf) == 0 &&
          e.type.count(family.substr(0, family.size() - suf.size())) &&
          e.type.at(family.substr(0, family.size() - suf.size())) == "histogram") {
        family = family.substr(0, family.size() - suf.size());
      }
    }
    INFO("sample " << s.name);
    REQUIRE(e.type.count(family) == 1);
    REQUIRE(e.help.count(family) == 1);
  }
  return e;
}

}  // namespace

TEST_CASE("counters and gauges render as Prometheus text that parses back", "[metrics]") {
  MetricsRegistry registry;
  auto& requests = registry.counter("kvs_http_requests_total", "HTTP requests.", {"route", "method", "status"});
  auto& keys = registry.gauge("kvs_keys", "Live keys.");
  requests.labels({"/kv/{path}", "GET", "200"}).inc();
  requests.labels({"/kv/{path}", "GET", "200"}).inc(2);
  requests.labels({"/kv/{path}", "PUT", "412"}).inc();
  keys.get().set(42);

  const auto e = parse(registry.render());
  CHECK(e.type.at("kvs_http_requests_total") == "counter");
  CHECK(e.type.at("kvs_keys") == "gauge");
  CHECK(e.help.at("kvs_keys") == "Live keys.");
  CHECK(e.value("kvs_http_requests_total", {{"route", "/kv/{path}"}, {"method", "GET"}, {"status", "200"}}) == 3);
  CHECK(e.value("kvs_http_requests_total", {{"method", "PUT"}, {"status", "412"}}) == 1);
  CHECK(e.value("kvs_keys") == 42);
}

TEST_CASE("a metric without labels renders as zero before it is touched", "[metrics]") {
  MetricsRegistry registry;
  (void)registry.counter("kvs_rate_limited_requests_total", "Refused.");
  const auto e = parse(registry.render());
  CHECK(e.value("kvs_rate_limited_requests_total") == 0);
}

TEST_CASE("histograms render cumulative buckets ending in +Inf with sum and count", "[metrics]") {
  MetricsRegistry registry;
  auto& latency = registry.histogram("kvs_http_request_duration_seconds", "Latency.", {"route"}, {0.01, 0.1, 1});
  auto& kv = latency.labels({"/kv/{path}"});
  for (double v : {0.001, 0.01, 0.05, 0.5, 0.7, 3.0}) kv.observe(v);
  latency.labels({"/health"}).observe(0.002);

  const auto e = parse(registry.render());
  CHECK(e.type.at("kvs_http_request_duration_seconds") == "histogram");
  const std::map<std::string, std::string> route{{"route", "/kv/{path}"}};
  auto bucket = [&](const std::string& le) {
    auto labels = route;
    labels["le"] = le;
    return e.value("kvs_http_request_duration_seconds_bucket", labels);
  };
  CHECK(bucket("0.01") == 2);  // le is "less than or equal"
  CHECK(bucket("0.1") == 3);
  CHECK(bucket("1") == 5);
  CHECK(bucket("+Inf") == 6);
  CHECK(e.value("kvs_http_request_duration_seconds_count", route) == 6);
  CHECK(e.value("kvs_http_request_duration_seconds_sum", route) == Approx(4.261));
  CHECK(e.value("kvs_http_request_duration_seconds_count", {{"route", "/health"}}) == 1);

  // Buckets never decrease, and the last one is +Inf and equals the count.
  for (const auto& r : {std::string("/kv/{path}"), std::string("/health")}) {
    auto buckets = e.find("kvs_http_request_duration_seconds_bucket", {{"route", r}});
    REQUIRE(buckets.size() == 4);
    for (std::size_t i = 1; i < buckets.size(); ++i) CHECK(buckets[i - 1].value <= buckets[i].value);
    CHECK(buckets.back().labels.at("le") == "+Inf");
    CHECK(buckets.back().value == e.value("kvs_http_request_duration_seconds_count", {{"route", r}}));
  }
}

TEST_CASE("label values and help text are escaped and parse back to the original", "[metrics]") {
  MetricsRegistry registry;
  auto& f = registry.counter("odd_total", "Help with \\ backslash\nand newline.", {"v"});
  const std::string nasty = "a\"b\\c\nd{e}=f,g h";
  f.labels({nasty}).inc(7);
  const auto text = registry.render();
  CHECK(text.find("# HELP odd_total Help with \\\\ backslash\\nand newline.\n") != std::string::npos);
  const auto e = parse(text);
  CHECK(e.value("odd_total", {{"v", nasty}}) == 7);
}

TEST_CASE("series render sorted by label values whatever the creation order", "[metrics]") {
  MetricsRegistry a;
  MetricsRegistry b;
  auto& fa = a.counter("c_total", "c", {"k"});
  auto& fb = b.counter("c_total", "c", {"k"});
  for (const char* k : {"b", "c", "a"}) fa.labels({k}).inc();
  for (const char* k : {"a", "c", "b"}) fb.labels({k}).inc();
  CHECK(a.render() == b.render());
  const auto text = a.render();
  CHECK(text.find("k=\"a\"") < text.find("k=\"b\""));
}

TEST_CASE("registering a name again returns the same family", "[metrics]") {
  MetricsRegistry registry;
  auto& one = registry.counter("x_total", "x", {"a"});
  auto& two = registry.counter("x_total", "x", {"a"});
  CHECK(&one == &two);
  CHECK(&one.labels({"1"}) == &two.labels({"1"}));
}

TEST_CASE("label sets beyond the cap share one overflow series", "[metrics]") {
  MetricsRegistry registry;
  auto& f = registry.counter("paths_total", "p", {"path"}, 10);
  for (int i = 0; i < 1000; ++i) f.labels({std::to_string(i)}).inc();
  CHECK(f.series_count() == 11);
  const auto e = parse(registry.render());
  CHECK(e.value("paths_total", {{"path", "_overflow"}}) == 990);
}

TEST_CASE("concurrent updates from many threads are all counted", "[metrics]") {
  MetricsRegistry registry;
  auto& requests = registry.counter("r_total", "r", {"route", "status"});
  auto& latency = registry.histogram("d_seconds", "d", {"route"});
  auto& gauge = registry.gauge("g", "g").get();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5000; ++i) {
        const std::string status = std::to_string(200 + i % 5);
        requests.labels({"/kv", status}).inc();
        latency.labels({t % 2 ? "/kv" : "/health"}).observe(0.001 * (i % 100));
        gauge.add(1);
        if (i % 1000 == 0) (void)registry.render();
      }
    });
  }
  for (auto& th : threads) th.join();
  const auto e = parse(registry.render());
  double total = 0;
  for (const auto& s : e.find("r_total")) total += s.value;
  CHECK(total == 20000);
  CHECK(e.find("r_total").size() == 5);
  CHECK(e.value("d_seconds_count", {{"route", "/kv"}}) == 10000);
  CHECK(e.value("g") == 20000);
}

TEST_CASE("the node metrics register every metric the operations contract names", "[metrics]") {
  MetricsRegistry registry;
  NodeMetrics m(registry);
  m.http_requests.labels({"/kv/{path}", "PUT", "200"}).inc();
  m.http_request_duration.labels({"/kv/{path}", "PUT"}).observe(0.003);
  m.rate_limited.inc();
  m.keys.set(10);
  m.stored_bytes.set(2048);
  m.replication_queue_depth.set(3);
  m.replication_lag.set(0.5);
  m.anti_entropy_rounds.labels({"ok"}).inc();
  m.backups.labels({"ok"}).inc();
  const auto e = parse(registry.render());
  for (const char* name : {"kvs_http_requests_total", "kvs_http_request_duration_seconds", "kvs_rate_limited_requests_total",
                           "kvs_keys", "kvs_stored_bytes", "kvs_replication_queue_depth", "kvs_replication_lag_seconds",
                           "kvs_anti_entropy_rounds_total", "kvs_backups_total", "kvs_members_alive",
                           "kvs_backup_last_success_timestamp_seconds", "kvs_audit_last_seq", "kvs_uptime_seconds"}) {
    INFO(name);
    CHECK(e.type.count(name) == 1);
  }
  CHECK(e.value("kvs_stored_bytes") == 2048);
  CHECK(e.value("kvs_backups_total", {{"result", "ok"}}) == 1);
  // A second NodeMetrics on the same registry shares the series.
  NodeMetrics again(registry);
  CHECK(&again.keys == &m.keys);
}
