#include "features/cron.hpp"

#include <array>
#include <cctype>
#include <charconv>
#include <vector>

namespace kvs::features {
namespace {

struct FieldSpec {
  const char* name;
  int min;
  int max;                                  // inclusive; 7 for day of week (7 = Sunday)
  const std::array<std::string_view, 12>* names;  // names[i] stands for min + i; nullptr: none
  std::size_t name_count;
};

constexpr std::array<std::string_view, 12> kMonthNames = {"jan", "feb", "mar", "apr", "may", "jun",
                                                          "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr std::array<std::string_view, 12> kDayNames = {"sun", "mon", "tue", "wed", "thu", "fri",
                                                        "sat", "",    "",    "",    "",    ""};

constexpr std::array<FieldSpec, 5> kFields = {{
    {"minute", 0, 59, nullptr, 0},
    {"hour", 0, 23, nullptr, 0},
    {"day-of-month", 1, 31, nullptr, 0},
    {"month", 1, 12, &kMonthNames, 12},
    {"day-of-week", 0, 7, &kDayNames, 7},
}};

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

class FieldParser {
 public:
  FieldParser(std::string_view expression, const FieldSpec& spec) : expression_(expression), spec_(spec) {}

  Status error(const std::string& reason) const {
    return Status::invalid_argument("cron \"" + std::string(expression_) + "\": " + spec_.name + ": " + reason);
  }

  // A number or (where the field has them) a name.
  Result<int> value(std::string_view text) const {
    if (text.empty()) return error("a value is missing");
    if (std::isdigit(static_cast<unsigned char>(text[0]))) {
      int v = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec != std::errc() || end != text.data() + text.size()) {
        return error("\"" + std::string(text) + "\" is not a number");
      }
      if (v < spec_.min || v > spec_.max) {
        return error(std::to_string(v) + " is out of range " + std::to_string(spec_.min) + "-" +
                     std::to_string(spec_.max));
      }
      return v;
    }
    if (spec_.names != nullptr) {
      const std::string name = lower(text);
      for (std::size_t i = 0; i < spec_.name_count; ++i) {
        if ((*spec_.names)[i] == name) return spec_.min + static_cast<int>(i);
      }
    }
    return error("\"" + std::string(text) + "\" is not a valid value");
  }

  // Sets the bits of one comma-separated item into `bits` (indexed by value).
  Status item(std::string_view text, std::vector<bool>& bits) const {
    if (text.empty()) return error("empty list item");
    int step = 1;
    bool has_step = false;
    if (auto slash = text.find('/'); slash != std::string_view::npos) {
      std::string_view step_text = text.substr(slash + 1);
      text = text.substr(0, slash);
      if (step_text.empty()) return error("a step after '/' is missing");
      auto [end, ec] = std::from_chars(step_text.data(), step_text.data() + step_text.size(), step);
      if (ec != std::errc() || end != step_text.data() + step_text.size()) {
        return error("step \"" + std::string(step_text) + "\" is not a number");
      }
      if (step < 1) return error("step must be at least 1");
      if (step > spec_.max - spec_.min + 1) {
        return error("step " + std::to_string(step) + " is larger than the field's range");
      }
      has_step = true;
    }
    int lo = 0;
    int hi = 0;
    if (text == "*") {
      lo = spec_.min;
      // `*` in day of week means 0-6; 7 only duplicates Sunday.
      hi = spec_.names == &kDayNames ? 6 : spec_.max;
    } else if (auto dash = text.find('-'); dash != std::string_view::npos) {
      auto a = value(text.substr(0, dash));
      if (!a) return a.status();
      auto b = value(text.substr(dash + 1));
      if (!b) return b.status();
      lo = *a;
      hi = *b;
      if (lo > hi) {
        return error("range " + std::string(text) + " runs backwards");
      }
    } else {
      auto a = value(text);
      if (!a) return a.status();
      lo = *a;
      // `a/n` means a through the end of the field, every n (as cronie does).
      hi = has_step ? spec_.max : *a;
    }
    for (int v = lo; v <= hi; v += step) bits[static_cast<std::size_t>(v)] = true;
    return Status::ok();
  }

  Status field(std::string_view text, std::vector<bool>& bits) const {
    bits.assign(static_cast<std::size_t>(spec_.max) + 1, false);
    std::size_t start = 0;
    while (true) {
      std::size_t comma = text.find(',', start);
      std::string_view part = text.substr(start, comma == std::string_view::npos ? text.npos : comma - start);
      if (Status s = item(part, bits); !s) return s;
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
    return Status::ok();
  }

 private:
  std::string_view expression_;
  const FieldSpec& spec_;
};

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return text;
}

}  // namespace

