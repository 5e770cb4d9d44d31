// CRC-32C, reflected. Where the CPU has SSE4.2 (checked once, at first use), its crc32
// instruction takes 8 bytes a step; elsewhere a table takes one byte a step. The redo log
// checks every record it writes, about 1.5 KB per client write: with the table alone that was
// 5% of a busy server's instructions under PUT load.

#include "util/crc32c.hpp"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace kvs::util {
namespace {

constexpr std::uint32_t kPolynomial = 0x82F63B78;  // 0x1EDC6F41 bit-reversed

constexpr std::array<std::uint32_t, 256> make_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1U) != 0 ? kPolynomial : 0U);
    table[i] = crc;
  }
  return table;
}

constexpr std::array<std::uint32_t, 256> kTable = make_table();

#if defined(__x86_64__)
// The raw (not inverted) CRC of `bytes` from `crc`, with the SSE4.2 instruction.
__attribute__((target("sse4.2"))) std::uint32_t crc32c_sse42(std::string_view bytes, std::uint32_t crc) noexcept {
  const char* p = bytes.data();
  std::size_t n = bytes.size();
  std::uint64_t wide = crc;
  for (; n >= 8; p += 8, n -= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, sizeof word);
    wide = _mm_crc32_u64(wide, word);
  }
  crc = static_cast<std::uint32_t>(wide);
  for (; n > 0; ++p, --n) crc = _mm_crc32_u8(crc, static_cast<unsigned char>(*p));
  return crc;
}

bool has_sse42() noexcept {
  // __builtin_cpu_init first: a CRC asked for from another library's static constructor may
  // come before the one that fills in what __builtin_cpu_supports reads.
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2") != 0;
  }();
  return has;
}
#endif

}  // namespace

std::uint32_t crc32c_portable(std::string_view bytes, std::uint32_t crc) noexcept {
  crc = ~crc;
  for (char c : bytes) crc = kTable[(crc ^ static_cast<unsigned char>(c)) & 0xFFU] ^ (crc >> 8);
  return ~crc;
}

std::uint32_t crc32c(std::string_view bytes, std::uint32_t crc) noexcept {
#if defined(__x86_64__)
  if (has_sse42()) return ~crc32c_sse42(bytes, ~crc);
#endif
  return crc32c_portable(bytes, crc);
}

}  // namespace kvs::util
