#include "features/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <type_traits>

#include "features/process_stats.hpp"
#include "kvs/operations.hpp"

namespace kvs::features {
namespace {

// A registration mistake is a bug in kvs, not an operating error: stop loudly.
void require(bool condition, const std::string& what) {
  if (condition) return;
  std::fprintf(stderr, "kvs metrics: %s\n", what.c_str());
  std::abort();
}

bool valid_metric_name(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool valid_label_name(std::string_view name) {
  if (name.empty() || name.starts_with("__")) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

std::uint64_t hash_values(std::span<const std::string_view> values) {
  std::uint64_t h = 14695981039346656037ULL;  // FNV-1a
  for (std::string_view v : values) {
    for (char c : v) {
      h ^= static_cast<unsigned char>(c);
      h *= 1099511628211ULL;
    }
    h ^= 0xff;  // a separator no UTF-8 text contains: {"ab",""} and {"a","b"} differ
    h *= 1099511628211ULL;
  }
  return h;
}

std::size_t round_up_pow2(std::size_t n) {
  std::size_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

// HELP text escapes backslash and newline.
void append_help(std::string& out, std::string_view text) {
  for (char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
}

// Label values escape backslash, double quote and newline.
void append_label_value(std::string& out, std::string_view text) {
  for (char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
}

void append_double(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
  } else if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
    out.append(buf, end);
  }
}

// A bucket bound as Prometheus clients write it (Go's %g, shortest): 0.0001 rather than the
// 1e-04 that the shortest plain form would give.
void append_bound(std::string& out, double value) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::general);
  out.append(buf, end);
}

void append_u64(std::string& out, std::uint64_t value) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, end);
}

// `{a="x",b="y"}` or, with an extra `le` label, `{a="x",le="0.5"}`; nothing without labels.
void append_labels(std::string& out, const std::vector<std::string>& names, const std::vector<std::string>& values,
                   std::string_view le = {}) {
  if (names.empty() && le.empty()) return;
  out += '{';
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    out += names[i];
    out += "=\"";
    append_label_value(out, values[i]);
    out += '"';
  }
  if (!le.empty()) {
    if (!names.empty()) out += ',';
    out += "le=\"";
    out += le;
    out += '"';
  }
  out += '}';
}

// Begins one sample line: the family's name with `suffix` ("_bucket", "_sum", ""), the labels
// (and `le`) and the space before the value, which the caller appends with the '\n'.
void begin_sample(std::string& out, std::string_view name, std::string_view suffix,
                  const std::vector<std::string>& names, const std::vector<std::string>& values,
                  std::string_view le = {}) {
  out += name;
  out += suffix;
  append_labels(out, names, values, le);
  out += ' ';
}

const char* type_name(MetricType type) {
  switch (type) {
    case MetricType::kCounter: return "counter";
    case MetricType::kGauge: return "gauge";
    case MetricType::kHistogram: return "histogram";
  }
  return "untyped";
}

}  // namespace

std::vector<double> default_latency_buckets() { return util::latency_bounds(); }

// ---- Families ---------------------------------------------------------------------------------

MetricFamilyBase::MetricFamilyBase(std::string name, std::string help, MetricType type,
                                   std::vector<std::string> label_names)
    : name_(std::move(name)), help_(std::move(help)), type_(type), label_names_(std::move(label_names)) {}

template <class M>
MetricFamily<M>::Series::Series(std::vector<std::string> v, const std::vector<double>& bounds)
    : values(std::move(v)), metric([&]() -> M {
        if constexpr (std::is_same_v<M, Histogram>) return M(bounds);
        else return M();
      }()) {}

template <class M>
MetricFamily<M>::MetricFamily(std::string name, std::string help, MetricType type,
                              std::vector<std::string> label_names, std::vector<double> bounds,
                              std::size_t max_series)
    : MetricFamilyBase(std::move(name), std::move(help), type, std::move(label_names)),
      bounds_(std::move(bounds)),
      max_series_(std::max<std::size_t>(max_series, 1)),
      slot_mask_(round_up_pow2(2 * max_series_) - 1),
      slots_(std::make_unique<std::atomic<Series*>[]>(slot_mask_ + 1)) {
  for (std::size_t i = 0; i <= slot_mask_; ++i) slots_[i].store(nullptr, std::memory_order_relaxed);
  // A family without labels has exactly one series; create it so it renders as 0 at once.
  if (label_names_.empty()) (void)get();
}

