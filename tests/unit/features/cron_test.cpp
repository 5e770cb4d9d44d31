#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <string>

#include "features/cron.hpp"

namespace {

using kvs::features::CronSchedule;

// Seconds since the epoch of a UTC civil time.
std::int64_t utc(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0) {
  using namespace std::chrono;
  const sys_days day{year{y} / month{mo} / std::chrono::day{d}};
  return static_cast<std::int64_t>(day.time_since_epoch().count()) * 86400 + h * 3600 + mi * 60 + s;
}

CronSchedule cron(const std::string& text) {
  auto parsed = CronSchedule::parse(text);
  INFO(parsed.status().to_string());
  REQUIRE(parsed.is_ok());
  return *parsed;
}

std::int64_t next(const std::string& text, std::int64_t after) {
  auto n = cron(text).next_after(after);
  REQUIRE(n.has_value());
  return *n;
}

}  // namespace

TEST_CASE("the default backup schedule fires at midnight UTC every day", "[cron]") {
  CHECK(next("0 0 * * *", utc(2026, 11, 26, 23, 40)) == utc(2026, 11, 27));
  CHECK(next("0 0 * * *", utc(2026, 11, 27)) == utc(2026, 11, 28));  // strictly after
  CHECK(next("0 0 * * *", utc(2026, 12, 31, 12)) == utc(2027, 1, 1));
}

TEST_CASE("next_after is strictly later and lands on a whole minute", "[cron]") {
  CHECK(next("* * * * *", utc(2026, 1, 1, 0, 0, 0)) == utc(2026, 1, 1, 0, 1));
  CHECK(next("* * * * *", utc(2026, 1, 1, 0, 0, 59)) == utc(2026, 1, 1, 0, 1));
  CHECK(next("* * * * *", utc(2026, 1, 1, 0, 0, 30)) == utc(2026, 1, 1, 0, 1));
}

TEST_CASE("lists, ranges and steps select the documented values", "[cron]") {
  CHECK(next("*/15 * * * *", utc(2026, 3, 1, 10, 1)) == utc(2026, 3, 1, 10, 15));
  CHECK(next("*/15 * * * *", utc(2026, 3, 1, 10, 45)) == utc(2026, 3, 1, 11, 0));
  CHECK(next("5,35 * * * *", utc(2026, 3, 1, 10, 5)) == utc(2026, 3, 1, 10, 35));
  CHECK(next("0 9-17/4 * * *", utc(2026, 3, 1, 9, 0)) == utc(2026, 3, 1, 13, 0));
  CHECK(next("0 9-17/4 * * *", utc(2026, 3, 1, 17, 0)) == utc(2026, 3, 2, 9, 0));
  CHECK(next("10/20 * * * *", utc(2026, 3, 1, 10, 10)) == utc(2026, 3, 1, 10, 30));
  CHECK(next("10/20 * * * *", utc(2026, 3, 1, 10, 50)) == utc(2026, 3, 1, 11, 10));
  CHECK(next("0 0 1-3,20 * *", utc(2026, 3, 3, 1)) == utc(2026, 3, 20));
}

TEST_CASE("month and weekday names are accepted in any case", "[cron]") {
  // 2026-03-02 is a Monday.
  CHECK(next("30 8 * * MON-fri", utc(2026, 2, 28, 12)) == utc(2026, 3, 2, 8, 30));
  CHECK(next("0 0 1 jul *", utc(2026, 3, 1)) == utc(2026, 7, 1));
  CHECK(next("0 0 * * Sat,SUN", utc(2026, 3, 2)) == utc(2026, 3, 7));
}

TEST_CASE("day of week 7 is Sunday like 0", "[cron]") {
  // 2026-03-01 is a Sunday.
  CHECK(next("0 12 * * 7", utc(2026, 2, 27)) == utc(2026, 3, 1, 12));
  CHECK(next("0 12 * * 0", utc(2026, 2, 27)) == utc(2026, 3, 1, 12));
  CHECK(next("0 12 * * 5-7", utc(2026, 2, 28, 13)) == utc(2026, 3, 1, 12));
}

TEST_CASE("both day fields restricted fire when either matches", "[cron]") {
  // The 15th, or any Monday. 2026-03-02 is a Monday, so it comes before the 15th.
  CHECK(next("0 0 15 * MON", utc(2026, 3, 1)) == utc(2026, 3, 2));
  CHECK(next("0 0 15 * MON", utc(2026, 3, 13)) == utc(2026, 3, 15));
  // A day field beginning with * does not widen the match: only Mondays.
  CHECK(next("0 0 */1 * MON", utc(2026, 3, 3)) == utc(2026, 3, 9));
}

