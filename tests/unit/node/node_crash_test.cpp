// Durability under kill -9: a child process writes from several threads and reports each key
// the moment its put returns; the parent kills the child mid-write, reopens the data_dir and
// checks that every acknowledged write is there with its exact document, and that nothing
// present is a partial or invented one. Several rounds run on the same data_dir.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "kvs/node.hpp"
#include "support/forked_child.hpp"
#include "support/node_fixture.hpp"

namespace kvs::test {
namespace {

using Code = Status::Code;
constexpr int kWriterThreads = 4;

// Threads the parent may have at a fork: its own, plus ThreadSanitizer's background thread
// (which the runtime stops and restarts around fork()).
#if defined(__SANITIZE_THREAD__)
constexpr std::size_t kThreadsAtFork = 2;
#else
constexpr std::size_t kThreadsAtFork = 1;
#endif

// The one document ever written under `key` with sequence `seq`: its size varies from a few
// bytes to several LMDB pages, so a torn write could not pass for a whole one.
std::string document_for(const std::string& key, std::uint64_t seq) {
  std::uint64_t h = std::hash<std::string>{}(key) ^ (seq * 0x9e3779b97f4a7c15ULL);
  std::size_t pad = (h % 7 == 0) ? 8000 + h % 20000 : h % 300;
  std::string json = "{\"key\":\"" + key + "\",\"seq\":" + std::to_string(seq) + ",\"pad\":\"";
  for (std::size_t i = 0; i < pad; ++i) json += static_cast<char>('a' + (h >> (i % 48)) % 26);
  return json + "\"}";
}

std::size_t count_threads() {
  std::size_t count = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) {
    (void)entry;
    ++count;
  }
  return count;
}

// The child: opens the node and writes until killed. Each writer thread puts new keys
// "r<round>/t<thread>/<n>" and overwrites its own hot key "r<round>/hot/t<thread>" in turn,
// and after each put returns writes one line "<key> <seq>\n" to the pipe (a line is shorter
// than PIPE_BUF, so lines from different threads never interleave). Never returns.
[[noreturn]] void run_child(const Config& config, int round, int ack_fd) {
  auto opened = Node::open(config);
  if (!opened.is_ok()) {
    std::string line = "ERROR open " + opened.status().to_string() + "\n";
    (void)!::write(ack_fd, line.data(), line.size());
    ::_exit(3);
  }
  Node& node = **opened;
  std::vector<std::thread> writers;
  for (int t = 0; t < kWriterThreads; ++t) {
    writers.emplace_back([&node, round, t, ack_fd] {
      const std::string prefix = "r" + std::to_string(round);
      const std::string hot = prefix + "/hot/t" + std::to_string(t);
      for (std::uint64_t n = 1;; ++n) {
        bool overwrite = n % 2 == 0;
        std::string key = overwrite ? hot : prefix + "/t" + std::to_string(t) + "/" + std::to_string(n);
        auto put = node.put(key, document_for(key, n));
        std::string line = put.is_ok() ? key + " " + std::to_string(n) + "\n"
                                       : "ERROR put " + key + " " + put.status().to_string() + "\n";
        if (::write(ack_fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) ::_exit(4);
        if (!put.is_ok()) ::_exit(5);
      }
    });
  }
  for (auto& writer : writers) writer.join();
  ::_exit(6);
}

struct Acks {
  std::map<std::string, std::uint64_t> fresh;    // key -> seq of a new key
  std::map<std::string, std::uint64_t> hot;      // hot key -> highest acknowledged seq
  std::vector<std::string> errors;
  std::size_t count = 0;
};

void parse_lines(std::string& buffer, Acks& acks) {
  std::size_t newline;
  while ((newline = buffer.find('\n')) != std::string::npos) {
    std::string line = buffer.substr(0, newline);
    buffer.erase(0, newline + 1);
    if (line.rfind("ERROR", 0) == 0) {
      acks.errors.push_back(line);
      continue;
    }
    std::size_t space = line.rfind(' ');
    std::string key = line.substr(0, space);
    std::uint64_t seq = std::stoull(line.substr(space + 1));
    ++acks.count;
    if (key.find("/hot/") != std::string::npos) {
      acks.hot[key] = std::max(acks.hot[key], seq);
    } else {
      acks.fresh[key] = seq;
    }
  }
}

}  // namespace

TEST_CASE("a process killed mid-write loses no acknowledged write and leaves no partial one", "[node][crash]") {
  TempDir dir;
  Config config = node_test_config(dir / "data");
  Acks all;
  std::mt19937 rng(std::random_device{}());
  constexpr int kRounds = 4;

  for (int round = 0; round < kRounds; ++round) {
    INFO("round " << round);
    // fork() copies only the calling thread: the parent must have no other thread, or the
    // child could inherit a lock held by one that no longer exists.
    REQUIRE(count_threads() <= kThreadsAtFork);
    auto [child, read_fd] = fork_child([&](int write_fd) { run_child(config, round, write_fd); });

    // Read acknowledgements for a while, then kill the child in the middle of its writes. The
    // time before the kill counts from the first acknowledgement, not from the fork: opening a
    // store killed in the previous round replays its log and syncs data.mdb, which on a busy
    // disk can take longer than that time itself.
    Acks acks;
    std::string buffer;
    const auto run_for = std::chrono::milliseconds(300 + std::uniform_int_distribution<int>(0, 500)(rng));
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    std::optional<std::chrono::steady_clock::time_point> deadline;
    bool child_ended = false;
    for (;;) {
      const auto now = std::chrono::steady_clock::now();
      if (deadline ? now >= *deadline : now >= give_up) break;
      if (!deadline && acks.count > 0) deadline = now + run_for;
      pollfd pfd{read_fd, POLLIN, 0};
      if (::poll(&pfd, 1, 20) > 0) {
        char chunk[4096];
        ssize_t got = ::read(read_fd, chunk, sizeof chunk);
        if (got <= 0) {
          child_ended = true;
          break;
        }
        buffer.append(chunk, static_cast<std::size_t>(got));
        parse_lines(buffer, acks);
      }
    }
    ::kill(child, SIGKILL);
    // Lines already in the pipe were acknowledged before the kill: they count too.
    for (;;) {
      char chunk[4096];
      ssize_t got = ::read(read_fd, chunk, sizeof chunk);
      if (got <= 0) break;
      buffer.append(chunk, static_cast<std::size_t>(got));
    }
    parse_lines(buffer, acks);
    ::close(read_fd);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    INFO("child errors: " << (acks.errors.empty() ? std::string("none") : acks.errors.front()));
    CHECK(acks.errors.empty());
    CHECK_FALSE(child_ended);
    REQUIRE(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGKILL);
    CHECK(acks.count > 0);

    for (const auto& [key, seq] : acks.fresh) all.fresh[key] = seq;
    for (const auto& [key, seq] : acks.hot) all.hot[key] = seq;
    all.count += acks.count;

    // Reopen and check: every acknowledged write is there, exactly.
    {
      auto opened = Node::open(config);
      REQUIRE(opened.is_ok());
      Node& node = **opened;
      std::size_t missing = 0;
      std::size_t wrong = 0;
      for (const auto& [key, seq] : all.fresh) {
        auto got = node.get(key);
        if (!got.is_ok()) {
          ++missing;
          UNSCOPED_INFO("acknowledged key missing: " << key << " (" << got.status().to_string() << ")");
        } else if (got->data != document_for(key, seq)) {
          ++wrong;
          UNSCOPED_INFO("acknowledged key has the wrong document: " << key);
        }
      }
      // A hot key holds its last acknowledged write, or the one write in flight after it.
      for (const auto& [key, seq] : all.hot) {
        auto got = node.get(key);
        if (!got.is_ok()) {
          ++missing;
          UNSCOPED_INFO("acknowledged hot key missing: " << key);
        } else if (got->data != document_for(key, seq) && got->data != document_for(key, seq + 2)) {
          ++wrong;
          UNSCOPED_INFO("hot key " << key << " holds neither seq " << seq << " nor " << seq + 2);
        }
      }
      CHECK(missing == 0);
      CHECK(wrong == 0);

      // Everything present is a whole document that some writer wrote.
      std::size_t present = 0;
      std::size_t invented = 0;
      Status scanned = node.export_versions([&](const Version& version) {
        if (version.path.rfind("after/", 0) == 0) return true;  // the parent's own checks below
        ++present;
        std::size_t at = version.data.find("\"seq\":");
        std::uint64_t seq = at == std::string::npos ? 0 : std::strtoull(version.data.c_str() + at + 6, nullptr, 10);
        if (version.deleted || version.data != document_for(version.path, seq) ||
            !validate_json(version.data).is_ok()) {
          ++invented;
        }
        return true;
      });
      REQUIRE(scanned.is_ok());
      CHECK(invented == 0);
      CHECK(present >= all.fresh.size() + all.hot.size());
      // Unacknowledged writes may or may not have landed, but no more than one per thread per round.
      CHECK(present <= all.fresh.size() + all.hot.size() + static_cast<std::size_t>(kWriterThreads * (round + 1)));

      // The reopened node takes new writes.
      REQUIRE(node.put("after/r" + std::to_string(round), "{}").is_ok());
      REQUIRE(node.remove("after/r" + std::to_string(round)).is_ok());
    }
  }
  CHECK(all.count >= kRounds);
  SUCCEED(all.count << " acknowledged writes over " << kRounds << " kills, " << all.fresh.size() << " keys checked");
}

}  // namespace kvs::test
