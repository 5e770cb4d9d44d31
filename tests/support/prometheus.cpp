#include "support/prometheus.hpp"

#include <regex>
#include <set>
#include <sstream>

#include <catch2/catch.hpp>

namespace kvs::test {

std::map<std::string, double> parse_prometheus(const std::string& text) {
  static const std::regex sample(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"]*")*\})?) (\S+))");
  static const std::regex comment(R"(# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) .*)");
  std::map<std::string, double> samples;
  std::set<std::string> typed;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    INFO(line);
    if (line.empty()) continue;
    std::smatch match;
    if (line[0] == '#') {
      REQUIRE(std::regex_match(line, match, comment));
      if (match[1] == "TYPE") typed.insert(match[2]);
      continue;
    }
    REQUIRE(std::regex_match(line, match, sample));
    std::string series = match[1];
    std::string name = series.substr(0, series.find('{'));
    bool known = typed.count(name) > 0;
    for (const std::string suffix : {"_bucket", "_sum", "_count"}) {
      if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
        known = known || typed.count(name.substr(0, name.size() - suffix.size())) > 0;
      }
    }
    CHECK(known);
    samples[series] = std::stod(match[4]);
  }
  return samples;
}

}  // namespace kvs::test
