#pragma once

// A child process that reports to its parent through a pipe, for the tests that kill a writer
// mid-write or open a store from a second process. Catch2 assertions: call it inside a
// TEST_CASE, from a parent with no other thread (fork() copies only the calling thread).

#include <sys/types.h>
#include <unistd.h>

#include <catch2/catch.hpp>

namespace kvs::test {

struct ForkedChild {
  pid_t pid = -1;
  int read_fd = -1;  // the parent's end of the pipe; the parent closes it
};

// Forks; the child runs `child(write_fd)` and exits with status 0 if it returns (it may _exit
// with a status of its own first). The parent gets the child's pid and the pipe's read end.
template <class Child>
ForkedChild fork_child(Child&& child) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    child(fds[1]);
    ::_exit(0);  // never back into the test runner
  }
  ::close(fds[1]);
  return ForkedChild{pid, fds[0]};
}

}  // namespace kvs::test
