// The README's curl examples work as written: each `curl` line between the rest-examples
// markers runs against a fresh node (auth off) and its output must match the "# " line
// under it, where "…" stands for any text.

#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "support/server_process.hpp"

using kvs::test::ServerProcess;
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
