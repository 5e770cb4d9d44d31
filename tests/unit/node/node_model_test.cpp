// A randomized test against a model: thousands of mixed operations (conditional puts, removes,
// TTL puts, gets, ranges, history reads, clock moves forwards and backwards, sweeps, reopens)
// run from one seed on a real node and on a std::map that follows SPEC section 1 literally; the
// results are compared after every operation. A failure prints its seed; KVS_SEED=<n> replays
// it, and KVS_MODEL_OPS=<n> changes the number of operations.

#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "kvs/node.hpp"
#include "support/model_run.hpp"
#include "support/node_fixture.hpp"

namespace kvs::test {
namespace {

using Code = Status::Code;
using std::chrono::milliseconds;

constexpr std::size_t kMaxRevisions = 5;
constexpr std::int64_t kTombstoneTtlMs = 20'000;

struct ModelVersion {
  std::string uuid;
  std::int64_t timestamp_ms = 0;
  std::string data;
  std::optional<std::int64_t> expires_at_ms;
  bool deleted = false;
};

struct ModelKey {
  std::optional<ModelVersion> current;  // what the node holds: tombstones and expired included
  std::deque<ModelVersion> revisions;   // newest first, at most kMaxRevisions
  std::uint64_t revision_count = 0;     // the number of the newest revision
  bool revision_numbers_known = true;   // false after a purge: numbering may restart
};

class Model {
 public:
  std::map<std::string, ModelKey> keys;
  std::int64_t now_ms = 0;

  bool live(const std::optional<ModelVersion>& v) const {
    return v && !v->deleted && !(v->expires_at_ms && *v->expires_at_ms <= now_ms);
  }
  bool live(const std::string& key) const {
    auto it = keys.find(key);
    return it != keys.end() && live(it->second.current);
  }
  std::int64_t stamp(const std::string& key) const {
    auto it = keys.find(key);
    if (it == keys.end() || !it->second.current) return now_ms;
    return std::max(now_ms, it->second.current->timestamp_ms + 1);
  }
  void write(const std::string& key, ModelVersion version) {
    ModelKey& entry = keys[key];
    entry.current = version;
    entry.revisions.push_front(std::move(version));
    if (entry.revisions.size() > kMaxRevisions) entry.revisions.pop_back();
    ++entry.revision_count;
  }
  std::size_t sweep() {
    std::size_t purged = 0;
    for (auto it = keys.begin(); it != keys.end();) {  // NOLINT: advanced at the end
      auto& current = it->second.current;
      bool expired = current && !current->deleted && current->expires_at_ms && *current->expires_at_ms <= now_ms;
      if (expired) {
        // The expired write becomes its own tombstone (a new revision), expiry kept.
        ++purged;
        ModelVersion tombstone = *current;
        tombstone.deleted = true;
        tombstone.data.clear();
        write(it->first, std::move(tombstone));
      }
      // A tombstone's age counts from its expiry when it has one (an expiry's tombstone).
      bool old_tombstone = current && current->deleted &&
                           std::max(current->timestamp_ms, current->expires_at_ms.value_or(current->timestamp_ms)) <=
                               now_ms - kTombstoneTtlMs;
      if (old_tombstone) {
        ++purged;
        // The store drops a purged key's revisions with it; a later write may number afresh.
        current.reset();
        it->second.revisions.clear();
        it->second.revision_numbers_known = false;
      }
      ++it;
    }
    return purged;
  }
};

std::string describe(const Status& status) { return status.to_string(); }

class ModelRun {
 public:
  ModelRun(std::uint64_t seed, NodeFixture& fixture) : dice_(seed), fixture_(fixture), pool_(model_key_pool()) {
    model_.now_ms = fixture.clock.now_ms();
  }

  // Runs `ops` operations; returns the first mismatch, or an empty string.
  std::string run(int ops) {
    for (op_ = 0; op_ < ops; ++op_) {
      std::string mismatch = step();
      if (mismatch.empty() && op_ % 250 == 249) mismatch = compare_everything();
      if (!mismatch.empty()) return "op " + std::to_string(op_) + ": " + mismatch + "\nlast operations:\n" + recent();
    }
    std::string mismatch = compare_everything();
    return mismatch.empty() ? mismatch : "final: " + mismatch;
  }

