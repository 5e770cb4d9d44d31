// util::host_name: the default node_id.

#include <unistd.h>

#include <string>

#include <catch2/catch.hpp>

#include "util/host_name.hpp"

TEST_CASE("host_name is the machine's host name, never empty", "[util][host_name]") {
  char buffer[256] = {};
  const bool known = ::gethostname(buffer, sizeof buffer - 1) == 0 && buffer[0] != '\0';
  const std::string name = kvs::util::host_name();
  CHECK(name == (known ? std::string(buffer) : std::string("kvs-node")));
  CHECK_FALSE(name.empty());
}
