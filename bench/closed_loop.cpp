// closed_loop: durable PUT latency as the clients see it, one blocking connection per thread,
// each timing its own requests exactly; against a kvs-server or an etcd (its v3 JSON gateway)
// that is already running on 127.0.0.1.
//
//   closed_loop --port P [--connections C] [--seconds S] [--keys N] [--etcd]
//
// Why, beside wrk: wrk 4.1 corrects its latencies for coordinated omission (etcd_compare.sh
// says how), so a server that stalls now and then shows a p99 above what any of its clients
// waited. This prints the uncorrected figures, and checks them against Little's law: with C
// connections and no think time, the mean latency is C / throughput, which a corrected mean
// need not be. Each request PUTs the same 200-byte JSON document as etcd_compare.sh to a random
// one of N keys bench/k<n> (default 100,000, as that script preloads). Loopback only.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bench_support.hpp"
#include "support/raw_connection.hpp"

namespace {


std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::uint32_t bits = 0;
  int count = 0;
  for (unsigned char c : in) {
    bits = (bits << 8) | c;
    count += 8;
    while (count >= 6) {
      count -= 6;
      out += kAlphabet[(bits >> count) & 0x3F];
    }
  }
  if (count > 0) out += kAlphabet[(bits << (6 - count)) & 0x3F];
  while (out.size() % 4 != 0) out += '=';
  return out;
}

std::string put_request(bool etcd, std::uint64_t key, const std::string& document) {
  std::string target;
  std::string body;
  if (etcd) {
    target = "/v3/kv/put";
    body = "{\"key\":\"" + base64("bench/k" + std::to_string(key)) + "\",\"value\":\"" + base64(document) + "\"}";
  } else {
    target = "/kv/bench/k" + std::to_string(key);
    body = document;
  }
  return (etcd ? "POST " : "PUT ") + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  int connections = 16;
  double seconds = 10;
  std::uint64_t keys = 100000;
  bool etcd = false;
  kvs::bench::Flags flags(argc, argv,
                          "usage: closed_loop --port P [--connections C] [--seconds S] [--keys N] [--etcd]");
  while (flags.next()) {
    if (flags.is("--port")) port = static_cast<int>(flags.integer());
    else if (flags.is("--connections")) connections = static_cast<int>(flags.integer());
    else if (flags.is("--seconds")) seconds = flags.number();
    else if (flags.is("--keys")) keys = static_cast<std::uint64_t>(flags.integer());
    else if (flags.is("--etcd")) etcd = true;
    else flags.unknown();
  }
  if (port <= 0 || port > 65535 || connections < 1 || seconds <= 0 || keys < 1) flags.unknown();
  const std::string document = "{\"name\":\"" + std::string(179, 'x') + "\",\"n\":12345}";

  // One connection per client, made before the clock starts.
  std::vector<std::unique_ptr<kvs::test::RawConnection>> links;
  std::vector<kvs::bench::FastRandom> randoms;
  try {
    for (int c = 0; c < connections; ++c) {
      links.push_back(std::make_unique<kvs::test::RawConnection>("127.0.0.1", static_cast<std::uint16_t>(port)));
      randoms.push_back(kvs::bench::FastRandom{0x9E3779B97F4A7C15ULL * static_cast<std::uint64_t>(c + 1)});
    }
  } catch (const std::exception& error) {
    std::fprintf(stderr, "closed_loop: %s\n", error.what());
    return 1;
  }
  const kvs::bench::Figures figures =
      kvs::bench::measure(connections, seconds, /*latencies=*/true, [&](int c, std::uint64_t) {
        const auto index = static_cast<std::size_t>(c);
        const std::string request = put_request(etcd, randoms[index].next() % keys, document);
        return links[index]->request(request, std::chrono::seconds(30)).rfind("HTTP/1.1 200", 0) == 0;
      });
  if (figures.failures > 0 || figures.ops == 0) {
    std::fprintf(stderr, "closed_loop: %llu requests answered 200, %llu not\n",
                 static_cast<unsigned long long>(figures.ops), static_cast<unsigned long long>(figures.failures));
    return 1;
  }
  std::printf("closed_loop: %s PUT, c=%d, %.1f s: %.0f req/s, mean %.2f ms (Little's law: %.2f ms), "
              "p50 %.2f, p90 %.2f, p99 %.2f, p99.9 %.2f, max %.2f ms  (load %s)\n",
              etcd ? "etcd" : "kvs", connections, figures.seconds, figures.rate(), figures.mean_us / 1000,
              1000.0 * connections / figures.rate(), figures.p50_us / 1000, figures.p90_us / 1000,
              figures.p99_us / 1000, figures.p999_us / 1000, figures.max_us / 1000, kvs::bench::load_average().c_str());
  return 0;
}