 private:
  void note(std::string text) {
    log_.push_back(std::to_string(op_) + " @" + std::to_string(model_.now_ms) + " " + std::move(text));
    if (log_.size() > 25) log_.pop_front();
  }
  std::string recent() const {
    std::string text;
    for (const auto& line : log_) text += "  " + line + "\n";
    return text;
  }

  const std::string& some_key() { return pool_[dice_.pick(pool_.size())]; }

  // The key as a client might spell it: sometimes with slashes to strip.
  std::string spelled(const std::string& key) {
    switch (dice_.pick(10)) {
      case 0: return "/" + key;
      case 1: return key + "/";
      default: return key;
    }
  }

  std::string some_document() {
    std::string json = "{\"op\":" + std::to_string(op_);
    switch (dice_.pick(6)) {
      case 0: json += ",\"pad\":\"" + std::string(dice_.pick(3000), 'p') + "\""; break;
      case 1: {  // large and compressible
        json += ",\"rows\":[";
        for (std::uint64_t i = 0, n = 500 + dice_.pick(2000); i < n; ++i) json += (i ? "," : "") + std::string("{\"row\":\"same\"}");
        json += "]";
        break;
      }
      case 2: json += " , \"spaced\" : [ 1 , 2 ]  "; break;
      default: break;
    }
    return json + "}";
  }

  std::optional<std::string> some_uuid_for(const std::string& key) {
    auto it = model_.keys.find(key);
    switch (dice_.pick(4)) {
      case 0:
      case 1:
        if (it != model_.keys.end() && it->second.current) return it->second.current->uuid;
        break;
      case 2:
        if (it != model_.keys.end() && it->second.revisions.size() > 1) {
          return it->second.revisions[1 + dice_.pick(it->second.revisions.size() - 1)].uuid;
        }
        break;
      default: break;
    }
    return "00000000-0000-4000-8000-" + std::to_string(100000000000 + dice_.pick(899999999999));
  }

  std::string step() {
    std::uint64_t roll = dice_.pick(1000);
    if (roll < 320) return do_put();
    if (roll < 430) return do_remove();
    if (roll < 640) return do_get();
    if (roll < 760) return do_range();
    if (roll < 800) return do_history();
    if (roll < 955) return do_advance(milliseconds(static_cast<std::int64_t>(dice_.pick(2000))));
    if (roll < 970) return do_advance(-milliseconds(static_cast<std::int64_t>(1 + dice_.pick(3000))));
    if (roll < 995) return do_sweep();
    return do_reopen();
  }

  std::string do_put() {
    const std::string key = some_key();
    const std::string spelling = spelled(key);
    const std::string json = some_document();
    PutOptions options;
    std::uint64_t condition = dice_.pick(10);
    if (condition < 2) options.if_match = some_uuid_for(key);
    if (condition == 2) options.if_none_match = true;
    if (dice_.chance(0.25)) {
      options.ttl = milliseconds(dice_.chance(0.2) ? 0 : static_cast<std::int64_t>(1 + dice_.pick(3000)));
    }
    note("put " + spelling + " (" + std::to_string(json.size()) + " bytes)" +
         (options.if_match ? " if_match=" + *options.if_match : "") + (options.if_none_match ? " if_none_match" : "") +
         (options.ttl ? " ttl=" + std::to_string(options.ttl->count()) : ""));

    auto result = fixture_.node().put(spelling, json, options);
    bool live = model_.live(key);
    const auto& current = model_.keys[key].current;
    bool refused = (options.if_none_match && live) ||
                   (options.if_match && (!live || current->uuid != *options.if_match));
    if (refused) {
      if (result.is_ok() || result.status().code() != Code::kPreconditionFailed) {
        return "put " + key + ": expected precondition_failed, got " +
               (result.is_ok() ? std::string("ok") : describe(result.status()));
      }
      ++counts["put refused"];
      return {};
    }
    if (!result.is_ok()) return "put " + key + ": expected ok, got " + describe(result.status());
    ModelVersion version;
    version.uuid = result->uuid;
    version.timestamp_ms = model_.stamp(key);
    version.data = json;
    if (options.ttl && options.ttl->count() > 0) version.expires_at_ms = version.timestamp_ms + options.ttl->count();
    if (result->timestamp_ms != version.timestamp_ms) {
      return "put " + key + ": timestamp " + std::to_string(result->timestamp_ms) + ", expected " +
             std::to_string(version.timestamp_ms);
    }
    ++counts[options.ttl && options.ttl->count() > 0 ? "put with ttl" : "put"];
    model_.write(key, std::move(version));
    return {};
  }

