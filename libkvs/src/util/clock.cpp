#include "kvs/clock.hpp"

#include <pthread.h>
#include <sys/random.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstring>

namespace kvs {
namespace {

class SystemClock final : public Clock {
 public:
  std::int64_t now_ms() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  std::chrono::steady_clock::time_point monotonic_now() const override { return std::chrono::steady_clock::now(); }
};

// Draws from the kernel's CSPRNG. A write takes a uuid, two draws: asking getrandom(2) for
// each would cost a system call per draw, so every thread keeps a small buffer of kernel
// randomness and refills it in one call. A fork bumps the generation, so that a child never
// hands out the bytes its parent's buffer still held.
std::atomic<std::uint64_t> fork_generation{0};

class SystemRandom final : public Random {
 public:
  SystemRandom() {
    static const int registered = ::pthread_atfork(nullptr, nullptr, [] { fork_generation.fetch_add(1); });
    (void)registered;
  }

  std::uint64_t next_u64() override {
    thread_local Buffer buffer;
    const std::uint64_t generation = fork_generation.load(std::memory_order_relaxed);
    if (buffer.used == buffer.bytes.size() || buffer.generation != generation) {
      fill(buffer.bytes.data(), buffer.bytes.size());
      buffer.used = 0;
      buffer.generation = generation;
    }
    std::uint64_t value = 0;
    std::memcpy(&value, buffer.bytes.data() + buffer.used, sizeof value);
    buffer.used += sizeof value;
    return value;
  }

 private:
  struct Buffer {
    std::array<unsigned char, 512> bytes{};
    std::size_t used = sizeof(bytes);  // empty until the first draw
    std::uint64_t generation = 0;
  };

  static void fill(unsigned char* bytes, std::size_t size) {
    std::size_t got = 0;
    while (got < size) {
      ssize_t n = ::getrandom(bytes + got, size - got, 0);
      if (n > 0) got += static_cast<std::size_t>(n);
    }
  }
};

}  // namespace

Clock& system_clock() {
  static SystemClock clock;
  return clock;
}

Random& system_random() {
  static SystemRandom random;
  return random;
}

std::string make_uuid_v4(Random& random) {
  std::array<unsigned char, 16> b{};
  std::uint64_t hi = random.next_u64();
  std::uint64_t lo = random.next_u64();
  std::memcpy(b.data(), &hi, 8);
  std::memcpy(b.data() + 8, &lo, 8);
  b[6] = static_cast<unsigned char>((b[6] & 0x0F) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3F) | 0x80);  // RFC 4122 variant
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kDigits[b[i] >> 4]);
    out.push_back(kDigits[b[i] & 0x0F]);
  }
  return out;
}

}  // namespace kvs
