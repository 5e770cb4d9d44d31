#include "features/process_stats.hpp"

#include <unistd.h>

#include <charconv>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

namespace kvs::features {
namespace {

std::optional<std::uint64_t> to_u64(std::string_view text) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<std::string> read_text(const char* path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return std::nullopt;
  return text;
}

}  // namespace

std::optional<ProcessStats> parse_process_stats(std::string_view stat, std::string_view system_stat,
                                                long ticks_per_second, long page_size) {
  if (ticks_per_second <= 0 || page_size <= 0) return std::nullopt;
  // /proc/self/stat: "pid (comm) state ppid ...". comm may hold spaces and parentheses, so the
  // fields are counted from the last ')'. Field numbers follow proc(5): after comm come
  // field 3 (state) onwards, so field n is fields[n - 3].
  std::size_t close = stat.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  std::vector<std::string_view> fields;
  std::string_view rest = stat.substr(close + 1);
  while (!rest.empty()) {
    std::size_t start = rest.find_first_not_of(" \n");
    if (start == std::string_view::npos) break;
    rest.remove_prefix(start);
    std::size_t end = rest.find_first_of(" \n");
    fields.push_back(rest.substr(0, end));
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
  }
  if (fields.size() < 22) return std::nullopt;
  auto utime = to_u64(fields[14 - 3]);      // clock ticks in user mode
  auto stime = to_u64(fields[15 - 3]);      // clock ticks in kernel mode
  auto starttime = to_u64(fields[22 - 3]);  // clock ticks after boot
  auto rss = to_u64(fields[24 - 3]);        // pages
  if (!utime || !stime || !starttime || !rss) return std::nullopt;

  // /proc/stat: a line "btime SECONDS", the boot time in Unix seconds.
  std::optional<std::uint64_t> boot_time;
  for (std::size_t at = 0; at < system_stat.size();) {
    std::size_t end = system_stat.find('\n', at);
    std::string_view line = system_stat.substr(at, end == std::string_view::npos ? std::string_view::npos : end - at);
    if (line.starts_with("btime ")) boot_time = to_u64(line.substr(6));
    if (end == std::string_view::npos) break;
    at = end + 1;
  }
  if (!boot_time) return std::nullopt;

  const auto ticks = static_cast<double>(ticks_per_second);
  ProcessStats stats;
  stats.cpu_seconds = static_cast<double>(*utime + *stime) / ticks;
  stats.resident_bytes = static_cast<double>(*rss) * static_cast<double>(page_size);
  stats.start_time_seconds = static_cast<double>(*boot_time) + static_cast<double>(*starttime) / ticks;
  return stats;
}

std::optional<ProcessStats> read_process_stats() {
  auto stat = read_text("/proc/self/stat");
  auto system_stat = read_text("/proc/stat");
  if (!stat || !system_stat) return std::nullopt;
  auto stats = parse_process_stats(*stat, *system_stat, ::sysconf(_SC_CLK_TCK), ::sysconf(_SC_PAGESIZE));
  if (!stats) return std::nullopt;
  std::error_code error;
  std::size_t fds = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", error), end; !error && it != end; it.increment(error)) {
    ++fds;
  }
  if (error) return std::nullopt;
  stats->open_fds = static_cast<double>(fds);
  return stats;
}

}  // namespace kvs::features