template <class M>
MetricFamily<M>::~MetricFamily() = default;

template <class M>
typename MetricFamily<M>::Series* MetricFamily<M>::find(std::span<const std::string_view> values,
                                                        std::uint64_t hash) const {
  for (std::size_t i = 0, slot = hash & slot_mask_; i <= slot_mask_; ++i, slot = (slot + 1) & slot_mask_) {
    Series* s = slots_[slot].load(std::memory_order_acquire);
    if (s == nullptr) return nullptr;
    if (std::equal(s->values.begin(), s->values.end(), values.begin(), values.end())) return s;
  }
  return nullptr;
}

template <class M>
typename MetricFamily<M>::Series* MetricFamily<M>::insert_locked(std::span<const std::string_view> values,
                                                                 std::uint64_t hash) {
  auto owned = std::make_unique<Series>(std::vector<std::string>(values.begin(), values.end()), bounds_);
  Series* s = owned.get();
  series_.push_back(std::move(owned));
  // At most max_series entries in 2 * max_series slots: an empty slot always exists.
  std::size_t slot = hash & slot_mask_;
  while (slots_[slot].load(std::memory_order_relaxed) != nullptr) slot = (slot + 1) & slot_mask_;
  slots_[slot].store(s, std::memory_order_release);  // publishes the fully built series
  return s;
}

template <class M>
M& MetricFamily<M>::labels(std::span<const std::string_view> values) {
  require(values.size() == label_names_.size(),
          "metric " + name_ + " takes " + std::to_string(label_names_.size()) + " label values, got " +
              std::to_string(values.size()));
  const std::uint64_t hash = hash_values(values);
  if (Series* s = find(values, hash)) return s->metric;  // the hot path: no lock

  MutexLock lock(mutex_);
  if (Series* s = find(values, hash)) return s->metric;  // created meanwhile
  if (series_.size() >= max_series_) {
    if (overflow_ == nullptr) {
      auto owned = std::make_unique<Series>(std::vector<std::string>(label_names_.size(), "_overflow"), bounds_);
      overflow_ = owned.get();
      series_.push_back(std::move(owned));
    }
    return overflow_->metric;
  }
  return insert_locked(values, hash)->metric;
}

template <class M>
std::size_t MetricFamily<M>::series_count() const {
  MutexLock lock(mutex_);
  return series_.size();
}

template <class M>
void MetricFamily<M>::render(std::string& out) const {
  std::vector<const Series*> series;
  {
    MutexLock lock(mutex_);
    series.reserve(series_.size());
    for (const auto& s : series_) series.push_back(s.get());
  }
  // Sorted by label values: the output never depends on creation order or hashing.
  std::sort(series.begin(), series.end(), [](const Series* a, const Series* b) { return a->values < b->values; });

  out += "# HELP ";
  out += name_;
  out += ' ';
  append_help(out, help_);
  out += "\n# TYPE ";
  out += name_;
  out += ' ';
  out += type_name(type_);
  out += '\n';

  for (const Series* s : series) {
    if constexpr (std::is_same_v<M, Histogram>) {
      const auto snap = s->metric.snapshot();
      for (std::size_t i = 0; i <= bounds_.size(); ++i) {
        std::string le;
        if (i < bounds_.size()) append_bound(le, bounds_[i]);
        else le = "+Inf";
        begin_sample(out, name_, "_bucket", label_names_, s->values, le);
        append_u64(out, snap.cumulative[i]);
        out += '\n';
      }
      begin_sample(out, name_, "_sum", label_names_, s->values);
      append_double(out, snap.sum);
      out += '\n';
      begin_sample(out, name_, "_count", label_names_, s->values);
      append_u64(out, snap.count);
      out += '\n';
    } else {
      begin_sample(out, name_, "", label_names_, s->values);
      if constexpr (std::is_same_v<M, Counter>) append_u64(out, s->metric.value());
      else append_double(out, s->metric.value());
      out += '\n';
    }
  }
}

