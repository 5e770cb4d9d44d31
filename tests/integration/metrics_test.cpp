// GET /metrics as an operator's Prometheus reads it, against a real kvs-server: every line is
// valid exposition text (HELP and TYPE before each family's samples, histogram buckets that
// never decrease and end in +Inf == _count), and the operator metrics exist and move: build
// info, the process gauges, sub-millisecond latency buckets, the disk's latencies and the
// connection layer's refusals. Not covered: the registry's own rendering rules (tests/unit/features).

#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "support/http_client.hpp"
#include "support/raw_connection.hpp"
#include "support/server_process.hpp"

using kvs::test::HttpClient;
using kvs::test::raw_status;
using kvs::test::RawConnection;
using kvs::test::ServerConfig;
using kvs::test::ServerProcess;

namespace {

struct Exposition {
  std::map<std::string, double> samples;         // by series text: name{labels}
  std::map<std::string, std::string> types;      // family -> counter, gauge, histogram
};

// Parses Prometheus text format 0.0.4 strictly; fails the test on the first bad line. Checks
// that each family has HELP then TYPE before its samples, that a histogram's buckets ascend by
// `le`, never decrease, and end with +Inf equal to _count.
Exposition parse_exposition(const std::string& text) {
  static const std::regex sample_re(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*)\})? (-?[0-9.eE+-]+|\+Inf|-Inf|NaN))");
  static const std::regex help_re(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .*)");
  static const std::regex type_re(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped))");
  static const std::regex le_re(R"(,?le="([^"]*)\")");
  Exposition out;
  std::set<std::string> helped;
  // Histogram state: the series (labels without le) -> last bucket bound and count.
  std::map<std::string, std::pair<double, double>> last_bucket;
  REQUIRE_FALSE(text.empty());
  REQUIRE(text.back() == '\n');
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    INFO(line);
    std::smatch match;
    if (std::regex_match(line, match, help_re)) {
      CHECK(helped.insert(match[1]).second);  // one HELP per family
      continue;
    }
    if (std::regex_match(line, match, type_re)) {
      CHECK(helped.count(match[1]) == 1);
      CHECK(out.types.emplace(match[1], match[2]).second);
      continue;
    }
    REQUIRE(std::regex_match(line, match, sample_re));
    std::string name = match[1];
    std::string labels = match[3];
    double value = match[4] == "+Inf" ? HUGE_VAL : std::stod(match[4]);
    out.samples[name + (match[2].matched ? std::string(match[2]) : "")] = value;
    std::string family = name;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      std::string s = suffix;
      if (family.size() > s.size() && family.compare(family.size() - s.size(), s.size(), s) == 0 &&
          out.types.count(family.substr(0, family.size() - s.size())) == 1 &&
          out.types[family.substr(0, family.size() - s.size())] == "histogram") {
        family = family.substr(0, family.size() - s.size());
      }
    }
    REQUIRE(out.types.count(family) == 1);  // TYPE came before the samples
    if (out.types[family] == "counter") CHECK(value >= 0);
    if (name == family + "_bucket") {
      std::smatch le;
      REQUIRE(std::regex_search(labels, le, le_re));
      double bound = le[1] == "+Inf" ? HUGE_VAL : std::stod(le[1]);
      std::string series = family + "{" + std::regex_replace(labels, le_re, "") + "}";
      auto found = last_bucket.find(series);
      if (found != last_bucket.end()) {
        CHECK(bound > found->second.first);    // bounds ascend
        CHECK(value >= found->second.second);  // cumulative counts never decrease
      }
      last_bucket[series] = {bound, value};
    } else if (name == family + "_count") {
      std::string series = family + "{" + labels + "}";
      REQUIRE(last_bucket.count(series) == 1);
      CHECK(last_bucket[series].first == HUGE_VAL);  // the last bucket is +Inf...
      CHECK(last_bucket[series].second == value);    // ...and holds every observation
    }
  }
  return out;
}

Exposition scrape(HttpClient& client) {
  auto response = client.get("/metrics");
  REQUIRE(response.status == 200);
  return parse_exposition(response.body);
}

double sample(const Exposition& e, const std::string& series) {
  auto found = e.samples.find(series);
  if (found == e.samples.end()) FAIL("no sample " << series);
  return found->second;
}

}  // namespace

