#pragma once

// Hex text of bytes: what kvs shows of digests and secrets, and how sync bodies carry bytes
// that are not text. Encoding writes lower case; decoding is strict: it takes exactly two hex
// digits per byte (either case) and refuses anything else whole, never skipping a character.
// Pure functions; safe from any thread.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace kvs::util {

// Lower-case hex of `bytes`: two characters a byte.
std::string to_hex(std::string_view bytes);
std::string to_hex(std::span<const std::uint8_t> bytes);

// The bytes that `hex` spells; nullopt when its length is odd or a character is not a hex
// digit.
std::optional<std::string> from_hex(std::string_view hex);

// Decodes `hex` into `out`, which it fills exactly. False (with `out` unspecified) unless
// hex.size() == 2 * out.size() and every character is a hex digit.
bool from_hex(std::string_view hex, std::span<std::uint8_t> out) noexcept;

}  // namespace kvs::util
