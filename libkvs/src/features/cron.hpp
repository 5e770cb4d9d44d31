#pragma once

// CronSchedule: a parsed 5-field cron expression (minute hour day-of-month month day-of-week),
// evaluated in UTC, and the time it next fires. It is a small immutable value type: parse once
// (at config load, so a bad `backup_schedule` is rejected naming the key), copy freely, and call
// `next_after` from any thread.
//
// Syntax, per field: `*`; a number; a range `a-b`; a step `*/n`, `a-b/n` or `a/n` (= a-max/n);
// and comma lists of those (`1,15,30-40/5`). Months take JAN-DEC and days of week SUN-SAT
// (case-insensitive) wherever a number may stand. Day of week is 0-7, and both 0 and 7 mean
// Sunday. The macros @yearly (@annually), @monthly, @weekly, @daily (@midnight) and @hourly
// are accepted; @reboot is not (there is nothing to reboot).
//
// Day matching follows Vixie cron: when both day-of-month and day-of-week are restricted (their
// text does not begin with `*`), a day matches when EITHER matches ("0 0 1,15 * MON" fires on
// the 1st, the 15th and every Monday); when one begins with `*`, only the other one counts.
//
// An expression that parses may still never fire ("0 0 30 2 *"): `next_after` bounds its search
// to kSearchYears and returns nullopt then, instead of looping forever.

#include <bitset>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "kvs/status.hpp"

namespace kvs::features {

class CronSchedule {
 public:
  // Far enough to cover every calendar pattern: the Gregorian calendar repeats (leap years and
  // weekdays together) every 400 years, and Feb 29 fires at least once in any 8 years.
  static constexpr int kSearchYears = 401;

  // Parses `expression`. kInvalidArgument naming the field and the reason on failure, e.g.
  // `cron "0 24 * * *": hour: 24 is out of range 0-23`.
  static Result<CronSchedule> parse(std::string_view expression);

  // The first fire time strictly after `after_s` (seconds since the Unix epoch, UTC); always a
  // whole minute. nullopt when the expression never fires within kSearchYears.
  std::optional<std::int64_t> next_after(std::int64_t after_s) const;
  std::optional<std::chrono::system_clock::time_point> next_after(
      std::chrono::system_clock::time_point after) const;

  // True when the minute containing `at_s` is a fire time.
  bool matches(std::int64_t at_s) const;

  // The expression as given (trimmed).
  const std::string& expression() const noexcept { return expression_; }

 private:
  CronSchedule() = default;
  bool day_matches(int day_of_month, int month, int weekday) const;

  std::string expression_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_of_month_;  // bits 1..31
  std::bitset<13> months_;         // bits 1..12
  std::bitset<7> days_of_week_;    // 0 = Sunday
  bool day_of_month_star_ = true;
  bool day_of_week_star_ = true;
};

}  // namespace kvs::features
