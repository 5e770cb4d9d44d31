// The README's examples work as written:
// - each `curl` line between the rest-examples markers runs against a fresh node (auth off) and
//   its output must match the "# " line under it, where "…" stands for any text;
// - the three-node walkthrough between the cluster-walkthrough markers runs, every command of
//   its ```sh blocks in order, in an empty directory, with the built kvs-server first on PATH and
//   free ports in place of 8081..8083. Its `curl` lines are matched like the ones above, but
//   retried for a while (bounded), since a cluster forms and replicates in the background; a
//   line ending in `&` starts a server, which the test stops at the end.
// What this does not cover: the README's prose, and examples outside the markers.

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "support/server_process.hpp"
#include "support/temp_dir.hpp"

using kvs::test::ServerProcess;
using kvs::test::TempDir;
using kvs::test::free_port;
using kvs::test::run_shell;

namespace {

struct Example {
  std::string command;
  std::string expected;  // empty: only the exit status is checked
};

std::vector<Example> readme_examples() {
  std::ifstream in(std::string(KVS_SOURCE_DIR) + "/README.md");
  std::vector<Example> examples;
  bool inside = false;
  for (std::string line; std::getline(in, line);) {
    if (line.find("<!-- rest-examples:begin") != std::string::npos) inside = true;
    if (line.find("<!-- rest-examples:end") != std::string::npos) inside = false;
    if (!inside) continue;
    if (line.rfind("curl ", 0) == 0) {
      examples.push_back({line, ""});
    } else if (line.rfind("# ", 0) == 0 && !examples.empty() && examples.back().expected.empty()) {
      examples.back().expected = line.substr(2);
    }
  }
  return examples;
}

// "…" matches anything; everything else literally.
std::regex pattern_of(const std::string& expected) {
  static const std::string kEllipsis = "\xE2\x80\xA6";
  std::string pattern;
  for (std::size_t i = 0; i < expected.size();) {
    if (expected.compare(i, kEllipsis.size(), kEllipsis) == 0) {
      pattern += ".*";
      i += kEllipsis.size();
      continue;
    }
    char c = expected[i++];
    if (std::string("\\^$.|?*+()[]{}").find(c) != std::string::npos) pattern.push_back('\\');
    pattern.push_back(c);
  }
  return std::regex(pattern);
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

}  // namespace

TEST_CASE("the README's curl examples work as written", "[integration]") {
  auto examples = readme_examples();
  REQUIRE(examples.size() >= 15);
  ServerProcess server;
  REQUIRE(server.start());
  for (const auto& example : examples) {
    std::string command = replace_all(example.command, "127.0.0.1:8080", "127.0.0.1:" + std::to_string(server.port()));
    INFO(command);
    auto result = run_shell(command);
    CHECK(result.exit_code == 0);
    std::string output = result.out;
    while (!output.empty() && (output.back() == '\n' || output.back() == '\r')) output.pop_back();
    INFO("output: " << output);
    INFO("expected: " << example.expected);
    REQUIRE_FALSE(example.expected.empty());
    CHECK(std::regex_match(output, pattern_of(example.expected)));
  }
  CHECK(server.stop() == 0);
}

namespace {

// One step of the walkthrough: shell lines run as they are, or a curl line with the output it
// must print.
struct Step {
  std::string script;
  std::string expected;  // for a curl line; empty for plain shell lines
  bool curl = false;
};

std::vector<Step> walkthrough_steps() {
  std::ifstream in(std::string(KVS_SOURCE_DIR) + "/README.md");
  std::vector<Step> steps;
  bool inside = false;
  bool in_block = false;
  for (std::string line; std::getline(in, line);) {
    if (line.find("<!-- cluster-walkthrough:begin") != std::string::npos) inside = true;
    if (line.find("<!-- cluster-walkthrough:end") != std::string::npos) inside = false;
    if (!inside) continue;
    if (line.rfind("```", 0) == 0) {
      in_block = line.rfind("```sh", 0) == 0;
      continue;
    }
    if (!in_block) continue;
    if (line.rfind("curl ", 0) == 0) {
      steps.push_back({line, "", true});
    } else if (line.rfind("# ", 0) == 0 && !steps.empty() && steps.back().curl && steps.back().expected.empty()) {
      steps.back().expected = line.substr(2);
    } else {
      if (steps.empty() || steps.back().curl) steps.push_back({"", "", false});
      steps.back().script += line + "\n";
    }
  }
  return steps;
}

// Stops, at the end of the test whatever happens, the servers the walkthrough started in the
// background (their pids are in `pid_file`): SIGTERM, a bounded wait, then SIGKILL.
struct BackgroundServers {
  std::filesystem::path pid_file;
  ~BackgroundServers() {
    std::ifstream in(pid_file);
    std::vector<pid_t> pids;
    for (long pid = 0; in >> pid;) pids.push_back(static_cast<pid_t>(pid));
    for (pid_t pid : pids) ::kill(pid, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (pid_t pid : pids) {
      while (::kill(pid, 0) == 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      if (::kill(pid, 0) == 0) ::kill(pid, SIGKILL);
    }
  }
};

}  // namespace

TEST_CASE("the README's three-node cluster walkthrough works as written", "[integration][cluster]") {
  auto steps = walkthrough_steps();
  REQUIRE(steps.size() >= 6);
  TempDir dir("kvs-walkthrough");
  BackgroundServers servers{dir / ".pids"};
  const std::string binary_dir = std::filesystem::path(KVS_SERVER_BINARY).parent_path().string();
  const std::vector<std::pair<std::string, std::string>> ports{
      {"8081", std::to_string(free_port())}, {"8082", std::to_string(free_port())}, {"8083", std::to_string(free_port())}};
  std::size_t started = 0;
  std::size_t curls = 0;
  for (const auto& step : steps) {
    std::string script = step.script;
    for (const auto& [from, to] : ports) script = replace_all(script, from, to);
    if (!step.curl) {
      // A server started in the background: its pid is kept for the clean-up, its output dropped.
      std::string rewritten;
      std::istringstream lines(script);
      for (std::string line; std::getline(lines, line);) {
        if (line.size() > 2 && line.ends_with(" &")) {
          line = line.substr(0, line.size() - 2) + " >/dev/null </dev/null & echo $! >>.pids";
          ++started;
        }
        rewritten += line + "\n";
      }
      script = rewritten;
    }
    std::string command = "cd '" + dir.str() + "' && PATH='" + binary_dir + "':\"$PATH\" && export PATH\n" + script;
    INFO(script);
    if (!step.curl) {
      auto result = run_shell(command);
      INFO("stderr: " << result.err);
      REQUIRE(result.exit_code == 0);
      continue;
    }
    ++curls;
    REQUIRE_FALSE(step.expected.empty());
    // The cluster forms and replicates in the background: poll until the output matches.
    std::string output;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    bool matched = false;
    while (!matched && std::chrono::steady_clock::now() < deadline) {
      output = run_shell(command).out;
      while (!output.empty() && (output.back() == '\n' || output.back() == '\r')) output.pop_back();
      matched = std::regex_match(output, pattern_of(step.expected));
      if (!matched) std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    INFO("output: " << output);
    INFO("expected: " << step.expected);
    if (!matched) {
      for (const char* log : {"node1.log", "node2.log", "node3.log"}) {
        std::ifstream in(dir / log);
        std::stringstream text;
        text << in.rdbuf();
        UNSCOPED_INFO(log << ":\n" << text.str());
      }
    }
    REQUIRE(matched);
  }
  CHECK(started == 3);
  CHECK(curls >= 4);
}