template class MetricFamily<Counter>;
template class MetricFamily<Gauge>;
template class MetricFamily<Histogram>;

// ---- Registry ---------------------------------------------------------------------------------

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

namespace {

void check_names(const std::string& name, const std::vector<std::string>& label_names, MetricType type) {
  require(valid_metric_name(name), "invalid metric name \"" + name + "\"");
  for (std::size_t i = 0; i < label_names.size(); ++i) {
    require(valid_label_name(label_names[i]), "metric " + name + ": invalid label name \"" + label_names[i] + "\"");
    require(!(type == MetricType::kHistogram && label_names[i] == "le"),
            "metric " + name + ": a histogram may not use the label \"le\"");
    for (std::size_t j = 0; j < i; ++j) {
      require(label_names[i] != label_names[j], "metric " + name + ": label \"" + label_names[i] + "\" repeats");
    }
  }
}

}  // namespace

// The one registration path: every public registrar differs only in the sample type, the TYPE
// line and the bucket bounds.
template <class M>
MetricFamily<M>& MetricsRegistry::add_family(std::string name, std::string help, MetricType type,
                                             std::vector<std::string> label_names, std::vector<double> bounds,
                                             std::size_t max_series) {
  check_names(name, label_names, type);
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    require(std::isfinite(bounds[i]), "histogram " + name + ": bucket bounds must be finite");
    require(i == 0 || bounds[i - 1] < bounds[i], "histogram " + name + ": bucket bounds must ascend");
  }
  MutexLock lock(mutex_);
  for (const auto& f : families_) {
    if (f->name() != name) continue;
    require(f->type() == type && f->label_names() == label_names,
            "metric " + name + " registered twice with another type or other labels");
    return static_cast<MetricFamily<M>&>(*f);
  }
  auto family = std::make_unique<MetricFamily<M>>(std::move(name), std::move(help), type, std::move(label_names),
                                                  std::move(bounds), max_series);
  auto& ref = *family;
  families_.push_back(std::move(family));
  return ref;
}

CounterFamily& MetricsRegistry::counter(std::string name, std::string help, std::vector<std::string> label_names,
                                        std::size_t max_series) {
  return add_family<Counter>(std::move(name), std::move(help), MetricType::kCounter, std::move(label_names), {},
                             max_series);
}

GaugeFamily& MetricsRegistry::gauge(std::string name, std::string help, std::vector<std::string> label_names,
                                    std::size_t max_series) {
  return add_family<Gauge>(std::move(name), std::move(help), MetricType::kGauge, std::move(label_names), {},
                           max_series);
}

HistogramFamily& MetricsRegistry::histogram(std::string name, std::string help, std::vector<std::string> label_names,
                                            std::vector<double> bounds, std::size_t max_series) {
  if (bounds.empty()) bounds = default_latency_buckets();
  return add_family<Histogram>(std::move(name), std::move(help), MetricType::kHistogram, std::move(label_names),
                               std::move(bounds), max_series);
}

GaugeFamily& MetricsRegistry::sampled_counter(std::string name, std::string help, std::vector<std::string> label_names,
                                              std::size_t max_series) {
  return add_family<Gauge>(std::move(name), std::move(help), MetricType::kCounter, std::move(label_names), {},
                           max_series);
}

std::string MetricsRegistry::render() const {
  std::vector<const MetricFamilyBase*> families;
  {
    MutexLock lock(mutex_);
    for (const auto& f : families_) families.push_back(f.get());
  }
  std::string out;
  for (const auto* f : families) f->render(out);
  return out;
}

// ---- NodeMetrics ------------------------------------------------------------------------------

