// The change feed against a model: a random sequence of operations (puts with and without a
// TTL, conditional puts, removes, metadata changes, versions from a peer that win or lose the
// conflict order, clock moves, sweeps that expire keys and purge tombstones, reopens of the
// node) runs from one seed, while a model lists the changes the node must have applied, in
// order. Several watchers with different prefixes, some with values, follow the feed; they
// drain at random moments, resume from their own cursor at random (and after every reopen,
// when their watch ends), and at the end each must have received exactly the model's changes
// under its prefix: same order, types, paths, uuids, timestamps and documents, with no gap, no
// duplicate and no resync_required. A failure prints its seed; KVS_SEED=<n> replays it and
// KVS_MODEL_OPS=<n> changes the number of operations.
//
// Not covered here: permissions (node_watch_test.cpp), retention and overflow (they answer
// resync_required by design), and concurrency (one thread drives everything).

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "kvs/node.hpp"
#include "kvs/watch.hpp"
#include "support/model_run.hpp"
#include "support/node_fixture.hpp"

namespace kvs::test {
namespace {

using Type = WatchEvent::Type;
using std::chrono::milliseconds;

constexpr std::int64_t kTombstoneTtlMs = 20'000;

struct Expected {
  Type type = Type::kPut;
  std::string path;
  std::string uuid;
  std::int64_t timestamp_ms = 0;
  std::string data;  // puts
};

struct ModelVersion {
  std::string uuid;
  std::int64_t timestamp_ms = 0;
  std::optional<std::int64_t> expires_at_ms;
  bool deleted = false;
};

struct Watcher {
  std::string prefix;
  bool values = false;
  std::unique_ptr<Watch> watch;
  std::vector<WatchEvent> received;
};

std::string show(const Expected& e) {
  return std::string(e.type == Type::kPut ? "put " : "delete ") + e.path + " " + e.uuid + " @" +
         std::to_string(e.timestamp_ms);
}

std::string show(const WatchEvent& e) {
  if (e.type == Type::kResyncRequired) return "resync_required " + e.cursor;
  return std::string(e.type == Type::kPut ? "put " : "delete ") + e.path + " " + e.uuid + " @" +
         std::to_string(e.timestamp_ms);
}

class FeedModelRun {
 public:
  FeedModelRun(std::uint64_t seed, NodeFixture& fixture) : dice_(seed), f_(fixture), keys_(model_key_pool()) {
    for (auto [prefix, values] : {std::pair<const char*, bool>{"", true}, {"", false}, {"a", true}, {"users/", false},
                                  {"b/", true}, {"zzz", false}}) {
      Watcher watcher;
      watcher.prefix = prefix;
      watcher.values = values;
      watcher.watch = open(watcher, std::nullopt);
      watchers_.push_back(std::move(watcher));
    }
  }

  // Runs `ops` operations; returns the first problem, or an empty string.
  std::string run(int ops) {
    for (op_ = 0; op_ < ops; ++op_) {
      std::string problem = step();
      if (!problem.empty()) return "op " + std::to_string(op_) + ": " + problem;
    }
    for (auto& watcher : watchers_) {
      std::string problem = drain(watcher);
      if (!problem.empty()) return "final drain: " + problem;
    }
    for (const auto& watcher : watchers_) {
      std::string problem = compare(watcher);
      if (!problem.empty()) return problem;
    }
    return {};
  }

  std::map<std::string, int> counts;

 private:
  std::unique_ptr<Watch> open(const Watcher& watcher, std::optional<std::string> since) {
    WatchOptions options;
    options.prefix = watcher.prefix;
    options.values = watcher.values;
    options.since = std::move(since);
    auto watch = f_.node().watch(options);
    if (!watch.is_ok()) FAIL("watch: " << watch.status().to_string());
    return std::move(*watch);
  }

  std::string drain(Watcher& watcher) {
    for (;;) {
      std::vector<WatchEvent> out;
      auto got = watcher.watch->next(out, 1 + dice_.pick(40), milliseconds(0));
      if (!got.is_ok()) return "next: " + got.status().to_string();
      if (*got == 0) return {};
      for (auto& event : out) watcher.received.push_back(std::move(event));
    }
  }

  bool live(const std::string& key) const {
    auto it = model_.find(key);
    if (it == model_.end() || !it->second) return false;
    const ModelVersion& v = *it->second;
    return !v.deleted && !(v.expires_at_ms && *v.expires_at_ms <= f_.clock.now_ms());
  }

  std::string step() {
    std::uint64_t roll = dice_.pick(1000);
    if (roll < 300) return do_put();
    if (roll < 420) return do_remove();
    if (roll < 470) return do_set_meta();
    if (roll < 590) return do_peer();
    if (roll < 760) {
      f_.clock.advance(milliseconds(static_cast<std::int64_t>(dice_.pick(2500))));
      return {};
    }
    if (roll < 830) return do_sweep();
    if (roll < 930) return drain(watchers_[dice_.pick(watchers_.size())]);
    if (roll < 985) return do_resume(watchers_[dice_.pick(watchers_.size())]);
    return do_reopen();
  }

