#pragma once

// MetricsRegistry: counters, gauges and histograms with labels, rendered in the Prometheus text
// exposition format (version 0.0.4) for `GET /metrics`. A Node owns one registry; nothing here
// is global.
//
// Ownership: the registry owns its families and each family owns its series (one per label-value
// set); neither is ever removed, so a `Counter&`, `Gauge&` or `Histogram&` handed out stays valid
// as long as the registry lives. Hot paths may cache those references.
//
// Concurrency: every method is safe from any thread. Updating a series is one or two relaxed
// atomic operations. Finding a series by label values (`labels`) probes a fixed-size table of
// atomic pointers without a lock; only creating a series that does not exist yet takes the
// family's mutex. `render` takes each family's mutex briefly to list its series and reads the
// atomics without stopping writers: a histogram being observed while rendered may show a
// bucket that is one observation ahead of its sum, as with every Prometheus client.
//
// Cardinality is bounded: a family holds at most `max_series` label sets (default 1000).
// Further label sets all share one overflow series whose every label value is "_overflow", so a
// caller that labels by raw paths instead of route templates cannot exhaust memory.
//
// Registration mistakes (an invalid metric or label name, a name registered twice with another
// type or other labels, the wrong number of label values) are programming errors: they abort.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "util/histogram.hpp"
#include "util/thread_annotations.hpp"

namespace kvs::features {

// Latency buckets, in seconds: util::latency_bounds() (100 µs .. 10 s).
std::vector<double> default_latency_buckets();

class Counter {
 public:
  void inc(std::uint64_t by = 1) noexcept { value_.fetch_add(by, std::memory_order_relaxed); }
  std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class Gauge {
 public:
  void set(double value) noexcept { value_.store(value, std::memory_order_relaxed); }
  void add(double by) noexcept { value_.fetch_add(by, std::memory_order_relaxed); }
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// A histogram series: util::Histogram, its bounds owned by its family.
using Histogram = util::Histogram;

enum class MetricType : std::uint8_t { kCounter, kGauge, kHistogram };

// What every family shares: its name, help, type and label names, and its rendering.
class MetricFamilyBase {
 public:
  virtual ~MetricFamilyBase() = default;
  const std::string& name() const noexcept { return name_; }
  const std::string& help() const noexcept { return help_; }
  MetricType type() const noexcept { return type_; }
  const std::vector<std::string>& label_names() const noexcept { return label_names_; }

  // Appends this family's HELP and TYPE lines and its samples, series sorted by label values.
  virtual void render(std::string& out) const = 0;

 protected:
  MetricFamilyBase(std::string name, std::string help, MetricType type, std::vector<std::string> label_names);

  std::string name_;
  std::string help_;
  MetricType type_;
  std::vector<std::string> label_names_;
};

// One metric name and all its series. `M` is Counter, Gauge or Histogram.
template <class M>
class MetricFamily final : public MetricFamilyBase {
 public:
  MetricFamily(std::string name, std::string help, MetricType type, std::vector<std::string> label_names,
               std::vector<double> bounds, std::size_t max_series);
  ~MetricFamily() override;

  // The series for these label values, created on first use. Requires: one value per label
  // name, in the order the names were registered.
  M& labels(std::span<const std::string_view> values);
  M& labels(std::initializer_list<std::string_view> values) {
    return labels(std::span<const std::string_view>(values.begin(), values.size()));
  }
  // The series of a family registered without labels.
  M& get() { return labels(std::span<const std::string_view>()); }

  // Series currently held, the overflow series included.
  std::size_t series_count() const;

  void render(std::string& out) const override;

 private:
  struct Series {
    Series(std::vector<std::string> v, const std::vector<double>& bounds);
    std::vector<std::string> values;
    M metric;
  };

  Series* find(std::span<const std::string_view> values, std::uint64_t hash) const;
  Series* insert_locked(std::span<const std::string_view> values, std::uint64_t hash) KVS_REQUIRES(mutex_);

  const std::vector<double> bounds_;  // histograms only
  const std::size_t max_series_;
  // Open addressing, 2 * max_series slots (a power of two): readers probe with acquire loads;
  // writers fill a slot with a release store under `mutex_`. A filled slot never changes.
  const std::size_t slot_mask_;
  std::unique_ptr<std::atomic<Series*>[]> slots_;

  mutable Mutex mutex_;
  // Guarded by `mutex_`: owns every series, in creation order.
  std::vector<std::unique_ptr<Series>> series_ KVS_GUARDED_BY(mutex_);
  Series* overflow_ KVS_GUARDED_BY(mutex_) = nullptr;
};

using CounterFamily = MetricFamily<Counter>;
using GaugeFamily = MetricFamily<Gauge>;
using HistogramFamily = MetricFamily<Histogram>;

class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Registers a family, or returns the one already registered under `name` with the same type
  // and label names. Names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*
  // and do not begin with "__"; a histogram may not use the label "le".
  CounterFamily& counter(std::string name, std::string help, std::vector<std::string> label_names = {},
                         std::size_t max_series = 1000);
  GaugeFamily& gauge(std::string name, std::string help, std::vector<std::string> label_names = {},
                     std::size_t max_series = 1000);
  // `bounds`: ascending, finite; empty means default_latency_buckets().
  HistogramFamily& histogram(std::string name, std::string help, std::vector<std::string> label_names = {},
                             std::vector<double> bounds = {}, std::size_t max_series = 1000);
  // A counter whose value is kept elsewhere and copied in before rendering (the process's CPU
  // time, read from /proc): a gauge underneath, so it can be set, rendered with TYPE counter.
  // The caller keeps it monotonic.
  GaugeFamily& sampled_counter(std::string name, std::string help, std::vector<std::string> label_names = {},
                               std::size_t max_series = 1000);

  // The whole registry in the Prometheus text format, families in registration order.
  // Serve it with Content-Type `text/plain; version=0.0.4; charset=utf-8`.
  std::string render() const;

 private:
  // Checks the names, then registers under `mutex_` or returns the family already there.
  template <class M>
  MetricFamily<M>& add_family(std::string name, std::string help, MetricType type,
                              std::vector<std::string> label_names, std::vector<double> bounds,
                              std::size_t max_series) KVS_EXCLUDES(mutex_);

  mutable Mutex mutex_;
  // Guarded by `mutex_`, in registration order.
  std::vector<std::unique_ptr<MetricFamilyBase>> families_ KVS_GUARDED_BY(mutex_);
};

inline constexpr std::string_view kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

// The metrics a kvs node exports, registered on construction. Node owns one next to its
// registry (which must outlive it); kvs-server, the storage layer and the cluster driver update
// the members. Gauges that mirror state (keys, bytes, queue depth) are set by Node just before
// it renders, from Store::stats() and the cluster driver.
struct NodeMetrics {
  explicit NodeMetrics(MetricsRegistry& registry);

