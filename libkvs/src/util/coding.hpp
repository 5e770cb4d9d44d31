#pragma once

// Fixed-width integer coding for the byte layouts kvs stores and hashes: big-endian where byte
// order must be sort order (LMDB keys, the audit chain, backup files), little-endian where a
// format says so (the record codec, Merkle length prefixes). `put_*` appends to a std::string;
// `get_*` reads from the front of a std::string_view that the caller has checked is long
// enough; `ByteReader` reads a whole layout front to back and checks every length itself.
// Header-only and pure: safe from any thread.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace kvs::util {

namespace coding_detail {

template <class U>
void put_be(std::string& out, U value) {
  for (std::size_t i = sizeof(U); i-- > 0;) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}

// Little-endian: on a little-endian host one copy, not a byte at a time (GCC does not merge the
// loop; the record codec runs these on every get and put).
template <class U>
void put_le(std::string& out, U value) {
  if constexpr (std::endian::native == std::endian::little) {
    char bytes[sizeof(U)];
    std::memcpy(bytes, &value, sizeof(U));
    out.append(bytes, sizeof(U));
  } else {
    for (std::size_t i = 0; i < sizeof(U); ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
  }
}

template <class U>
U get_be(std::string_view bytes) noexcept {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < sizeof(U); ++i) value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  return static_cast<U>(value);
}

template <class U>
U get_le(std::string_view bytes) noexcept {
  if constexpr (std::endian::native == std::endian::little) {
    U value;
    std::memcpy(&value, bytes.data(), sizeof(U));
    return value;
  } else {
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < sizeof(U); ++i) value |= std::uint64_t{static_cast<unsigned char>(bytes[i])} << (8 * i);
    return static_cast<U>(value);
  }
}

}  // namespace coding_detail

// Big-endian: the most significant byte first, so that byte order is numeric order.
inline void put_u16_be(std::string& out, std::uint16_t value) { coding_detail::put_be(out, value); }
inline void put_u32_be(std::string& out, std::uint32_t value) { coding_detail::put_be(out, value); }
inline void put_u64_be(std::string& out, std::uint64_t value) { coding_detail::put_be(out, value); }
// Two's complement (a negative value sorts after every positive one).
inline void put_i64_be(std::string& out, std::int64_t value) { put_u64_be(out, static_cast<std::uint64_t>(value)); }

// Requires: `bytes` holds at least the integer's width (2, 4 or 8 bytes); the rest is ignored.
inline std::uint16_t get_u16_be(std::string_view bytes) noexcept { return coding_detail::get_be<std::uint16_t>(bytes); }
inline std::uint32_t get_u32_be(std::string_view bytes) noexcept { return coding_detail::get_be<std::uint32_t>(bytes); }
inline std::uint64_t get_u64_be(std::string_view bytes) noexcept { return coding_detail::get_be<std::uint64_t>(bytes); }
inline std::int64_t get_i64_be(std::string_view bytes) noexcept { return static_cast<std::int64_t>(get_u64_be(bytes)); }

// Little-endian: the least significant byte first.
inline void put_u16_le(std::string& out, std::uint16_t value) { coding_detail::put_le(out, value); }
inline void put_u32_le(std::string& out, std::uint32_t value) { coding_detail::put_le(out, value); }
inline void put_u64_le(std::string& out, std::uint64_t value) { coding_detail::put_le(out, value); }
inline void put_i64_le(std::string& out, std::int64_t value) { put_u64_le(out, static_cast<std::uint64_t>(value)); }

// Requires: `bytes` holds at least the integer's width; the rest is ignored.
inline std::uint16_t get_u16_le(std::string_view bytes) noexcept { return coding_detail::get_le<std::uint16_t>(bytes); }
inline std::uint32_t get_u32_le(std::string_view bytes) noexcept { return coding_detail::get_le<std::uint32_t>(bytes); }
inline std::uint64_t get_u64_le(std::string_view bytes) noexcept { return coding_detail::get_le<std::uint64_t>(bytes); }
inline std::int64_t get_i64_le(std::string_view bytes) noexcept { return static_cast<std::int64_t>(get_u64_le(bytes)); }

// Reads a layout front to back. A read past the end returns 0 (or an empty view), reads
// nothing, and marks the reader failed for good, so a decoder may read every field and check
// `failed()` once at the end. Borrows `bytes`, which must outlive the reader and the views it
// returns.
class ByteReader {
 public:
  explicit ByteReader(std::string_view bytes) noexcept : bytes_(bytes) {}

  bool failed() const noexcept { return failed_; }
  bool at_end() const noexcept { return bytes_.empty(); }
  std::size_t remaining() const noexcept { return bytes_.size(); }

  std::uint8_t u8() noexcept {
    std::string_view field = take(1);
    return field.empty() ? 0 : static_cast<std::uint8_t>(field[0]);
  }
  std::uint16_t u16_be() noexcept { return get_or_zero<std::uint16_t>(&get_u16_be); }
  std::uint32_t u32_be() noexcept { return get_or_zero<std::uint32_t>(&get_u32_be); }
  std::uint64_t u64_be() noexcept { return get_or_zero<std::uint64_t>(&get_u64_be); }
  std::int64_t i64_be() noexcept { return static_cast<std::int64_t>(u64_be()); }
  std::uint16_t u16_le() noexcept { return get_or_zero<std::uint16_t>(&get_u16_le); }
  std::uint32_t u32_le() noexcept { return get_or_zero<std::uint32_t>(&get_u32_le); }
  std::uint64_t u64_le() noexcept { return get_or_zero<std::uint64_t>(&get_u64_le); }
  std::int64_t i64_le() noexcept { return static_cast<std::int64_t>(u64_le()); }

  // The next `size` bytes.
  std::string_view bytes(std::size_t size) noexcept { return take(size); }

 private:
  std::string_view take(std::size_t size) noexcept {
    if (failed_ || bytes_.size() < size) {
      failed_ = true;
      return {};
    }
    std::string_view field = bytes_.substr(0, size);
    bytes_.remove_prefix(size);
    return field;
  }

  template <class U>
  U get_or_zero(U (*get)(std::string_view) noexcept) noexcept {
    std::string_view field = take(sizeof(U));
    return failed_ ? U{0} : get(field);
  }

  std::string_view bytes_;
  bool failed_ = false;
};

}  // namespace kvs::util
