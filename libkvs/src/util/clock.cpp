#include "kvs/clock.hpp"

#include <sys/random.h>

#include <array>
#include <chrono>
#include <cstdio>
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

// Draws from the kernel's CSPRNG; getrandom(2) is thread-safe and never blocks once the pool
// is initialised.
class SystemRandom final : public Random {
 public:
  std::uint64_t next_u64() override {
    std::uint64_t value = 0;
    auto* bytes = reinterpret_cast<unsigned char*>(&value);
    std::size_t got = 0;
    while (got < sizeof value) {
      ssize_t n = ::getrandom(bytes + got, sizeof value - got, 0);
      if (n > 0) got += static_cast<std::size_t>(n);
    }
    return value;
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
  char out[37];
  std::snprintf(out, sizeof out,
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
                b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  return std::string(out, 36);
}

}  // namespace kvs