  std::string do_remove() {
    const std::string key = some_key();
    RemoveOptions options;
    if (dice_.chance(0.3)) options.if_match = some_uuid_for(key);
    note("remove " + key + (options.if_match ? " if_match=" + *options.if_match : ""));
    Status status = fixture_.node().remove(spelled(key), options);
    Code expected = Code::kOk;
    if (!model_.live(key)) {
      expected = Code::kNotFound;
    } else if (options.if_match && model_.keys[key].current->uuid != *options.if_match) {
      expected = Code::kPreconditionFailed;
    }
    ++counts[expected == Code::kOk ? "remove" : "remove refused"];
    if (status.code() != expected) {
      return "remove " + key + ": expected " + std::string(Status::code_name(expected)) + ", got " + describe(status);
    }
    if (expected == Code::kOk) {
      ModelVersion tombstone;
      tombstone.timestamp_ms = model_.stamp(key);
      tombstone.deleted = true;
      // The uuid is not returned; take it from the node, and check the rest against the model.
      auto history = fixture_.node().history(key);
      if (!history.is_ok() || history->revisions.empty()) return "remove " + key + ": no history after remove";
      const Revision& newest = history->revisions.front();
      if (!newest.deleted || newest.timestamp_ms != tombstone.timestamp_ms) {
        return "remove " + key + ": newest revision deleted=" + std::to_string(newest.deleted) + " timestamp " +
               std::to_string(newest.timestamp_ms) + ", expected a tombstone at " +
               std::to_string(tombstone.timestamp_ms);
      }
      tombstone.uuid = newest.uuid;
      model_.write(key, std::move(tombstone));
    }
    return {};
  }

  std::string check_get(const std::string& key) {
    auto result = fixture_.node().get(spelled(key));
    auto it = model_.keys.find(key);
    if (it == model_.keys.end() || !model_.live(it->second.current)) {
      if (result.is_ok()) return "get " + key + ": expected not_found, got uuid " + result->uuid;
      if (result.status().code() != Code::kNotFound) return "get " + key + ": expected not_found, got " + describe(result.status());
      return {};
    }
    const ModelVersion& want = *it->second.current;
    if (!result.is_ok()) return "get " + key + ": expected uuid " + want.uuid + ", got " + describe(result.status());
    if (result->path != key) return "get " + key + ": path " + result->path;
    if (result->uuid != want.uuid) return "get " + key + ": uuid " + result->uuid + ", expected " + want.uuid;
    if (result->timestamp_ms != want.timestamp_ms) return "get " + key + ": timestamp " + std::to_string(result->timestamp_ms);
    if (result->data != want.data) return "get " + key + ": data differs (" + std::to_string(result->data.size()) + " bytes)";
    if (result->expires_at_ms != want.expires_at_ms) return "get " + key + ": expires_at differs";
    return {};
  }

  std::string do_get() {
    const std::string key = some_key();
    note("get " + key);
    ++counts[model_.live(key) ? "get found" : "get absent"];
    return check_get(key);
  }

