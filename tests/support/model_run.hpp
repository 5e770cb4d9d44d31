#pragma once

// What the randomized model tests share (tests/unit/node/node_model_test.cpp and
// node_watch_model_test.cpp): the seed and the length of a run, read from the environment so
// that a failure replays (KVS_SEED=<n>, KVS_MODEL_OPS=<n>); the seeded choices each operation
// is drawn with; the pool of keys the operations touch; and the tally a run prints at its end.
// Header-only and Catch2-free. A ModelDice is for one thread.

#include <cstdint>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace kvs::test {

// KVS_SEED when set, else a fresh random seed (which the test must print, to replay it).
inline std::uint64_t model_seed_from_env() {
  if (const char* text = std::getenv("KVS_SEED"); text != nullptr && *text != '\0') return std::strtoull(text, nullptr, 10);
  return std::random_device{}();
}

// KVS_MODEL_OPS when set, else `fallback`.
inline int model_ops_from_env(int fallback) {
  if (const char* text = std::getenv("KVS_MODEL_OPS"); text != nullptr && *text != '\0') return std::atoi(text);
  return fallback;
}

// The random choices of one run: the same seed makes the same choices in the same order.
class ModelDice {
 public:
  explicit ModelDice(std::uint64_t seed) : rng_(seed) {}

  // Uniform in [0, n). Requires: n > 0.
  std::uint64_t pick(std::uint64_t n) { return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(rng_); }
  // True with probability `p`.
  bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }

 private:
  std::mt19937_64 rng_;
};

// Keys with shared prefixes, so that ranges, prefixes and watches cut between neighbours, and
// one with a two-byte UTF-8 character.
inline std::vector<std::string> model_key_pool() {
  std::vector<std::string> pool;
  for (const char* first : {"a", "a0", "ab", "b", "users"}) {
    for (const char* rest : {"", "/1", "/2", "/x/y", "/x/y/z"}) pool.push_back(std::string(first) + rest);
  }
  pool.push_back("z");
  pool.push_back("users/\xc3\xa9");
  return pool;
}

// What a run did, by kind (a model test that only ever refused would prove little), as
// " kind=count ..." for the closing message.
inline std::string model_summary(const std::map<std::string, int>& counts) {
  std::string summary;
  for (const auto& [what, count] : counts) summary += " " + what + "=" + std::to_string(count);
  return summary;
}

}  // namespace kvs::test
