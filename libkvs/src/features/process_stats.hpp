#pragma once

// What /metrics says about the process itself (process_cpu_seconds_total and friends, the
// names Prometheus client libraries use), read from Linux's /proc. Pure parsing is split from
// the reading so that tests can feed it fixed text. Safe from any thread.

#include <optional>
#include <string_view>

namespace kvs::features {

struct ProcessStats {
  double cpu_seconds = 0;         // user + system CPU time
  double resident_bytes = 0;      // resident set size
  double open_fds = 0;            // entries of /proc/self/fd
  double start_time_seconds = 0;  // Unix time the process started
};

// Parses `stat` (the text of /proc/self/stat) and `system_stat` (of /proc/stat, for the boot
// time "btime"): the CPU time, resident size and start time; open_fds is left 0. nullopt when
// either text is malformed or a rate is not positive.
std::optional<ProcessStats> parse_process_stats(std::string_view stat, std::string_view system_stat,
                                                long ticks_per_second, long page_size);

// The stats of this process; nullopt where /proc cannot be read (not Linux, no /proc mounted).
std::optional<ProcessStats> read_process_stats();

}  // namespace kvs::features
