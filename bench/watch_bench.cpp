// watch_bench: what the change feed costs and delivers (SPEC "Watch: GET /kv/_watch", issue 15).
// Starts one kvs-server on loopback (auth, rate limiting, clustering, backups and audit off;
// max_watches and max_connections raised for thousands of streams) and runs, each for S seconds:
//
//   baseline   a writer load (8 keep-alive connections doing PUTs under w/) and no watcher
//   active W   the same load while W ndjson streams watch prefix w/, so every write is an event
//              for each of them: write throughput as a ratio to the baseline, and the put
//              events delivered per second in total (ideally W x writes/s)
//   idle W     the same load while W streams watch prefix idle/, which no write touches: the
//              write throughput as a ratio to the mean of two baselines run just before and
//              just after it (goal: cost under 10%), and to the first baseline; and the
//              server's CPU per second with those W streams open and nothing written, and
//              with none (what open streams cost by themselves)
//
// In every phase another client (from 127.0.0.1) sends GET /health every 20 ms, and its latency
// is reported, so that one sees whether open streams keep other clients from being served.
//
// The streams come from 127.0.0.2, 127.0.0.3, ... (at most 200 per address, under the server's
// per-address cap) and are all read by ONE epoll thread with raw sockets: it decodes the chunked
// body and counts '\n'-terminated lines holding "type":"put". A stream counts as open once its
// 200 head has arrived; a few priming PUTs under the watched prefix make the server send it.
// Each line also prints the 1-minute load average: on a shared machine compare ratios within
// one run only. Exits 1 when a stream failed to open (after printing how many did).
//
//   watch_bench [--server PATH] [--seconds S] [--watchers 1,100,1000] [--idle-only]
//
// S defaults to 5; --idle-only skips the active phases.
//
// PATH defaults to ../kvs-server/kvs-server next to this program (the build tree's layout).
// The idle phase uses the largest W of the list.

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench_support.hpp"
#include "support/http_client.hpp"
#include "support/raw_connection.hpp"
#include "support/server_process.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using kvs::test::HttpClient;
using kvs::test::RawConnection;
using kvs::test::ServerConfig;
using kvs::test::ServerProcess;
using namespace std::chrono_literals;

constexpr int kWriters = 8;
constexpr int kPerAddress = 200;           // streams per loopback source address
constexpr int kKeysPerWriter = 100;
constexpr auto kOpenTimeout = 10s;         // for all streams of a phase to get their 200 head

// One watch stream's reading state; owned by the reader thread once it runs.
struct Stream {
  std::unique_ptr<RawConnection> connection;
  enum class State { kHead, kChunkSize, kChunkData, kChunkEnd, kRaw, kDone } state = State::kHead;
  bool opened = false;     // a 200 head arrived
  bool failed = false;     // another status, or closed before its head
  std::string head;        // until the head is whole
  std::string size_line;   // the chunk-size line being read
  std::size_t chunk_left = 0;
  std::string line;        // the event line being read (values=false keeps lines short)
  std::uint64_t events = 0;

  // Takes one piece of the body's payload (de-chunked): counts whole put lines.
  void payload(const char* data, std::size_t size) {
    for (std::size_t i = 0; i < size; ++i) {
      if (data[i] != '\n') {
        line.push_back(data[i]);
        continue;
      }
      if (line.find("\"type\":\"put\"") != std::string::npos) ++events;
      line.clear();
    }
  }

  // Takes bytes as they arrive from the socket.
  void take(const char* data, std::size_t size) {
    std::size_t at = 0;
    while (at < size) {
      switch (state) {
        case State::kHead: {
          head.push_back(data[at++]);
          if (head.size() >= 4 && head.compare(head.size() - 4, 4, "\r\n\r\n") == 0) {
            if (kvs::test::raw_status(head) != 200) {
              failed = true;
              state = State::kDone;
              return;
            }
            opened = true;
            state = head.find("chunked") != std::string::npos ? State::kChunkSize : State::kRaw;
          }
          break;
        }
        case State::kChunkSize: {
          char c = data[at++];
          if (c != '\n') {
            size_line.push_back(c);
            break;
          }
          chunk_left = std::strtoul(size_line.c_str(), nullptr, 16);
          size_line.clear();
          state = chunk_left == 0 ? State::kDone : State::kChunkData;
          break;
        }
        case State::kChunkData: {
          std::size_t n = std::min(chunk_left, size - at);
          payload(data + at, n);
          at += n;
          chunk_left -= n;
          if (chunk_left == 0) state = State::kChunkEnd;
          break;
        }
        case State::kChunkEnd:  // the CRLF after a chunk's data
          if (data[at++] == '\n') state = State::kChunkSize;
          break;
        case State::kRaw:
          payload(data + at, size - at);
          at = size;
          break;
        case State::kDone:
          return;
      }
    }
  }
};