Result<CronSchedule> CronSchedule::parse(std::string_view expression) {
  const std::string_view trimmed = trim(expression);
  std::string text(trimmed);
  if (!text.empty() && text[0] == '@') {
    const std::string macro = lower(text);
    if (macro == "@yearly" || macro == "@annually") text = "0 0 1 1 *";
    else if (macro == "@monthly") text = "0 0 1 * *";
    else if (macro == "@weekly") text = "0 0 * * 0";
    else if (macro == "@daily" || macro == "@midnight") text = "0 0 * * *";
    else if (macro == "@hourly") text = "0 * * * *";
    else return Status::invalid_argument("cron \"" + std::string(trimmed) + "\": unknown macro");
  }

  std::vector<std::string_view> fields;
  {
    std::string_view rest = text;
    while (true) {
      rest = trim(rest);
      if (rest.empty()) break;
      std::size_t end = 0;
      while (end < rest.size() && !std::isspace(static_cast<unsigned char>(rest[end]))) ++end;
      fields.push_back(rest.substr(0, end));
      rest.remove_prefix(end);
    }
  }
  if (fields.size() != 5) {
    return Status::invalid_argument("cron \"" + std::string(trimmed) + "\": expected 5 fields " +
                                    "(minute hour day-of-month month day-of-week), found " +
                                    std::to_string(fields.size()));
  }

  CronSchedule schedule;
  schedule.expression_ = std::string(trimmed);
  std::vector<bool> bits;
  for (std::size_t i = 0; i < 5; ++i) {
    FieldParser parser(trimmed, kFields[i]);
    if (Status s = parser.field(fields[i], bits); !s) return s;
    for (std::size_t v = 0; v < bits.size(); ++v) {
      if (!bits[v]) continue;
      switch (i) {
        case 0: schedule.minutes_.set(v); break;
        case 1: schedule.hours_.set(v); break;
        case 2: schedule.days_of_month_.set(v); break;
        case 3: schedule.months_.set(v); break;
        case 4: schedule.days_of_week_.set(v % 7); break;  // 7 is Sunday, like 0
        default: break;
      }
    }
  }
  schedule.day_of_month_star_ = fields[2].front() == '*';
  schedule.day_of_week_star_ = fields[4].front() == '*';
  return schedule;
}

bool CronSchedule::day_matches(int day_of_month, int month, int weekday) const {
  if (!months_.test(static_cast<std::size_t>(month))) return false;
  const bool dom = days_of_month_.test(static_cast<std::size_t>(day_of_month));
  const bool dow = days_of_week_.test(static_cast<std::size_t>(weekday));
  if (day_of_month_star_ || day_of_week_star_) return dom && dow;
  return dom || dow;
}

bool CronSchedule::matches(std::int64_t at_s) const {
  using namespace std::chrono;
  const std::int64_t days = floor_div(at_s, 86400);
  const std::int64_t second_of_day = at_s - days * 86400;
  const sys_days day{std::chrono::days{days}};
  const year_month_day ymd{day};
  return minutes_.test(static_cast<std::size_t>((second_of_day / 60) % 60)) &&
         hours_.test(static_cast<std::size_t>(second_of_day / 3600)) &&
         day_matches(static_cast<int>(static_cast<unsigned>(ymd.day())),
                     static_cast<int>(static_cast<unsigned>(ymd.month())),
                     static_cast<int>(weekday{day}.c_encoding()));
}

std::optional<std::int64_t> CronSchedule::next_after(std::int64_t after_s) const {
  using namespace std::chrono;
  // The first candidate is the next whole minute after `after_s`.
  const std::int64_t start_s = floor_div(after_s, 60) * 60 + 60;
  const std::int64_t start_days = floor_div(start_s, 86400);
  const int start_minute_of_day = static_cast<int>((start_s - start_days * 86400) / 60);
  const year_month_day start_ymd{sys_days{days{start_days}}};

  int y = static_cast<int>(start_ymd.year());
  unsigned m = static_cast<unsigned>(start_ymd.month());
  unsigned first_day = static_cast<unsigned>(start_ymd.day());
  int first_minute_of_day = start_minute_of_day;

  // Walk month by month, skipping months that cannot match, for at most kSearchYears: the
  // bound is what makes an expression that never fires ("0 0 30 2 *") return instead of spin.
  for (int months_walked = 0; months_walked <= kSearchYears * 12; ++months_walked) {
    if (months_.test(m)) {
      const year_month ym{year{y}, month{m}};
      const unsigned last_day = static_cast<unsigned>(year_month_day_last{ym / last}.day());
      for (unsigned d = first_day; d <= last_day; ++d) {
        const sys_days day{ym / std::chrono::day{d}};
        if (day_matches(static_cast<int>(d), static_cast<int>(m), static_cast<int>(weekday{day}.c_encoding()))) {
          for (int minute_of_day = first_minute_of_day; minute_of_day < 24 * 60; ++minute_of_day) {
            const int h = minute_of_day / 60;
            if (!hours_.test(static_cast<std::size_t>(h))) {
              minute_of_day = h * 60 + 59;  // skip the rest of this hour
              continue;
            }
            if (minutes_.test(static_cast<std::size_t>(minute_of_day % 60))) {
              return static_cast<std::int64_t>(day.time_since_epoch().count()) * 86400 +
                     static_cast<std::int64_t>(minute_of_day) * 60;
            }
          }
        }
        first_minute_of_day = 0;
      }
    }
    first_day = 1;
    first_minute_of_day = 0;
    if (++m > 12) {
      m = 1;
      ++y;
    }
  }
  return std::nullopt;
}

std::optional<std::chrono::system_clock::time_point> CronSchedule::next_after(
    std::chrono::system_clock::time_point after) const {
  const auto after_s = std::chrono::floor<std::chrono::seconds>(after.time_since_epoch()).count();
  auto next = next_after(static_cast<std::int64_t>(after_s));
  if (!next) return std::nullopt;
  return std::chrono::system_clock::time_point(std::chrono::seconds(*next));
}

}  // namespace kvs::features
