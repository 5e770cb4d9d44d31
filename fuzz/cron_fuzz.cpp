// Fuzzes cron expressions (libkvs/src/features/cron.*), the syntax of backup_schedule.
// Properties of an expression that parses:
//   - next_after(t) is a whole minute strictly after t, and matches() holds for it;
//   - no minute between t and next_after(t) matches (checked over the first hours);
//   - parsing the trimmed expression() again gives a schedule with the same next fire time.
// next_after is bounded (kSearchYears), so even "0 0 30 2 *" returns.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "features/cron.hpp"
#include "fuzz_check.hpp"

using kvs::features::CronSchedule;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2 || size > 512) return 0;
  // The first two bytes place `after` somewhere in 2000..2100 (leap days and century included).
  const std::int64_t after = 946'684'800 + static_cast<std::int64_t>(data[0] * 256 + data[1]) * 48'271 + data[1];
  std::string_view text(reinterpret_cast<const char*>(data + 2), size - 2);
  auto schedule = CronSchedule::parse(text);
  if (!schedule.is_ok()) return 0;
  auto next = schedule->next_after(after);
  auto reparsed = CronSchedule::parse(schedule->expression());
  KVS_FUZZ_CHECK(reparsed.is_ok());
  KVS_FUZZ_CHECK(reparsed->next_after(after) == next);
  if (!next) return 0;
  KVS_FUZZ_CHECK(*next > after);
  KVS_FUZZ_CHECK(*next % 60 == 0);
  KVS_FUZZ_CHECK(schedule->matches(*next));
  const std::int64_t first_minute = (after / 60 + 1) * 60;
  for (std::int64_t minute = first_minute; minute < *next && minute < first_minute + 6 * 3600; minute += 60) {
    KVS_FUZZ_CHECK(!schedule->matches(minute));
  }
  return 0;
}