// W watch streams on one prefix, read by one epoll thread from construction to destruction.
class Watchers {
 public:
  Watchers(std::uint16_t port, int count, const std::string& prefix) {
    epoll_ = ::epoll_create1(0);
    const std::string request = "GET /kv/_watch?prefix=" + prefix +
                                " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/x-ndjson\r\n\r\n";
    for (int i = 0; i < count; ++i) {
      auto stream = std::make_unique<Stream>();
      std::string source = "127.0.0." + std::to_string(2 + i / kPerAddress);
      try {
        stream->connection = std::make_unique<RawConnection>(source, port);
      } catch (const std::exception&) {
        ++connect_failures_;
        continue;
      }
      int fd = stream->connection->fd();
      if (!stream->connection->send(request)) {
        ++connect_failures_;
        continue;
      }
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
      epoll_event event{};
      event.events = EPOLLIN;
      event.data.ptr = stream.get();
      ::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &event);
      streams_.push_back(std::move(stream));
    }
    reader_ = std::thread([this] { read_loop(); });
  }

  ~Watchers() {
    stop_ = true;
    reader_.join();
    streams_.clear();  // closes the sockets
    ::close(epoll_);
  }
  Watchers(const Watchers&) = delete;
  Watchers& operator=(const Watchers&) = delete;

  int opened() const { return opened_.load(); }
  int failed() const { return failed_.load() + connect_failures_; }
  std::uint64_t events() const { return events_.load(); }

 private:
  void read_loop() {
    std::vector<epoll_event> ready(256);
    std::vector<char> buffer(64 * 1024);
    while (!stop_.load(std::memory_order_relaxed)) {
      int n = ::epoll_wait(epoll_, ready.data(), static_cast<int>(ready.size()), 50);
      for (int i = 0; i < n; ++i) {
        auto* stream = static_cast<Stream*>(ready[static_cast<std::size_t>(i)].data.ptr);
        const std::uint64_t before = stream->events;
        const bool was_open = stream->opened;
        for (;;) {
          ssize_t got = ::read(stream->connection->fd(), buffer.data(), buffer.size());
          if (got > 0) {
            stream->take(buffer.data(), static_cast<std::size_t>(got));
            continue;
          }
          if (got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            if (!stream->opened) stream->failed = true;
            stream->state = Stream::State::kDone;
          }
          if (got < 0 && errno == EINTR) continue;
          break;
        }
        if (stream->state == Stream::State::kDone) {
          ::epoll_ctl(epoll_, EPOLL_CTL_DEL, stream->connection->fd(), nullptr);
          if (stream->failed) ++failed_;
          else ++ended_;
        }
        if (stream->opened && !was_open) ++opened_;
        events_ += stream->events - before;
      }
    }
  }

  int epoll_ = -1;
  std::vector<std::unique_ptr<Stream>> streams_;  // the reader's alone while it runs
  int connect_failures_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> opened_{0};
  std::atomic<int> failed_{0};
  std::atomic<int> ended_{0};
  std::atomic<std::uint64_t> events_{0};
  std::thread reader_;
};

struct Result {
  double writes_per_s = 0;
  std::uint64_t write_failures = 0;
  double events_per_s = 0;
  double health_p50_ms = 0;
  double health_p99_ms = 0;
  double health_max_ms = 0;
  int health_ok = 0;
  int health_bad = 0;
  std::string load;
  // The server's CPU time (all its threads) per 1,000 writes: unlike writes/s, it hardly moves
  // with what else the machine runs.
  double server_cpu_ms_per_1k_writes = 0;
};

// The CPU time `pid` has used so far (user and system, all threads), in seconds; 0 if unknown.
double cpu_seconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the command name, which is in parentheses and may hold spaces.
  auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// Runs the writer load for `seconds` (and the /health prober beside it); events are counted
