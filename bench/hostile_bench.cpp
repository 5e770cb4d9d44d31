// hostile_bench: what one hostile address costs everyone else (SPEC section 2, "Limits, hostile
// clients and storage"). Starts a real kvs-server on loopback and measures a legitimate client
// (C keep-alive connections from 127.0.0.1, each alternating PUT and GET of its own small
// documents) for S seconds undisturbed, then for S seconds while one address runs each attack in
// turn, each attack from an address of its own (127.0.0.2, 127.0.0.3, ...: the server's penalty
// for one attack's address must not silence the next attack):
//
//   slow headers      max_connections_per_client connections, each sending one header line a second
//   idle keep-alive   max_connections_per_client connections, each served once and then silent
//   oversized heads   one 64 KiB-chunk header line, or 4096 small headers a chunk, up to 8 MiB
//   oversized bodies  PUTs of 300 MiB announced by Content-Length, and chunked, sent anyway
//   _range values     6 concurrent GET /kv/_range?values=true over 64 documents of 900 KB
//   bad tokens        forged bearer tokens as fast as 2 connections go (a second server with
//                     auth and rate limiting on, measured against its own undisturbed run)
//
// Each attack runs between two undisturbed runs; per attack it prints GET and PUT throughput
// as a ratio to their mean and p99 latency as a multiple of it (goal: ratio >= 0.80, p99 <
// 10x), what the attacker got back, and at the end whether every acknowledged PUT reads back.
// Each attack runs for 1 s before its S seconds are measured, so that the measured window sees
// the attack in its steady state (the server's per-address penalties included). The attacking
// threads run at nice 19, standing in for an attacker on another machine. Beside the ratios it
// prints the CPU the server and the attacking threads used in the window (percent of one core)
// and the 1-minute load average: on a machine shared with other work, compare ratios within
// one run only. The figures depend on the machine; compare them between builds. Every socket
// has a timeout and every phase a fixed length.
//
//   hostile_bench [--server PATH] [--seconds S] [--connections C]      (S defaults to 10)
//
// PATH defaults to ../kvs-server/kvs-server next to this program (the build tree's layout).

#include <pthread.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
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
using kvs::test::raw_status;
using namespace std::chrono_literals;

constexpr int kPerClientCap = 256;      // max_connections_per_client, written into the config
constexpr int kKeysPerConnection = 200;
// The first attack's address; attack i comes from 127.0.0.(2 + i).
constexpr int kFirstAttackerHost = 2;
constexpr std::size_t kMiB = std::size_t{1} << 20;

