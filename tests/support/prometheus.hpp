#pragma once

// A strict reader of Prometheus text (format 0.0.4), for the tests of GET /metrics and
// Node::metrics_text(). Catch2 assertions: call it inside a TEST_CASE.

#include <map>
#include <string>

namespace kvs::test {

// The samples of `text` by their full series text (`name{labels}`). Fails the test on a line
// that is neither `# HELP name ...`, `# TYPE name ...` nor a sample (`name{labels} value` or
// `name value`), and on a sample of a family with no TYPE before it (a histogram's _bucket,
// _sum and _count belong to the family they extend).
std::map<std::string, double> parse_prometheus(const std::string& text);

}  // namespace kvs::test
