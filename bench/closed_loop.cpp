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

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench_support.hpp"
#include "support/raw_connection.hpp"

namespace {

using kvs::bench::Clock;

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

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> failures{0};
  std::vector<std::vector<float>> samples(static_cast<std::size_t>(connections));
  std::vector<std::thread> clients;
  const auto started = Clock::now();
  for (int c = 0; c < connections; ++c) {
    clients.emplace_back([&, c] {
      try {
        kvs::test::RawConnection connection("127.0.0.1", static_cast<std::uint16_t>(port));
        kvs::bench::FastRandom random{0x9E3779B97F4A7C15ULL * static_cast<std::uint64_t>(c + 1)};
        auto& mine = samples[static_cast<std::size_t>(c)];
        while (!stop.load(std::memory_order_relaxed)) {
          const std::string request = put_request(etcd, random.next() % keys, document);
          const auto before = Clock::now();
          const std::string response = connection.request(request, std::chrono::seconds(30));
          const auto after = Clock::now();
          if (response.rfind("HTTP/1.1 200", 0) != 0) {
            ++failures;
            return;  // the connection's state is unknown: stop this client
          }
          mine.push_back(std::chrono::duration<float, std::micro>(after - before).count());
        }
      } catch (const std::exception& error) {
        std::fprintf(stderr, "closed_loop: %s\n", error.what());
        ++failures;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& client : clients) client.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - started).count();

  std::vector<float> all;
  for (const auto& s : samples) all.insert(all.end(), s.begin(), s.end());
  if (all.empty() || failures > 0) {
    std::fprintf(stderr, "closed_loop: %zu requests answered 200, %llu clients failed\n", all.size(),
                 static_cast<unsigned long long>(failures.load()));
    return 1;
  }
  std::sort(all.begin(), all.end());
  double sum = 0;
  for (float v : all) sum += v;
  const auto at = [&](double p) {
    return all[std::min(all.size() - 1, static_cast<std::size_t>(p * static_cast<double>(all.size())))] / 1000.0;
  };
  const double rate = static_cast<double>(all.size()) / elapsed;
  std::printf("closed_loop: %s PUT, c=%d, %.1f s: %.0f req/s, mean %.2f ms (Little's law: %.2f ms), "
              "p50 %.2f, p90 %.2f, p99 %.2f, p99.9 %.2f, max %.2f ms  (load %s)\n",
              etcd ? "etcd" : "kvs", connections, elapsed, rate, sum / static_cast<double>(all.size()) / 1000.0,
              1000.0 * connections / rate, at(0.5), at(0.9), at(0.99), at(0.999),
              static_cast<double>(all.back()) / 1000.0, kvs::bench::load_average().c_str());
  return 0;
}