  std::string do_put() {
    const std::string& key = keys_[dice_.pick(keys_.size())];
    std::string json = R"({"op":)" + std::to_string(op_) +
                       (dice_.pick(4) == 0 ? R"(,"pad":")" + std::string(900, 'p') + "\"" : "") + "}";
    PutOptions options;
    if (dice_.pick(4) == 0) options.ttl = milliseconds(static_cast<std::int64_t>(1 + dice_.pick(4000)));
    if (dice_.pick(8) == 0) options.if_none_match = true;
    bool refused = options.if_none_match && live(key);
    auto result = f_.node().put(key, json, options);
    if (refused) {
      if (result.is_ok()) return "put " + key + " if_none_match over a live key succeeded";
      ++counts["put refused"];
      return {};
    }
    if (!result.is_ok()) return "put " + key + ": " + result.status().to_string();
    ModelVersion version{result->uuid, result->timestamp_ms, std::nullopt, false};
    if (options.ttl) version.expires_at_ms = result->timestamp_ms + options.ttl->count();
    model_[key] = version;
    expected_.push_back({Type::kPut, key, result->uuid, result->timestamp_ms, json});
    ++counts[options.ttl ? "put with ttl" : "put"];
    return {};
  }

  std::string do_remove() {
    const std::string& key = keys_[dice_.pick(keys_.size())];
    bool was_live = live(key);
    Status status = f_.node().remove(key);
    if (!was_live) {
      if (status.code() != Status::Code::kNotFound) return "remove " + key + ": expected not_found, got " + status.to_string();
      ++counts["remove absent"];
      return {};
    }
    if (!status.is_ok()) return "remove " + key + ": " + status.to_string();
    auto history = f_.node().history(key);
    if (!history.is_ok() || history->revisions.empty()) return "remove " + key + ": no history";
    const Revision& tombstone = history->revisions.front();
    model_[key] = ModelVersion{tombstone.uuid, tombstone.timestamp_ms, std::nullopt, true};
    expected_.push_back({Type::kDelete, key, tombstone.uuid, tombstone.timestamp_ms, {}});
    ++counts["remove"];
    return {};
  }

  std::string do_set_meta() {
    const std::string& key = keys_[dice_.pick(keys_.size())];
    if (!live(key)) return {};
    MetaUpdate update;
    update.permissions = static_cast<std::uint16_t>(0xF00 | dice_.pick(0x100));
    auto meta = f_.node().set_meta(key, update, {});
    if (!meta.is_ok()) return "set_meta " + key + ": " + meta.status().to_string();
    auto entry = f_.node().get(key);
    if (!entry.is_ok()) return "get after set_meta " + key + ": " + entry.status().to_string();
    model_[key] = ModelVersion{entry->uuid, entry->timestamp_ms, entry->expires_at_ms, false};
    expected_.push_back({Type::kPut, key, entry->uuid, entry->timestamp_ms, entry->data});
    ++counts["set_meta"];
    return {};
  }

  // A version from a peer: it wins when it is newer than what the node holds (timestamps are
  // never equal here, so the order is the timestamps').
  std::string do_peer() {
    const std::string& key = keys_[dice_.pick(keys_.size())];
    auto it = model_.find(key);
    const bool held = it != model_.end() && it->second.has_value();
    Version version;
    version.path = key;
    version.uuid = make_uuid_v4(f_.random);
    std::int64_t base = held ? it->second->timestamp_ms : f_.clock.now_ms();
    std::int64_t offset = static_cast<std::int64_t>(1 + dice_.pick(3000));
    version.timestamp_ms = dice_.pick(3) == 0 ? base - offset : base + offset;
    version.origin_node_id = "peer";
    version.origin_joined_ms = 1;
    version.deleted = dice_.pick(4) == 0;
    if (!version.deleted) version.data = R"({"peer":)" + std::to_string(op_) + "}";
    if (!version.deleted && dice_.pick(5) == 0) {
      version.expires_at_ms = version.timestamp_ms + static_cast<std::int64_t>(dice_.pick(5000));
    }
    const bool wins = !held || version.timestamp_ms > it->second->timestamp_ms;
    auto applied = f_.node().apply_version(version);
    if (!applied.is_ok()) return "apply_version " + key + ": " + applied.status().to_string();
    if (*applied != wins) return "apply_version " + key + ": applied=" + std::to_string(*applied);
    if (!wins) {
      ++counts["peer lost"];
      return {};
    }
    model_[key] = ModelVersion{version.uuid, version.timestamp_ms, version.expires_at_ms, version.deleted};
    expected_.push_back({version.deleted ? Type::kDelete : Type::kPut, key, version.uuid, version.timestamp_ms,
                         version.data});
    ++counts[version.deleted ? "peer tombstone" : "peer put"];
    return {};
  }