TEST_CASE("the 31st fires only in months that have one", "[cron]") {
  CHECK(next("0 0 31 * *", utc(2026, 4, 1)) == utc(2026, 5, 31));
  CHECK(next("0 0 31 * *", utc(2026, 5, 31)) == utc(2026, 7, 31));
  CHECK(next("0 0 30 * *", utc(2026, 1, 30)) == utc(2026, 3, 30));
}

TEST_CASE("February 29 fires only in leap years, skipping 2100", "[cron]") {
  CHECK(next("0 0 29 2 *", utc(2026, 1, 1)) == utc(2028, 2, 29));
  CHECK(next("0 0 29 2 *", utc(2096, 3, 1)) == utc(2104, 2, 29));
  CHECK(next("0 0 29 2 *", utc(1999, 3, 1)) == utc(2000, 2, 29));
}

TEST_CASE("an expression that can never fire returns nothing instead of looping", "[cron]") {
  CHECK_FALSE(cron("0 0 30 2 *").next_after(utc(2026, 1, 1)).has_value());
  CHECK_FALSE(cron("0 0 31 4,6,9,11 *").next_after(utc(2026, 1, 1)).has_value());
  // ... but with a weekday restriction too, OR semantics make it fire on that weekday.
  CHECK(next("0 0 30 2 FRI", utc(2026, 2, 1)) == utc(2026, 2, 6));
}

TEST_CASE("macros stand for their five-field forms", "[cron]") {
  CHECK(next("@daily", utc(2026, 5, 5, 5)) == utc(2026, 5, 6));
  CHECK(next("@hourly", utc(2026, 5, 5, 5, 1)) == utc(2026, 5, 5, 6));
  CHECK(next("@weekly", utc(2026, 3, 2)) == utc(2026, 3, 8));
  CHECK(next("@monthly", utc(2026, 3, 2)) == utc(2026, 4, 1));
  CHECK(next("@yearly", utc(2026, 3, 2)) == utc(2027, 1, 1));
  CHECK(next("  @ANNUALLY ", utc(2026, 3, 2)) == utc(2027, 1, 1));
}

TEST_CASE("matches agrees with next_after", "[cron]") {
  const auto schedule = cron("*/7 3-5 1,10 * *");
  std::int64_t t = utc(2026, 1, 1);
  for (int i = 0; i < 50; ++i) {
    auto n = schedule.next_after(t);
    REQUIRE(n.has_value());
    CHECK(schedule.matches(*n));
    for (std::int64_t s = t + 60 - (t % 60); s < *n; s += 60) REQUIRE_FALSE(schedule.matches(s));
    t = *n;
  }
}

TEST_CASE("the time_point overload agrees with seconds", "[cron]") {
  const auto schedule = cron("0 0 * * *");
  const auto at = std::chrono::system_clock::time_point(std::chrono::seconds(utc(2026, 11, 26, 23, 40)));
  auto n = schedule.next_after(at);
  REQUIRE(n.has_value());
  CHECK(std::chrono::duration_cast<std::chrono::seconds>(n->time_since_epoch()).count() == utc(2026, 11, 27));
}

TEST_CASE("invalid cron expressions are rejected naming the field and the reason", "[cron]") {
  struct Case {
    const char* expression;
    const char* fragment;
  };
  const Case cases[] = {
      {"", "expected 5 fields"},
      {"* * * *", "found 4"},
      {"* * * * * *", "found 6"},
      {"60 * * * *", "minute: 60 is out of range 0-59"},
      {"0 24 * * *", "hour: 24 is out of range 0-23"},
      {"0 0 0 * *", "day-of-month: 0 is out of range 1-31"},
      {"0 0 32 * *", "day-of-month: 32 is out of range"},
      {"0 0 * 13 *", "month: 13 is out of range 1-12"},
      {"0 0 * * 8", "day-of-week: 8 is out of range 0-7"},
      {"*/0 * * * *", "step must be at least 1"},
      {"*/61 * * * *", "larger than the field's range"},
      {"5-1 * * * *", "runs backwards"},
      {"1,,2 * * * *", "empty list item"},
      {"a * * * *", "not a valid value"},
      {"1x * * * *", "not a number"},
      {"* * * foo *", "month: \"foo\" is not a valid value"},
      {"* * * * mon-", "a value is missing"},
      {"*/ * * * *", "step after '/' is missing"},
      {"-5 * * * *", "a value is missing"},
      {"@reboot", "unknown macro"},
  };
  for (const auto& c : cases) {
    auto parsed = CronSchedule::parse(c.expression);
    INFO(c.expression);
    REQUIRE_FALSE(parsed.is_ok());
    CHECK(parsed.status().code() == kvs::Status::Code::kInvalidArgument);
    CHECK_THAT(parsed.status().message(), Catch::Contains(c.fragment));
  }
}