  std::string do_range() {
    RangeQuery query;
    if (dice_.chance(0.5)) query.start_key = some_key();
    if (dice_.chance(0.4)) query.end_key = some_key();
    if (dice_.chance(0.3)) {
      const std::string& key = some_key();
      query.prefix = key.substr(0, 1 + dice_.pick(key.size()));
    }
    query.limit = 1 + dice_.pick(dice_.chance(0.8) ? 8 : 40);
    query.values = dice_.chance(0.5);
    if (dice_.chance(0.35)) query.delimiter = "/";
    note("range start=" + query.start_key + " end=" + query.end_key + " prefix=" + query.prefix +
         " limit=" + std::to_string(query.limit) + (query.values ? " values" : "") +
         (query.delimiter.empty() ? "" : " delimiter=/"));

    // The page as a list of entries: an item (a key) or, with the delimiter, a rolled-up prefix
    // (listed once, at the first key under it). `first_key` is where a page starting at the
    // entry resumes.
    struct Entry {
      std::string first_key;
      std::optional<std::string> rolled_up;
    };
    std::vector<Entry> entries;
    for (const auto& [key, entry] : model_.keys) {
      if (!model_.live(entry.current)) continue;
      if (key < query.start_key) continue;
      if (!query.end_key.empty() && key >= query.end_key) continue;
      if (key.compare(0, query.prefix.size(), query.prefix) != 0) continue;
      std::size_t slash = query.delimiter.empty() ? std::string::npos : key.find('/', query.prefix.size());
      if (slash == std::string::npos) {
        entries.push_back({key, std::nullopt});
        continue;
      }
      std::string rolled_up = key.substr(0, slash + 1);
      if (entries.empty() || entries.back().rolled_up != rolled_up) entries.push_back({key, rolled_up});
    }
    auto result = fixture_.node().range(query);
    if (!result.is_ok()) return "range: " + describe(result.status());
    const std::size_t expected = std::min(entries.size(), query.limit);
    ++counts[expected == 0 ? "range empty" : entries.size() > query.limit ? "range paged" : "range"];
    if (!query.delimiter.empty()) ++counts["range one level"];
    std::vector<std::string> want_items;
    std::vector<std::string> want_prefixes;
    for (std::size_t i = 0; i < expected; ++i) {
      if (entries[i].rolled_up) want_prefixes.push_back(*entries[i].rolled_up); else want_items.push_back(entries[i].first_key);
    }
    if (result->prefixes != want_prefixes) {
      return "range: " + std::to_string(result->prefixes.size()) + " prefixes, expected " + std::to_string(want_prefixes.size());
    }
    if (result->items.size() != want_items.size()) {
      return "range: " + std::to_string(result->items.size()) + " items, expected " + std::to_string(want_items.size());
    }
    for (std::size_t i = 0; i < want_items.size(); ++i) {
      const RangeItem& item = result->items[i];
      const ModelVersion& want = *model_.keys[want_items[i]].current;
      if (item.path != want_items[i]) return "range item " + std::to_string(i) + ": path " + item.path + ", expected " + want_items[i];
      if (item.uuid != want.uuid || item.timestamp_ms != want.timestamp_ms) return "range item " + item.path + ": version differs";
      if (query.values != item.data.has_value()) return "range item " + item.path + ": data presence differs";
      if (item.data && *item.data != want.data) return "range item " + item.path + ": data differs";
    }
    std::optional<std::string> next;
    if (entries.size() > query.limit) next = entries[query.limit].first_key;
    if (result->next_start_key != next) {
      return "range: next_start_key '" + result->next_start_key.value_or("<none>") + "', expected '" +
             next.value_or("<none>") + "'";
    }
    return {};
  }

  std::string do_history() {
    const std::string key = some_key();
    note("history " + key);
    auto result = fixture_.node().history(key);
    auto it = model_.keys.find(key);
    if (it == model_.keys.end() || it->second.revisions.empty()) {
      if (result.is_ok()) return "history " + key + ": expected not_found, got " + std::to_string(result->revisions.size()) + " revisions";
      if (result.status().code() != Code::kNotFound) return "history " + key + ": " + describe(result.status());
      return {};
    }
    if (!result.is_ok()) return "history " + key + ": " + describe(result.status());
    const auto& want = it->second.revisions;
    if (result->revisions.size() != want.size()) {
      return "history " + key + ": " + std::to_string(result->revisions.size()) + " revisions, expected " +
             std::to_string(want.size());
    }
    for (std::size_t i = 0; i < want.size(); ++i) {
      const Revision& got = result->revisions[i];
      if (got.uuid != want[i].uuid || got.timestamp_ms != want[i].timestamp_ms || got.deleted != want[i].deleted) {
        return "history " + key + ": revision " + std::to_string(i) + " differs";
      }
      if (got.data != (want[i].deleted ? std::nullopt : std::optional<std::string>(want[i].data))) {
        return "history " + key + ": revision " + std::to_string(i) + " data differs";
      }
      if (got.revision != result->revisions[0].revision - i) return "history " + key + ": revision numbers not consecutive";
    }
    if (it->second.revision_numbers_known && result->revisions[0].revision != it->second.revision_count) {
      return "history " + key + ": newest revision " + std::to_string(result->revisions[0].revision) + ", expected " +
             std::to_string(it->second.revision_count);
    }
    // get_revision agrees with history.
    const Revision& newest = result->revisions[0];
    auto one = fixture_.node().get_revision(key, newest.revision);
    if (newest.deleted) {
      if (one.is_ok() || one.status().code() != Code::kNotFound) return "get_revision " + key + ": a tombstone must be not_found";
    } else if (!one.is_ok() || one->uuid != newest.uuid || one->data != *newest.data) {
      return "get_revision " + key + ": differs from history";
    }
    return {};
  }

