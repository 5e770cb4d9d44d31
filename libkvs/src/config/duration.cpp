// Go-style durations ("500ms", "1h30m", "0"): the syntax of Go's time.ParseDuration, minus
// negative values, with a resolution of one millisecond.

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "kvs/config.hpp"

namespace kvs {
namespace {

struct Unit {
  std::string_view name;
  std::int64_t ns;
};

// Longest names first, so that "ms" is not read as "m" followed by "s".
constexpr Unit kUnits[] = {
    {"ns", 1},
    {"us", 1'000},
    {"\xC2\xB5s", 1'000},  // U+00B5 micro sign, as Go accepts
    {"\xCE\xBCs", 1'000},  // U+03BC Greek mu
    {"ms", 1'000'000},
    {"s", 1'000'000'000},
    {"m", 60'000'000'000},
    {"h", 3'600'000'000'000},
};

Status bad(std::string_view text, std::string_view why) {
  return Status::invalid_argument("duration '" + std::string(text) + "' " + std::string(why) +
                                  " (expected e.g. 500ms, 10s, 5m, 1h30m or 0)");
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

Result<std::chrono::milliseconds> parse_duration(std::string_view text) {
  std::string_view rest = text;
  if (rest.empty()) return bad(text, "is empty");
  if (rest.front() == '-') return bad(text, "is negative");
  if (rest.front() == '+') rest.remove_prefix(1);
  if (rest == "0") return std::chrono::milliseconds(0);
  if (rest.empty()) return bad(text, "has no number");

  // Accumulates in nanoseconds like Go, so overflow happens where Go's would (~292 years).
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  std::int64_t total_ns = 0;
  while (!rest.empty()) {
    // The whole part.
    std::int64_t whole = 0;
    std::size_t digits = 0;
    bool overflow = false;
    while (!rest.empty() && is_digit(rest.front())) {
      if (whole > (kMax - (rest.front() - '0')) / 10) overflow = true;
      if (!overflow) whole = whole * 10 + (rest.front() - '0');
      rest.remove_prefix(1);
      ++digits;
    }
    // An optional fraction: kept as numerator/denominator, at most 18 digits.
    std::int64_t fraction = 0;
    std::int64_t scale = 1;
    std::size_t fraction_digits = 0;
    if (!rest.empty() && rest.front() == '.') {
      rest.remove_prefix(1);
      while (!rest.empty() && is_digit(rest.front())) {
        if (scale < 1'000'000'000'000'000'000) {
          fraction = fraction * 10 + (rest.front() - '0');
          scale *= 10;
        }
        rest.remove_prefix(1);
        ++fraction_digits;
      }
    }
    if (digits == 0 && fraction_digits == 0) return bad(text, "is not a duration");
    if (overflow) return bad(text, "overflows");

    const Unit* unit = nullptr;
    for (const auto& candidate : kUnits) {
      if (rest.substr(0, candidate.name.size()) == candidate.name) {
        unit = &candidate;
        break;
      }
    }
    if (unit == nullptr) {
      if (rest.empty()) return bad(text, "is missing a unit");
      std::size_t end = 0;
      while (end < rest.size() && !is_digit(rest[end]) && rest[end] != '.') ++end;
      return bad(text, "has an unknown unit '" + std::string(rest.substr(0, end)) +
                           "' (units are ns, us, ms, s, m and h; there is no d: write 168h for 7 days)");
    }
    rest.remove_prefix(unit->name.size());

    if (whole > kMax / unit->ns) return bad(text, "overflows");
    std::int64_t part = whole * unit->ns;
    // fraction/scale of a unit, in ns; the unit is at most 3.6e12 ns, so split to avoid overflow.
    if (fraction > 0) {
      long double extra = static_cast<long double>(fraction) * static_cast<long double>(unit->ns) /
                          static_cast<long double>(scale);
      if (extra > static_cast<long double>(kMax - part)) return bad(text, "overflows");
      part += static_cast<std::int64_t>(extra);
    }
    if (part > kMax - total_ns) return bad(text, "overflows");
    total_ns += part;
  }
  if (total_ns % 1'000'000 != 0) return bad(text, "is finer than the 1ms resolution");
  return std::chrono::milliseconds(total_ns / 1'000'000);
}

}  // namespace kvs