// from `watchers` when given.
Result run_load(const ServerProcess& server, double seconds, const Watchers* watchers) {
  std::vector<std::unique_ptr<HttpClient>> clients;
  for (int t = 0; t < kWriters; ++t) {
    clients.push_back(std::make_unique<HttpClient>(server.base_url()));
    clients.back()->set_timeout(10s);
  }
  const std::string body = "{\"n\":1,\"pad\":\"" + std::string(64, 'p') + "\"}";
  std::atomic<bool> stop{false};
  std::vector<double> health_ms;
  int health_bad = 0;
  std::thread prober([&] {
    HttpClient client(server.base_url());
    client.set_timeout(10s);
    while (!stop.load()) {
      auto started = Clock::now();
      auto response = client.get("/health");
      double ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
      if (response.status == 200) health_ms.push_back(ms);
      else ++health_bad;
      std::this_thread::sleep_for(20ms);
    }
  });
  const std::uint64_t events_before = watchers ? watchers->events() : 0;
  const double cpu_before = cpu_seconds(server.pid());
  auto figures = kvs::bench::measure(kWriters, seconds, false, [&](int t, std::uint64_t n) {
    std::string path = "/kv/w/t" + std::to_string(t) + "/k" + std::to_string(n % kKeysPerWriter);
    return clients[static_cast<std::size_t>(t)]->put(path, body).status == 200;
  });
  const std::uint64_t events_after = watchers ? watchers->events() : 0;
  const double cpu_used = cpu_seconds(server.pid()) - cpu_before;
  stop = true;
  prober.join();
  Result result;
  result.writes_per_s = figures.rate();
  result.write_failures = figures.failures;
  result.events_per_s = static_cast<double>(events_after - events_before) / figures.seconds;
  result.health_ok = static_cast<int>(health_ms.size());
  result.health_bad = health_bad;
  result.health_p50_ms = kvs::bench::percentile(health_ms, 0.5);
  result.health_p99_ms = kvs::bench::percentile(health_ms, 0.99);
  result.health_max_ms = health_ms.empty() ? 0 : *std::max_element(health_ms.begin(), health_ms.end());
  result.load = kvs::bench::load_average();
  const double writes = figures.rate() * figures.seconds;
  result.server_cpu_ms_per_1k_writes = writes > 0 ? cpu_used * 1e6 / writes : 0;
  return result;
}

// Opens `count` streams on `prefix` and waits for their heads, PUTting `prime` (a key under the
// prefix) every 200 ms meanwhile: a stream's head may wait for its first event.
std::unique_ptr<Watchers> open_watchers(const ServerProcess& server, int count, const std::string& prefix,
                                        const std::string& prime) {
  auto watchers = std::make_unique<Watchers>(server.port(), count, prefix);
  HttpClient client(server.base_url());
  client.set_timeout(5s);
  auto deadline = Clock::now() + kOpenTimeout;
  while (watchers->opened() + watchers->failed() < count && Clock::now() < deadline) {
    client.put(prime, "{\"prime\":true}");
    std::this_thread::sleep_for(200ms);
  }
  return watchers;
}

std::vector<int> parse_list(const std::string& text) {
  std::vector<int> values;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    if (!item.empty()) values.push_back(std::atoi(item.c_str()));
  }
  return values;
}

// The server's CPU time per second while no client sends anything, over `span`: what open
// streams cost by themselves (their wake-ups).
double quiet_cpu_ms_per_s(const ServerProcess& server, std::chrono::milliseconds span) {
  const double before = cpu_seconds(server.pid());
  std::this_thread::sleep_for(span);
  return (cpu_seconds(server.pid()) - before) * 1e3 / std::chrono::duration<double>(span).count();
}

// Waits (up to 60 s) until the server's kvs_watches_open gauge reads 0: closed streams are
// released when their threads notice, which under load takes a while.
void wait_for_no_watches(const ServerProcess& server) {
  HttpClient client(server.base_url());
  client.set_timeout(5s);
  const std::string gauge = "\nkvs_watches_open ";
  const auto deadline = Clock::now() + 60s;
  while (Clock::now() < deadline) {
    auto response = client.get("/metrics");
    auto at = response.body.find(gauge);
    if (response.status == 200 && at != std::string::npos &&
        std::strtod(response.body.c_str() + at + gauge.size(), nullptr) == 0) {
      return;
    }
    std::this_thread::sleep_for(200ms);
  }
  std::fprintf(stderr, "watch_bench: streams still open after 60 s\n");
}