NodeMetrics::NodeMetrics(MetricsRegistry& r)
    : http_requests(r.counter("kvs_http_requests_total", "HTTP requests served, by route template, method and status.",
                              {"route", "method", "status"})),
      http_request_duration(r.histogram("kvs_http_request_duration_seconds",
                                        "HTTP request latency in seconds, by route template and method.",
                                        {"route", "method"})),
      rate_limited(r.counter("kvs_rate_limited_requests_total", "Requests refused with 429 by the rate limiter.").get()),
      connections_refused(r.counter("kvs_connections_refused_total",
                                    "Connections and requests refused by the connection layer before routing, by reason: "
                                    "connection_cap, headers_too_large, body_too_large, header_timeout, malformed.",
                                    {"reason"})),
      keys(r.gauge("kvs_keys", "Live keys stored on this node (tombstones excluded).").get()),
      stored_bytes(r.gauge("kvs_stored_bytes", "Bytes of encoded current versions stored on this node.").get()),
      writes(r.counter("kvs_writes_total", "Versions this node applied, by kind: put and delete (its clients), replicated (from peers), import.", {"kind"})),
      disk_wal_fsync(r.histogram("kvs_disk_wal_fsync_duration_seconds",
                                 "Syncs of the redo log, in seconds: every durable write waits for one.")
                         .get()),
      disk_backend_commit(r.histogram("kvs_disk_backend_commit_duration_seconds",
                                      "LMDB commits (the writing of a transaction's pages), in seconds: no write "
                                      "is taken meanwhile.")
                              .get()),
      disk_checkpoint_sync(r.histogram("kvs_disk_checkpoint_sync_duration_seconds",
                                       "Syncs of data.mdb for checkpoints, each with the write-back of its pages "
                                       "in steps before it, in seconds: they share the disk with the redo log's "
                                       "syncs.")
                               .get()),
      members_alive(r.gauge("kvs_members_alive", "Live cluster members, this node included.").get()),
      replication_queue_depth(
          r.gauge("kvs_replication_queue_depth", "Replication pushes queued and not yet acknowledged.").get()),
      replication_lag(
          r.gauge("kvs_replication_lag_seconds", "Age in seconds of the oldest queued replication push.").get()),
      anti_entropy_rounds(r.counter("kvs_anti_entropy_rounds_total", "Merkle anti-entropy rounds, by result.",
                                    {"result"})),
      peer_answers_rejected(r.counter("kvs_peer_answers_rejected_total",
                                      "Peer answers discarded because their signature did not verify.")
                                .get()),
      backups(r.counter("kvs_backups_total", "Backups attempted, by result: ok, failed.", {"result"})),
      backup_last_success(r.gauge("kvs_backup_last_success_timestamp_seconds",
                                  "Unix time of the last successful backup.")
                              .get()),
      backup_last_bytes(r.gauge("kvs_backup_last_size_bytes", "Size in bytes of the last successful backup.").get()),
      backup_last_duration(
          r.gauge("kvs_backup_last_duration_seconds", "Duration in seconds of the last successful backup.").get()),
      audit_last_seq(r.gauge("kvs_audit_last_seq", "Sequence number of the last audit log entry (0: none).").get()),
      read_only(r.gauge("kvs_read_only", "1 when the node is in read-only mode, else 0.").get()),
      uptime(r.gauge("kvs_uptime_seconds", "Seconds since this node started.").get()),
      build_info(r.gauge("kvs_build_info", "Always 1; the labels give the kvs version and the git commit it was built from.",
                         {"version", "commit"})),
      watches_open(r.gauge("kvs_watches_open", "Open change feed watches (streams and long polls).").get()),
      watch_resyncs(r.sampled_counter("kvs_watch_resyncs_total",
                                      "resync_required events sent to watchers: cursors past retention or of another "
                                      "feed, and consumers that fell more than watch_buffer behind.")
                        .get()),
      process_cpu_seconds(r.sampled_counter("process_cpu_seconds_total",
                                            "Total user and system CPU time spent in seconds.").get()),
      process_resident_memory(r.gauge("process_resident_memory_bytes", "Resident memory size in bytes.").get()),
      process_open_fds(r.gauge("process_open_fds", "Number of open file descriptors.").get()),
      process_start_time(r.gauge("process_start_time_seconds",
                                 "Start time of the process since the Unix epoch in seconds.").get()) {
  build_info.labels({library_version(), library_commit()}).set(1);
}

void NodeMetrics::sample_process() {
  std::optional<ProcessStats> stats = read_process_stats();
  if (!stats) return;
  process_cpu_seconds.set(stats->cpu_seconds);
  process_resident_memory.set(stats->resident_bytes);
  process_open_fds.set(stats->open_fds);
  process_start_time.set(stats->start_time_seconds);
}

}  // namespace kvs::features