TEST_CASE("/metrics is valid exposition text with build info, process metrics and sub-millisecond buckets that move",
          "[integration][ops][metrics]") {
  ServerProcess server;
  REQUIRE(server.start());
  HttpClient client(server.base_url());
  const Exposition before = scrape(client);

  CHECK(before.types.at("kvs_build_info") == "gauge");
  bool build_info = false;
  for (const auto& [series, value] : before.samples) {
    if (series.rfind("kvs_build_info{version=\"0.", 0) == 0 && series.find(",commit=\"") != std::string::npos) {
      build_info = value == 1;
    }
  }
  CHECK(build_info);
  CHECK(before.types.at("process_cpu_seconds_total") == "counter");
  CHECK(sample(before, "process_resident_memory_bytes") > 1e6);
  CHECK(sample(before, "process_open_fds") >= 3);
  const double start_time = sample(before, "process_start_time_seconds");
  const double now = static_cast<double>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  CHECK(start_time > now - 600);  // the server started during this test
  CHECK(start_time <= now + 1);

  for (int i = 0; i < 200; ++i) REQUIRE(client.put("/kv/m/" + std::to_string(i), "{\"i\":1}").status == 200);
  for (int i = 0; i < 200; ++i) REQUIRE(client.get("/kv/m/" + std::to_string(i)).status == 200);
  // Connections held open take descriptors.
  std::vector<std::unique_ptr<RawConnection>> held;
  // 32 of them, checked for at least 24 more descriptors: a connection the server closes on its
  // own meanwhile (a probe's, an idle one's) must not make the check flaky.
  for (int i = 0; i < 32; ++i) held.push_back(std::make_unique<RawConnection>("127.0.0.3", server.port()));
  Exposition after = scrape(client);
  for (int i = 0; i < 100 && sample(after, "process_open_fds") < sample(before, "process_open_fds") + 24; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the accept loop takes them in its own time
    after = scrape(client);
  }
  CHECK(sample(after, "process_open_fds") >= sample(before, "process_open_fds") + 24);
  CHECK(sample(after, "process_cpu_seconds_total") >= sample(before, "process_cpu_seconds_total"));
  CHECK(sample(after, "process_start_time_seconds") == start_time);

  // 200 GETs: counted in the first buckets' range, and the 100 µs bucket exists.
  const std::string get = R"(kvs_http_request_duration_seconds_bucket{route="kv",method="GET",le=")";
  CHECK(after.samples.count(get + "0.0001\"}") == 1);
  CHECK(after.samples.count(get + "0.00025\"}") == 1);
  CHECK(sample(after, get + "+Inf\"}") == 200);
  CHECK(sample(after, R"(kvs_http_request_duration_seconds_count{route="kv",method="GET"})") == 200);

  // The disk as the store waited for it: each of the 200 PUTs returned after a log sync of its
  // own (one client, one request at a time), and opening the store synced data.mdb for its
  // first checkpoint. Commits of the held transaction come every 50 ms while writes come in.
  CHECK(after.types.at("kvs_disk_wal_fsync_duration_seconds") == "histogram");
  CHECK(sample(after, "kvs_disk_wal_fsync_duration_seconds_count") >= 200);
  CHECK(sample(after, "kvs_disk_wal_fsync_duration_seconds_sum") > 0);
  CHECK(sample(after, R"(kvs_disk_wal_fsync_duration_seconds_bucket{le="0.0001"})") >= 0);
  CHECK(sample(after, "kvs_disk_checkpoint_sync_duration_seconds_count") >= 1);
  CHECK(after.types.at("kvs_disk_backend_commit_duration_seconds") == "histogram");
  CHECK(sample(after, "kvs_disk_backend_commit_duration_seconds_count") >= 1);
}

TEST_CASE("the connection layer's refusals are counted by reason in kvs_connections_refused_total",
          "[integration][ops][metrics]") {
  ServerConfig config;
  config.extra_yaml = "max_connections_per_client: 2\nheader_timeout: 1s\nmax_header_bytes: 2048\n"
                      "max_json_size: 1024\n";
  ServerProcess server(config);
  REQUIRE(server.start());
  HttpClient client(server.base_url());

  // Each refusal from an address of its own: with max_connections_per_client at 2, a refused
  // connection the server is still closing must not make the next one over the cap.
  auto refusal_from = [&](const char* source, const std::string& bytes) {
    RawConnection connection(source, server.port());
    return raw_status(connection.request(bytes));
  };
  // 431: a head over max_header_bytes.
  std::string big = "GET /health HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(4096, 'a') + "\r\n\r\n";
  CHECK(refusal_from("127.0.0.6", big) == 431);
  // 413: a body over max_json_size + 1024, refused from its Content-Length.
  CHECK(refusal_from("127.0.0.7", "PUT /kv/a HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n") == 413);
  // 400 on the framing: two different Content-Length headers.
  CHECK(refusal_from("127.0.0.8", "PUT /kv/a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n") ==
        400);
  // A head that never ends: closed at header_timeout.
  {
    RawConnection slow("127.0.0.4", server.port());
    REQUIRE(slow.send("GET /health HTTP/1.1\r\nHost: x\r\n"));
    CHECK(slow.closed_within(std::chrono::seconds(10)));
  }
  // A third connection from one address over max_connections_per_client (2): closed at once.
  {
    RawConnection first("127.0.0.5", server.port());
    RawConnection second("127.0.0.5", server.port());
    REQUIRE(first.request("GET /health HTTP/1.1\r\nHost: x\r\n\r\n").find("200") != std::string::npos);
    REQUIRE(second.request("GET /health HTTP/1.1\r\nHost: x\r\n\r\n").find("200") != std::string::npos);
    RawConnection third("127.0.0.5", server.port());
    CHECK(third.closed_within(std::chrono::seconds(5)));
  }

  const std::string refused = "kvs_connections_refused_total{reason=\"";
  Exposition e = scrape(client);
  CHECK(e.types.at("kvs_connections_refused_total") == "counter");
  CHECK(sample(e, refused + "headers_too_large\"}") == 1);
  CHECK(sample(e, refused + "body_too_large\"}") == 1);
  CHECK(sample(e, refused + "malformed\"}") == 1);
  CHECK(sample(e, refused + "header_timeout\"}") == 1);
  CHECK(sample(e, refused + "connection_cap\"}") == 1);
}
