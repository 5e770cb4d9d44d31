#pragma once

// What every harness uses to state a property: a failed KVS_FUZZ_CHECK prints the condition
// and aborts, which libFuzzer reports as a crash and saves the input.

#include <cstdio>
#include <cstdlib>

#define KVS_FUZZ_CHECK(condition)                                                              \
  do {                                                                                         \
    if (!(condition)) {                                                                        \
      std::fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #condition);   \
      std::abort();                                                                            \
    }                                                                                          \
  } while (false)