  std::string do_advance(milliseconds by) {
    note("clock " + std::to_string(by.count()) + "ms");
    fixture_.clock.advance(by);
    model_.now_ms = fixture_.clock.now_ms();
    return {};
  }

  std::string do_sweep() {
    note("sweep_now");
    auto swept = fixture_.node().sweep_now();
    if (!swept.is_ok()) return "sweep_now: " + describe(swept.status());
    std::size_t expected = model_.sweep();
    counts["swept versions"] += static_cast<int>(expected);
    if (*swept != expected) return "sweep_now purged " + std::to_string(*swept) + ", expected " + std::to_string(expected);
    return compare_everything();
  }

  std::string do_reopen() {
    note("reopen");
    ++counts["reopen"];
    fixture_.reopen();
    return compare_everything();
  }

  // Every stored version against the model, and every key through get.
  std::string compare_everything() {
    std::map<std::string, Version> stored;
    Status scanned = fixture_.node().export_versions([&](const Version& v) {
      stored.emplace(v.path, v);
      return true;
    });
    if (!scanned.is_ok()) return "export_versions: " + describe(scanned);
    for (const auto& [key, entry] : model_.keys) {
      if (!entry.current) continue;
      auto it = stored.find(key);
      if (it == stored.end()) return "export: " + key + " missing";
      const Version& got = it->second;
      const ModelVersion& want = *entry.current;
      if (got.uuid != want.uuid || got.timestamp_ms != want.timestamp_ms || got.deleted != want.deleted ||
          got.expires_at_ms != want.expires_at_ms || (!want.deleted && got.data != want.data)) {
        return "export: " + key + " differs (deleted " + std::to_string(got.deleted) + " vs " +
               std::to_string(want.deleted) + ")";
      }
      stored.erase(it);
    }
    if (!stored.empty()) return "export: unexpected key " + stored.begin()->first;
    for (const auto& key : pool_) {
      std::string mismatch = check_get(key);
      if (!mismatch.empty()) return mismatch;
    }
    return {};
  }

  ModelDice dice_;
  NodeFixture& fixture_;

 public:
  // What the run did, for the report: a model test that only ever refused would prove little.
  std::map<std::string, int> counts;

 private:
  Model model_;
  std::vector<std::string> pool_;
  std::deque<std::string> log_;
  int op_ = 0;
};

void run_model(std::uint64_t seed, int ops) {
  INFO("seed " << seed << " (replay with KVS_SEED=" << seed << ")");
  NodeFixture fixture([](Config& config) {
    config.max_revisions = kMaxRevisions;
    config.tombstone_ttl = milliseconds(kTombstoneTtlMs);
  });
  ModelRun run(seed, fixture);
  std::string mismatch = run.run(ops);
  if (!mismatch.empty()) FAIL("seed " << seed << ": " << mismatch);
  CHECK(run.counts["range one level"] > 0);
  SUCCEED("seed " << seed << ": " << ops << " operations agree with the model:" << model_summary(run.counts));
}

}  // namespace

TEST_CASE("thousands of random operations agree with an in-memory model", "[node][model]") {
  run_model(model_seed_from_env(), model_ops_from_env(3000));
}

TEST_CASE("the model test agrees on a fixed seed", "[node][model]") {
  run_model(20261126, model_ops_from_env(1500));
}

}  // namespace kvs::test