// CPU seconds `pid` has used (user and system), from /proc/<pid>/stat; 0 when unreadable.
double process_cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  std::getline(in, text);
  auto close = text.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; fields >> field; ++i) {  // field 3 is the state
    if (i == 14) utime = std::stoull(field);
    if (i == 15) {
      stime = std::stoull(field);
      break;
    }
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// The CPU seconds the calling thread has used.
double thread_cpu_seconds() {
  timespec now{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

// --- the legitimate client ---------------------------------------------------------------

struct Figures {
  double get_per_s = 0;
  double put_per_s = 0;
  double get_p99_ms = 0;
  double put_p99_ms = 0;
  long errors = 0;  // requests that failed or answered other than 200
  // Filled in by the caller: CPU used in the window, in percent of one core.
  double server_cpu_pct = 0;
  double attacker_cpu_pct = 0;
  std::string load;  // the 1-minute load average at the end of the window
};

// C connections, each the only writer of its keys; remembers the last acknowledged value of
// each key so that lost writes can be counted at the end.
class Legitimate {
 public:
  Legitimate(std::string base_url, std::vector<std::string> tokens, std::string prefix)
      : base_url_(std::move(base_url)), tokens_(std::move(tokens)), prefix_(std::move(prefix)),
        acked_(tokens_.size(), std::vector<long>(kKeysPerConnection, -1)) {}

  std::string key(std::size_t connection, int k) const {
    return "/kv/" + prefix_ + "/c" + std::to_string(connection) + "/k" + std::to_string(k);
  }

  kvs::test::Headers headers(std::size_t connection) const {
    if (tokens_[connection].empty()) return {};
    return {{"Authorization", "Bearer " + tokens_[connection]}};
  }

  // Writes every key once (they must exist before GETs are measured).
  bool populate() {
    for (std::size_t c = 0; c < tokens_.size(); ++c) {
      HttpClient client(base_url_);
      for (int k = 0; k < kKeysPerConnection; ++k) {
        if (client.put(key(c, k), document(0), headers(c)).status != 200) return false;
        acked_[c][static_cast<std::size_t>(k)] = 0;
      }
    }
    return true;
  }

  // Runs all connections for `length`; the figures of that window.
  Figures run(std::chrono::milliseconds length) {
    std::vector<std::vector<double>> gets(tokens_.size());
    std::vector<std::vector<double>> puts(tokens_.size());
    std::atomic<long> errors{0};
    std::vector<std::thread> threads;
    auto end = Clock::now() + length;
    for (std::size_t c = 0; c < tokens_.size(); ++c) {
      threads.emplace_back([&, c] {
        HttpClient client(base_url_);
        client.set_timeout(10s);
        auto auth = headers(c);
        std::uint64_t step = c * 7919;
        while (Clock::now() < end) {
          ++step;
          int k = static_cast<int>((step * 2654435761u) % kKeysPerConnection);
          auto& last = acked_[c][static_cast<std::size_t>(k)];
          auto started = Clock::now();
          bool put = step % 2 == 0;
          long value = ++counter_;
          auto response = put ? client.put(key(c, k), document(value), auth) : client.get(key(c, k), auth);
          double ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
          if (response.status != 200) {
            ++errors;
            continue;
          }
          if (put) {
            last = value;
            puts[c].push_back(ms);
          } else {
            gets[c].push_back(ms);
          }
        }
      });
    }
    for (auto& thread : threads) thread.join();
    std::vector<double> all_gets;
    std::vector<double> all_puts;
    for (auto& g : gets) all_gets.insert(all_gets.end(), g.begin(), g.end());
    for (auto& p : puts) all_puts.insert(all_puts.end(), p.begin(), p.end());
    double seconds = std::chrono::duration<double>(length).count();
    Figures figures;
    figures.get_per_s = static_cast<double>(all_gets.size()) / seconds;
    figures.put_per_s = static_cast<double>(all_puts.size()) / seconds;
    figures.get_p99_ms = kvs::bench::percentile(all_gets, 0.99);
    figures.put_p99_ms = kvs::bench::percentile(all_puts, 0.99);
    figures.errors = errors;
    return figures;
  }

  // Keys whose stored value is not the last acknowledged one (of `checked`).
  long lost(long& checked) {
    long missing = 0;
    for (std::size_t c = 0; c < tokens_.size(); ++c) {
      HttpClient client(base_url_);
      for (int k = 0; k < kKeysPerConnection; ++k) {
        long expected = acked_[c][static_cast<std::size_t>(k)];
        if (expected < 0) continue;
        ++checked;
        auto response = client.get(key(c, k), headers(c));
        auto n = kvs::test::json_int(response.body, "/data/n");
        // A PUT that failed on the client's side may still have been applied, later than the
        // last acknowledged one: a larger value is not a loss.
        if (response.status != 200 || !n || *n < expected) ++missing;
      }
    }
    return missing;
  }

 private:
  static std::string document(long n) {
    return "{\"n\":" + std::to_string(n) + ",\"pad\":\"" + std::string(80, 'p') + "\"}";
  }

  std::string base_url_;
  std::vector<std::string> tokens_;
  std::string prefix_;
  std::vector<std::vector<long>> acked_;  // [connection][key], written by that connection's thread
  std::atomic<long> counter_{0};
};

// --- the attacks ---------------------------------------------------------------------------

// A connection from the attacker's address with 2 s send and receive timeouts (so no attack
// thread blocks for long on a server that stops reading), or null when the connect failed.
std::unique_ptr<RawConnection> attacker_connection(const std::string& address, std::uint16_t port) {
  try {
    auto connection = std::make_unique<RawConnection>(address, port);
    timeval two_seconds{2, 0};
    ::setsockopt(connection->fd(), SOL_SOCKET, SO_SNDTIMEO, &two_seconds, sizeof two_seconds);
    ::setsockopt(connection->fd(), SOL_SOCKET, SO_RCVTIMEO, &two_seconds, sizeof two_seconds);
    return connection;
  } catch (const std::exception&) {
    return nullptr;
  }
}

// An attack runs on its own threads from start() until stop(); report() says what it got back.
class Attack {
 public:
  virtual ~Attack() = default;
  virtual std::string name() const = 0;
  // Starts the attack and returns once it is in full swing (or after a bounded wait).
  virtual void start(std::uint16_t port) = 0;
  // The source address of the attack's connections. Requires: called before start().
  void set_address(std::string address) { address_ = std::move(address); }
  const std::string& address() const { return address_; }
  void stop() {
    stopping_ = true;
    for (auto& thread : threads_) thread.join();
    threads_.clear();
  }
  virtual std::string report() const = 0;
  // CPU seconds the attack's threads have used so far (each adds its own as it goes).
  double cpu_seconds() const { return static_cast<double>(cpu_us_.load()) / 1e6; }

 protected:
  // Runs `body` on a new attack thread, accounting for its CPU. The thread runs at the lowest
  // priority: a real attacker's CPU is on its own machine, and here the attacking client would
  // otherwise take the shared cores from the server and the legitimate client, and that would
  // be counted as the server's weakness. (Its CPU is still printed, as atkCPU.)
  void spawn(std::function<void(const std::function<void()>& account)> body) {
    threads_.emplace_back([this, body = std::move(body)] {
      ::setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), 19);
      double counted = 0;
      auto account = [&] {
        double now = thread_cpu_seconds();
        cpu_us_ += static_cast<long>((now - counted) * 1e6);
        counted = now;
      };
      body(account);
      account();
    });
  }

  std::string address_ = "127.0.0." + std::to_string(kFirstAttackerHost);
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> threads_;
  std::atomic<long> cpu_us_{0};
};

// Holds max_connections_per_client connections; `slow` ones send a header line every second
// and never finish their head, the others are served once and then stay silent.
class HeldConnections : public Attack {
 public:
  explicit HeldConnections(bool slow) : slow_(slow) {}
  std::string name() const override { return slow_ ? "slow headers" : "idle keep-alive"; }
  void start(std::uint16_t port) override {
    spawn([this, port](const std::function<void()>& account) {
      std::vector<std::unique_ptr<RawConnection>> held(kPerClientCap);
      auto open = [&](std::unique_ptr<RawConnection>& slot) {
        slot = attacker_connection(address_, port);
        if (!slot) return;
        ++opened_;
        if (slow_) {
          if (!slot->send("GET /health HTTP/1.1\r\nHost: kvs\r\n")) slot.reset();
        } else if (raw_status(slot->request("GET /health HTTP/1.1\r\nHost: kvs\r\n\r\n", 2s)) == 200) {
          ++served_;
        } else {
          slot.reset();
        }
      };
      for (auto& slot : held) open(slot);
      ready_ = true;
      for (int tick = 0; !stopping_; ++tick) {
        std::this_thread::sleep_for(100ms);
        account();
        if (tick % 10 != 9) continue;
        for (auto& slot : held) {
          if (stopping_) break;
          // Slow: one more header line; idle: a non-blocking look whether the server closed it.
          bool open_still = slot && (slow_ ? slot->send("X-Slow: " + std::to_string(tick) + "\r\n") : !closed(*slot));
          if (!open_still) {
            if (slot) ++closed_by_server_;
            open(slot);
          }
        }
      }
    });
    auto deadline = Clock::now() + 30s;
    while (!ready_ && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
  }
  std::string report() const override {
    return std::to_string(opened_.load()) + " opened, " + (slow_ ? "" : std::to_string(served_.load()) + " served once, ") +
           std::to_string(closed_by_server_.load()) + " closed by the server";
  }

 private:
  // Whether the server has closed `connection` (a look that neither blocks nor consumes).
  static bool closed(const RawConnection& connection) {
    char byte = 0;
    ssize_t n = ::recv(connection.fd(), &byte, 1, MSG_DONTWAIT | MSG_PEEK);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
  }

  bool slow_;
  std::atomic<bool> ready_{false};
  std::atomic<long> opened_{0};
  std::atomic<long> served_{0};
  std::atomic<long> closed_by_server_{0};
};

// Sends `prefix`, then `chunk` until `total` bytes or the server stops taking them; then reads
// what it answered. The answer's status, or 0 (closed or reset without one).
int flood_once(const std::string& address, std::uint16_t port, const std::atomic<bool>& stopping, const std::string& prefix, const std::string& chunk,
               std::size_t total, std::size_t& sent) {
  auto connection = attacker_connection(address, port);
  if (!connection) return 0;
  if (!connection->send(prefix)) return 0;
  std::size_t this_time = 0;
  while (this_time < total && !stopping) {
    if (!connection->send(chunk)) break;
    this_time += chunk.size();
  }
  sent += this_time;
  return raw_status(connection->read_response(1s));
}

// Two threads, each sending one oversized request after another.
class Flood : public Attack {
 public:
  struct Kind {
    std::string prefix;
    std::string chunk;
    std::size_t total;
  };
  Flood(std::string name, std::vector<Kind> kinds) : name_(std::move(name)), kinds_(std::move(kinds)) {}
  std::string name() const override { return name_; }
  void start(std::uint16_t port) override {
    for (int t = 0; t < 2; ++t) {
      spawn([this, port, t](const std::function<void()>& account) {
        std::size_t sent = 0;
        for (std::size_t i = static_cast<std::size_t>(t); !stopping_; ++i) {
          account();
          const Kind& kind = kinds_[i % kinds_.size()];
          int status = flood_once(address_, port, stopping_, kind.prefix, kind.chunk, kind.total, sent);
          std::lock_guard lock(mutex_);
          ++answers_[status];
          ++requests_;
        }
        sent_ += sent;
      });
    }
  }
  std::string report() const override {
    std::lock_guard lock(mutex_);
    std::string text = std::to_string(requests_) + " requests, " + std::to_string(sent_ / kMiB) + " MiB sent;";
    for (const auto& [status, count] : answers_) {
      text += " " + (status == 0 ? std::string("no answer") : std::to_string(status)) + " x" + std::to_string(count);
    }
    return text;
  }

 private:
  std::string name_;
  std::vector<Kind> kinds_;
  mutable std::mutex mutex_;
  std::map<int, long> answers_;  // guarded by mutex_
  long requests_ = 0;            // guarded by mutex_
  std::atomic<std::size_t> sent_{0};
};

// `threads` connections each repeating `request` as fast as the server answers it.
class Repeat : public Attack {
 public:
  Repeat(std::string name, std::string request, int threads, std::chrono::milliseconds timeout)
      : name_(std::move(name)), request_(std::move(request)), threads_count_(threads), timeout_(timeout) {}
  std::string name() const override { return name_; }
  void start(std::uint16_t port) override {
    for (int t = 0; t < threads_count_; ++t) {
      spawn([this, port](const std::function<void()>& account) {
        std::unique_ptr<RawConnection> connection;
        while (!stopping_) {
          account();
          if (!connection) connection = attacker_connection(address_, port);
          if (!connection) {
            std::this_thread::sleep_for(10ms);
            continue;
          }
          std::string response = connection->request(request_, timeout_);
          int status = raw_status(response);
          if (status == 0 || response.find("Connection: close") != std::string::npos) connection.reset();
          std::lock_guard lock(mutex_);
          ++answers_[status];
          bytes_ += response.size();
        }
      });
    }
  }
  std::string report() const override {
    std::lock_guard lock(mutex_);
    std::string text = std::to_string(bytes_ / kMiB) + " MiB received;";
    for (const auto& [status, count] : answers_) {
      text += " " + (status == 0 ? std::string("no answer") : std::to_string(status)) + " x" + std::to_string(count);
    }
    return text;
  }

 private:
  std::string name_;
  std::string request_;
  int threads_count_;
  std::chrono::milliseconds timeout_;
  mutable std::mutex mutex_;
  std::map<int, long> answers_;  // guarded by mutex_
  std::size_t bytes_ = 0;        // guarded by mutex_
};

// --- the run ---------------------------------------------------------------------------------

void print_header() {
  std::printf("%-18s %8s %8s %9s %9s %7s %7s %7s %7s %5s %4s %6s %6s %5s  %s\n", "phase", "GET/s", "PUT/s", "GETp99ms",
              "PUTp99ms", "GET x", "PUT x", "GETp99x", "PUTp99x", "errs", "goal", "srvCPU", "atkCPU", "load",
              "attacker got");
}

// Prints one phase; true when it meets the goal (ratios >= 0.8, p99 < 10x, no errors).
bool print_phase(const std::string& name, const Figures& f, const Figures* base, const std::string& attacker) {
  if (base == nullptr) {
    std::printf("%-18s %8.0f %8.0f %9.2f %9.2f %7s %7s %7s %7s %5ld %4s %5.0f%% %6s %5s  %s\n", name.c_str(), f.get_per_s,
                f.put_per_s, f.get_p99_ms, f.put_p99_ms, "-", "-", "-", "-", f.errors, "", f.server_cpu_pct, "-",
                f.load.c_str(), attacker.c_str());
    std::fflush(stdout);
    return true;
  }
  auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };
  double get_x = ratio(f.get_per_s, base->get_per_s);
  double put_x = ratio(f.put_per_s, base->put_per_s);
  double get_p99_x = ratio(f.get_p99_ms, base->get_p99_ms);
  double put_p99_x = ratio(f.put_p99_ms, base->put_p99_ms);
  bool met = get_x >= 0.8 && put_x >= 0.8 && get_p99_x < 10 && put_p99_x < 10 && f.errors == 0;
  std::printf("%-18s %8.0f %8.0f %9.2f %9.2f %7.2f %7.2f %7.2f %7.2f %5ld %4s %5.0f%% %5.0f%% %5s  %s\n", name.c_str(),
              f.get_per_s, f.put_per_s, f.get_p99_ms, f.put_p99_ms, get_x, put_x, get_p99_x, put_p99_x, f.errors,
              met ? "yes" : "NO", f.server_cpu_pct, f.attacker_cpu_pct, f.load.c_str(), attacker.c_str());
  std::fflush(stdout);
  return met;
}

std::unique_ptr<ServerProcess> start_server(const std::string& binary, bool auth) {
  ServerConfig config;
  config.binary = binary;
  config.log_level = "warn";
  config.auth_enabled = auth;
  config.rate_limiting_enabled = auth;
  config.extra_yaml = "max_connections_per_client: " + std::to_string(kPerClientCap) +
                      "\nbackup_enabled: false\ntamper_logging_enabled: false\n";
  // The attacker's address gets 2000 requests a second; each legitimate connection is its own
  // user with its own allowance, which it stays under.
  if (auth) config.extra_yaml += "rate_limit_requests: 2000\nrate_limit_window: 1s\n";
  auto server = std::make_unique<ServerProcess>(config);
  if (!server->start()) {
    std::fprintf(stderr, "hostile_bench: kvs-server did not start:\n%s\n", server->stderr_text().c_str());
    return nullptr;
  }
  return server;
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::string text;
  std::getline(in, text);
  return text;
}

// One user and token per legitimate connection, minted with the admin token.
std::vector<std::string> mint_tokens(const ServerProcess& server, int connections) {
  std::string admin = read_text(std::filesystem::path(server.data_dir()) / "admin.token");
  HttpClient client(server.base_url());
  kvs::test::Headers auth{{"Authorization", "Bearer " + admin}};
  std::vector<std::string> tokens;
  for (int i = 0; i < connections; ++i) {
    auto user = client.request("POST", "/auth/users", "{\"nickname\":\"bench-" + std::to_string(i) + "\"}", auth);
    auto uuid = kvs::test::json_string(user.body, "/uuid");
    if (!uuid) return {};
    auto token = client.request("POST", "/auth/tokens",
                                "{\"user_uuid\":\"" + *uuid + "\",\"scopes\":[\"read\",\"write\"],\"ttl\":\"1h\"}", auth);
    auto value = kvs::test::json_string(token.body, "/token");
    if (!value) return {};
    tokens.push_back(*value);
  }
  return tokens;
}

// The undisturbed figures an attack is compared with: the mean of the runs just before and
// just after it, so that a machine whose load drifts during the run (other work on it) does
// not show up as the attack's cost.
Figures around(const Figures& before, const Figures& after) {
  Figures mean;
  mean.get_per_s = (before.get_per_s + after.get_per_s) / 2;
  mean.put_per_s = (before.put_per_s + after.put_per_s) / 2;
  mean.get_p99_ms = (before.get_p99_ms + after.get_p99_ms) / 2;
  mean.put_p99_ms = (before.put_p99_ms + after.put_p99_ms) / 2;
  return mean;
}

// Runs the legitimate client for `seconds` and fills in the server's and the attack's CPU.
Figures measure(Legitimate& legit, pid_t server, std::chrono::seconds seconds, const Attack* attack) {
  double server_before = process_cpu_seconds(server);
  double attack_before = attack != nullptr ? attack->cpu_seconds() : 0;
  Figures figures = legit.run(seconds);
  double window = std::chrono::duration<double>(seconds).count();
  figures.server_cpu_pct = 100 * (process_cpu_seconds(server) - server_before) / window;
  if (attack != nullptr) figures.attacker_cpu_pct = 100 * (attack->cpu_seconds() - attack_before) / window;
  figures.load = kvs::bench::load_average();
  return figures;
}

int run(const std::string& binary, std::chrono::seconds seconds, int connections) {
  std::printf("hostile_bench: %d legitimate keep-alive connections from 127.0.0.1 (PUT and GET alternating), "
              "%lld s per phase; attacks from %s\n",
              connections, static_cast<long long>(seconds.count()), ("127.0.0." + std::to_string(kFirstAttackerHost) + "...").c_str());
  std::printf("ratios are to the mean of the undisturbed runs just before and after; goal: throughput x >= 0.80, p99 x < 10\n\n");
  bool all_met = true;
  long lost_total = 0;
  long checked_total = 0;

  // Server 1: auth and rate limiting off.
  {
    auto server = start_server(binary, false);
    if (!server) return 1;
    const auto port = server->port();
    Legitimate legit(server->base_url(), std::vector<std::string>(static_cast<std::size_t>(connections)), "legit");
    if (!legit.populate()) return 1;
    // 64 documents of 900 KB for the _range attack (each page stops at max_range_bytes).
    HttpClient loader(server->base_url());
    std::string large = "{\"blob\":\"" + std::string(900 * 1000, 'r') + "\"}";
    for (int i = 0; i < 64; ++i) {
      if (loader.put("/kv/range/doc" + std::to_string(i), large).status != 200) return 1;
    }
    legit.run(1s);  // warm up
    print_header();
    Figures base = measure(legit, server->pid(), seconds, nullptr);
    print_phase("undisturbed", base, nullptr, "");

    std::vector<std::unique_ptr<Attack>> attacks;
    attacks.push_back(std::make_unique<HeldConnections>(true));
    attacks.push_back(std::make_unique<HeldConnections>(false));
    std::string many_headers;
    for (int i = 0; i < 4096; ++i) many_headers += "X-H: v123\r\n";
    attacks.push_back(std::make_unique<Flood>(
        "oversized heads", std::vector<Flood::Kind>{
                               {"GET /health HTTP/1.1\r\nX-Big: ", std::string(64 * 1024, 'a'), 8 * kMiB},
                               {"GET /health HTTP/1.1\r\n", many_headers, 8 * kMiB}}));
    std::string chunk = "10000\r\n" + std::string(0x10000, ' ') + "\r\n";
    attacks.push_back(std::make_unique<Flood>(
        "oversized bodies",
        std::vector<Flood::Kind>{
            {"PUT /kv/big HTTP/1.1\r\nHost: kvs\r\nContent-Length: 314572800\r\n\r\n", std::string(64 * 1024, ' '),
             300 * kMiB},
            {"PUT /kv/big HTTP/1.1\r\nHost: kvs\r\nTransfer-Encoding: chunked\r\n\r\n", chunk, 300 * kMiB}}));
    attacks.push_back(std::make_unique<Repeat>(
        "_range values", "GET /kv/_range?prefix=range/&values=true&limit=10000 HTTP/1.1\r\nHost: kvs\r\n\r\n", 6, 30s));
    int host = kFirstAttackerHost;
    for (auto& attack : attacks) {
      attack->set_address("127.0.0." + std::to_string(host++));
      attack->start(port);
      legit.run(1s);  // the attack reaches its steady state
      Figures under = measure(legit, server->pid(), seconds, attack.get());
      attack->stop();
      long rss = kvs::test::rss_anon_kib(server->pid());
      legit.run(1s);  // the server settles (the attack's connections close)
      Figures after = measure(legit, server->pid(), seconds, nullptr);
      Figures mean = around(base, after);
      all_met = print_phase(attack->name(), under, &mean, "from " + attack->address() + ": " + attack->report() + "; server RssAnon after " +
                                                              std::to_string(rss / 1024) + " MiB") && all_met;
      print_phase("undisturbed", after, nullptr, "");
      base = after;
    }
    long checked = 0;
    lost_total += legit.lost(checked);
    checked_total += checked;
    if (server->stop() != 0) std::printf("kvs-server (auth off) did not exit cleanly on SIGTERM\n");
  }

  // Server 2: auth and rate limiting on, for the bad-token flood.
  {
    auto server = start_server(binary, true);
    if (!server) return 1;
    auto tokens = mint_tokens(*server, connections);
    if (tokens.empty()) {
      std::fprintf(stderr, "hostile_bench: could not mint tokens\n");
      return 1;
    }
    Legitimate legit(server->base_url(), tokens, "authed");
    if (!legit.populate()) return 1;
    legit.run(1s);
    Figures base = measure(legit, server->pid(), seconds, nullptr);
    print_phase("undisturbed (auth)", base, nullptr, "");
    Repeat flood("bad tokens",
                 "GET /kv/x HTTP/1.1\r\nHost: kvs\r\nAuthorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.forged\r\n\r\n", 2, 2s);
    flood.start(server->port());
    legit.run(1s);
    Figures under = measure(legit, server->pid(), seconds, &flood);
    flood.stop();
    legit.run(1s);
    Figures after = measure(legit, server->pid(), seconds, nullptr);
    Figures mean = around(base, after);
    all_met = print_phase(flood.name(), under, &mean, flood.report()) && all_met;
    print_phase("undisturbed (auth)", after, nullptr, "");
    long checked = 0;
    lost_total += legit.lost(checked);
    checked_total += checked;
    if (server->stop() != 0) std::printf("kvs-server (auth on) did not exit cleanly on SIGTERM\n");
  }

  std::printf("\nacknowledged writes read back: %ld of %ld keys hold their last acknowledged value (%ld lost)\n",
              checked_total - lost_total, checked_total, lost_total);
  std::printf("goal met by every attack: %s\n", all_met ? "yes" : "no");
  return lost_total == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string server = kvs::bench::default_server_binary(argv[0]);
  int seconds = 10;
  int connections = 4;
  kvs::bench::Flags flags(argc, argv, "usage: hostile_bench [--server PATH] [--seconds S] [--connections C]");
  while (flags.next()) {
    if (flags.is("--server")) server = flags.value();
    else if (flags.is("--seconds")) seconds = std::clamp(static_cast<int>(flags.integer()), 1, 300);
    else if (flags.is("--connections")) connections = std::clamp(static_cast<int>(flags.integer()), 1, 64);
    else flags.unknown();
  }
  server = kvs::bench::server_binary_or_exit(server, "hostile_bench");
  return run(server, std::chrono::seconds(seconds), connections);
}