void print_health(const Result& r) {
  std::printf(" cpu_ms_per_1k_writes=%.0f health_p50_ms=%.2f health_p99_ms=%.2f health_max_ms=%.1f health_ok=%d "
              "health_failed=%d load=%s\n",
              r.server_cpu_ms_per_1k_writes, r.health_p50_ms, r.health_p99_ms, r.health_max_ms, r.health_ok,
              r.health_bad, r.load.c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  std::string server_path = kvs::bench::default_server_binary(argv[0]);
  double seconds = 5;
  std::vector<int> counts{1, 100, 1000};
  bool idle_only = false;
  kvs::bench::Flags flags(argc, argv,
                          "usage: watch_bench [--server PATH] [--seconds S] [--watchers 1,100,1000] [--idle-only]");
  while (flags.next()) {
    if (flags.is("--server")) server_path = flags.value();
    else if (flags.is("--seconds")) seconds = flags.number();
    else if (flags.is("--watchers")) counts = parse_list(flags.value());
    else if (flags.is("--idle-only")) idle_only = true;
    else flags.unknown();
  }
  if (counts.empty() || seconds <= 0) flags.unknown();
  const int most = *std::max_element(counts.begin(), counts.end());

  // A thousand sockets on this side too: the soft limit is often 1024.
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
  }

  ServerConfig config;
  config.binary = kvs::bench::server_binary_or_exit(server_path, "watch_bench");
  config.log_level = "warn";
  // Twice the streams: a phase's closed streams may still be counted while the next one opens.
  const int headroom = 2 * most + 256;
  config.extra_yaml = "backup_enabled: false\ntamper_logging_enabled: false\n"
                      "max_watches: " + std::to_string(headroom) + "\nmax_connections: " +
                      std::to_string(2 * headroom) + "\nmax_connections_per_client: " +
                      std::to_string(2 * kPerAddress + 64) + "\n";
  ServerProcess server(config);
  if (!server.start()) {
    std::fprintf(stderr, "watch_bench: kvs-server did not start:\n%s\n", server.stderr_text().c_str());
    return 1;
  }
  std::printf("watch_bench: %d writers x %.1f s per phase, server pid %d\n", kWriters, seconds, server.pid());

  Result baseline = run_load(server, seconds, nullptr);
  std::printf("baseline watchers=0    writes/s=%.0f failed=%llu", baseline.writes_per_s,
              static_cast<unsigned long long>(baseline.write_failures));
  print_health(baseline);

  bool all_opened = true;
  auto ratio = [&](const Result& r) { return baseline.writes_per_s > 0 ? r.writes_per_s / baseline.writes_per_s : 0; };
  for (int count : counts) {
    if (idle_only) break;
    auto watchers = open_watchers(server, count, "w/", "/kv/w/prime");
    int opened = watchers->opened();
    Result r = run_load(server, seconds, watchers.get());
    double ideal = r.writes_per_s * opened;
    std::printf("active   watchers=%-5d opened=%d/%d writes/s=%.0f ratio=%.3f failed=%llu events/s=%.0f "
                "(%.3f of writes x watchers)",
                count, opened, count, r.writes_per_s, ratio(r), static_cast<unsigned long long>(r.write_failures),
                r.events_per_s, ideal > 0 ? r.events_per_s / ideal : 0);
    print_health(r);
    all_opened = all_opened && opened == count;
    watchers.reset();
    wait_for_no_watches(server);  // for the server to see the closed streams go
  }

  {
    // The idle phase is measured against baselines run just before and just after it, so that
    // a shared machine's load, which drifts over a run, weighs on both sides of the ratio alike.
    // The active phases' streams must be gone first: a thousand of them take a while to end.
    wait_for_no_watches(server);
    Result before = run_load(server, seconds, nullptr);
    std::printf("baseline watchers=0    writes/s=%.0f failed=%llu (before idle)", before.writes_per_s,
                static_cast<unsigned long long>(before.write_failures));
    print_health(before);
    const double quiet_none = quiet_cpu_ms_per_s(server, 4s);
    auto watchers = open_watchers(server, most, "idle/", "/kv/idle/prime");
    int opened = watchers->opened();
    std::this_thread::sleep_for(1s);  // past the priming writes
    const double quiet_idle = quiet_cpu_ms_per_s(server, 4s);
    Result r = run_load(server, seconds, watchers.get());
    watchers.reset();
    wait_for_no_watches(server);
    Result after = run_load(server, seconds, nullptr);
    const double around = (before.writes_per_s + after.writes_per_s) / 2;
    const double idle_ratio = around > 0 ? r.writes_per_s / around : 0;
    std::printf("idle     watchers=%-5d opened=%d/%d writes/s=%.0f ratio=%.3f (to the baselines around it; "
                "goal >= 0.90: %s) ratio_to_first=%.3f failed=%llu events/s=%.0f",
                most, opened, most, r.writes_per_s, idle_ratio, idle_ratio >= 0.9 ? "met" : "NOT met", ratio(r),
                static_cast<unsigned long long>(r.write_failures), r.events_per_s);
    print_health(r);
    std::printf("quiet    server_cpu_ms_per_s=%.0f with %d idle streams, %.0f with none (no writes, 4 s each)\n",
                quiet_idle, opened, quiet_none);
    std::printf("baseline watchers=0    writes/s=%.0f failed=%llu (after idle)", after.writes_per_s,
                static_cast<unsigned long long>(after.write_failures));
    print_health(after);
    all_opened = all_opened && opened == most;
  }

  if (!all_opened) {
    std::fprintf(stderr, "watch_bench: some watch streams did not open (see opened= above)\n");
    return 1;
  }
  return 0;
}
