// kvs::system_random and make_uuid_v4: the uuid every version carries. Draws come from a
// per-thread buffer of kernel randomness, so these check what that must not break: the v4
// layout, no repeats, and no repeats across a fork either.

#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "kvs/clock.hpp"

namespace kvs::test {

TEST_CASE("make_uuid_v4 writes a version-4 RFC 4122 uuid, never the same twice", "[util][random]") {
  const std::regex layout("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  std::set<std::string> seen;
  for (int i = 0; i < 20000; ++i) {
    std::string uuid = make_uuid_v4(system_random());
    if (i < 200) CHECK(std::regex_match(uuid, layout));
    seen.insert(std::move(uuid));
  }
  CHECK(seen.size() == 20000);
}

TEST_CASE("threads draw different values from system_random", "[util][random]") {
  std::vector<std::vector<std::uint64_t>> drawn(4);
  std::vector<std::thread> threads;
  for (auto& mine : drawn) {
    threads.emplace_back([&mine] {
      for (int i = 0; i < 1000; ++i) mine.push_back(system_random().next_u64());
    });
  }
  for (auto& thread : threads) thread.join();
  std::set<std::uint64_t> all;
  for (const auto& mine : drawn) all.insert(mine.begin(), mine.end());
  CHECK(all.size() == 4000);
}

TEST_CASE("a forked child does not draw what its parent draws next", "[util][random]") {
  (void)system_random().next_u64();  // the parent's buffer now holds unused bytes
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    std::uint64_t value = system_random().next_u64();
    ssize_t written = ::write(fds[1], &value, sizeof value);
    ::_exit(written == sizeof value ? 0 : 1);
  }
  ::close(fds[1]);
  std::uint64_t from_child = 0;
  ssize_t got = ::read(fds[0], &from_child, sizeof from_child);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  REQUIRE(got == sizeof from_child);
  REQUIRE(WIFEXITED(status));
  CHECK(system_random().next_u64() != from_child);
}

}  // namespace kvs::test