  // HTTP: `route` is the route template ("/kv/{path}", "/health"), never the raw path.
  CounterFamily& http_requests;             // kvs_http_requests_total{route,method,status}
  HistogramFamily& http_request_duration;   // kvs_http_request_duration_seconds{route,method}
  Counter& rate_limited;                    // kvs_rate_limited_requests_total
  // Refused by kvs-server's connection layer before routing: connection_cap (max_connections
  // or max_connections_per_client), headers_too_large (431), body_too_large (413),
  // header_timeout, malformed (another 4xx/5xx on the head or body framing).
  CounterFamily& connections_refused;       // kvs_connections_refused_total{reason}

  // Storage.
  Gauge& keys;                              // kvs_keys: live keys
  Gauge& stored_bytes;                      // kvs_stored_bytes: bytes of current versions
  CounterFamily& writes;                    // kvs_writes_total{kind}: put, delete, replicated
  // The disk, as the store's threads waited for it (storage::DiskTimings, copied in before
  // each render): log syncs, LMDB commits, checkpoint syncs of data.mdb.
  Histogram& disk_wal_fsync;                // kvs_disk_wal_fsync_duration_seconds
  Histogram& disk_backend_commit;           // kvs_disk_backend_commit_duration_seconds
  Histogram& disk_checkpoint_sync;          // kvs_disk_checkpoint_sync_duration_seconds

  // Cluster.
  Gauge& members_alive;                     // kvs_members_alive, this node included
  Gauge& replication_queue_depth;           // kvs_replication_queue_depth: pushes not yet acked
  Gauge& replication_lag;                   // kvs_replication_lag_seconds: oldest queued push's age
  CounterFamily& anti_entropy_rounds;       // kvs_anti_entropy_rounds_total{result}: ok, failed
  Counter& peer_answers_rejected;           // kvs_peer_answers_rejected_total: answers not applied

  // Operations.
  CounterFamily& backups;                   // kvs_backups_total{result}: ok, failed
  Gauge& backup_last_success;               // kvs_backup_last_success_timestamp_seconds
  Gauge& backup_last_bytes;                 // kvs_backup_last_size_bytes
  Gauge& backup_last_duration;              // kvs_backup_last_duration_seconds
  Gauge& audit_last_seq;                    // kvs_audit_last_seq: seq of the last audit entry
  Gauge& read_only;                         // kvs_read_only: 1 in read-only mode
  Gauge& uptime;                            // kvs_uptime_seconds
  GaugeFamily& build_info;                  // kvs_build_info{version,commit}: always 1
  Gauge& watches_open;                      // kvs_watches_open: open change feed watches
  Gauge& watch_resyncs;                     // kvs_watch_resyncs_total (sampled): resync_required sent

  // The process (the standard names of Prometheus client libraries), from /proc/self.
  Gauge& process_cpu_seconds;               // process_cpu_seconds_total: user + system
  Gauge& process_resident_memory;           // process_resident_memory_bytes
  Gauge& process_open_fds;                  // process_open_fds
  Gauge& process_start_time;                // process_start_time_seconds: Unix time

  // Sets the process_* gauges from /proc/self; leaves them as they were where /proc cannot be
  // read. Called just before rendering.
  void sample_process();
};

}  // namespace kvs::features