  // The sweeper expires keys oldest expiry first (then in key order), each a delete with the
  // expiry as timestamp, leaving a tombstone of the same write; then it purges tombstones older
  // than tombstone_ttl (an expiry's counted from its expiry), which are no change.
  std::string do_sweep() {
    const std::int64_t now = f_.clock.now_ms();
    std::vector<std::pair<std::int64_t, std::string>> expired;
    for (const auto& [key, version] : model_) {
      if (version && !version->deleted && version->expires_at_ms && *version->expires_at_ms <= now) {
        expired.emplace_back(*version->expires_at_ms, key);
      }
    }
    std::sort(expired.begin(), expired.end());
    for (const auto& [at, key] : expired) {
      expected_.push_back({Type::kDelete, key, model_[key]->uuid, at, {}});
      model_[key]->deleted = true;
    }
    for (auto& [key, version] : model_) {
      if (version && version->deleted &&
          std::max(version->timestamp_ms, version->expires_at_ms.value_or(version->timestamp_ms)) <=
              now - kTombstoneTtlMs) {
        version.reset();
      }
    }
    counts["expiries"] += static_cast<int>(expired.size());
    auto swept = f_.node().sweep_now();
    if (!swept.is_ok()) return "sweep_now: " + swept.status().to_string();
    return {};
  }

  std::string do_resume(Watcher& watcher) {
    if (dice_.pick(2) == 0) {
      std::string problem = drain(watcher);
      if (!problem.empty()) return problem;
    }
    std::string cursor = watcher.watch->cursor();
    watcher.watch = open(watcher, cursor);
    ++counts["resume"];
    return {};
  }

  // Open watches end with the node; each resumes from its cursor on the reopened node.
  std::string do_reopen() {
    std::vector<std::string> cursors;
    for (auto& watcher : watchers_) {
      if (dice_.pick(2) == 0) {
        std::string problem = drain(watcher);
        if (!problem.empty()) return problem;
      }
      cursors.push_back(watcher.watch->cursor());
    }
    f_.reopen();
    for (std::size_t i = 0; i < watchers_.size(); ++i) {
      std::vector<WatchEvent> out;
      if (watchers_[i].watch->next(out, 1, milliseconds(0)).status().code() != Status::Code::kUnavailable) {
        return "a watch of the closed node did not end";
      }
      watchers_[i].watch = open(watchers_[i], cursors[i]);
    }
    ++counts["reopen"];
    return {};
  }

  std::string compare(const Watcher& watcher) const {
    std::vector<const Expected*> want;
    for (const auto& e : expected_) {
      if (e.path.starts_with(watcher.prefix)) want.push_back(&e);
    }
    const std::string who = "watcher '" + watcher.prefix + "'" + (watcher.values ? " with values" : "");
    const std::size_t n = std::min(want.size(), watcher.received.size());
    for (std::size_t i = 0; i < n; ++i) {
      const WatchEvent& got = watcher.received[i];
      const Expected& e = *want[i];
      bool same = got.type == e.type && got.path == e.path && got.uuid == e.uuid && got.timestamp_ms == e.timestamp_ms;
      if (same && e.type == Type::kPut) same = watcher.values ? got.data == std::optional<std::string>(e.data) : !got.data;
      if (same && e.type == Type::kDelete) same = !got.data;
      if (same && i > 0) same = got.cursor > watcher.received[i - 1].cursor;
      if (!same) return who + ": event " + std::to_string(i) + " is " + show(got) + ", expected " + show(e);
    }
    if (watcher.received.size() != want.size()) {
      return who + ": " + std::to_string(watcher.received.size()) + " events, expected " + std::to_string(want.size());
    }
    return {};
  }

  ModelDice dice_;
  NodeFixture& f_;
  std::vector<std::string> keys_;
  std::map<std::string, std::optional<ModelVersion>> model_;  // nullopt: purged
  std::vector<Expected> expected_;
  std::vector<Watcher> watchers_;
  int op_ = 0;
};

void run_model(std::uint64_t seed, int ops) {
  INFO("seed " << seed << " (replay with KVS_SEED=" << seed << ")");
  NodeFixture fixture([](Config& config) {
    config.max_revisions = 2;
    config.tombstone_ttl = milliseconds(kTombstoneTtlMs);
  });
  FeedModelRun run(seed, fixture);
  std::string problem = run.run(ops);
  if (!problem.empty()) FAIL("seed " << seed << ": " << problem);
  // A run that never expired, resumed or reopened would prove little.
  CHECK(run.counts["expiries"] > 0);
  CHECK(run.counts["resume"] > 0);
  CHECK(run.counts["peer lost"] > 0);
  SUCCEED("seed " << seed << ": " << ops << " operations; every watcher agrees with the model:"
                   << model_summary(run.counts));
}

}  // namespace

TEST_CASE("the change feed agrees with a model of the applied changes", "[node][watch][model]") {
  run_model(model_seed_from_env(), model_ops_from_env(1500));
}

TEST_CASE("the change feed model test agrees on a fixed seed", "[node][watch][model]") {
  run_model(20261205, model_ops_from_env(1500));
}

}  // namespace kvs::test
