// The overlay of a held write transaction (storage/lmdb_env.hpp): read transactions merge the
// batches committed into the held transaction over their LMDB snapshot. Checked against a
// model (a std::map per reader) for gets, whole scans both ways, seeks, and random walks that
// turn round, with deletes hiding LMDB's entries and batches published after a reader began
// staying invisible to it.

#include <algorithm>
#include <atomic>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "storage/lmdb_env.hpp"
#include "support/temp_dir.hpp"

namespace kvs::storage::test {
namespace {

using kvs::test::TempDir;
using Model = std::map<std::string, std::string>;

struct Held {
  TempDir dir{"kvs-overlay"};
  std::unique_ptr<lmdb::Env> env;
  lmdb::Dbi dbi = 0;
  lmdb::Dbi other = 0;  // a database the batches never touch: read from LMDB alone
  lmdb::WriteTxn held;
  std::shared_ptr<lmdb::Overlay> overlay;
  Model model;  // what a reader beginning now must see in `dbi`

  // Commits `base` to LMDB, then holds a transaction open on top of it.
  explicit Held(const Model& base) : model(base) {
    auto opened = lmdb::Env::open(dir.path(), std::size_t{64} << 20);
    REQUIRE(opened.is_ok());
    env = std::move(*opened);
    lmdb::WriteTxn txn;
    REQUIRE(txn.begin(*env).is_ok());
    dbi = *txn.open_db("items");
    other = *txn.open_db("other");
    for (const auto& [key, value] : base) REQUIRE(txn.put(dbi, key, value, lmdb::What{"item"}).is_ok());
    REQUIRE(txn.put(other, "k", "untouched", lmdb::What{"other"}).is_ok());
    REQUIRE(txn.commit().is_ok());
    REQUIRE(held.begin(*env).is_ok());
    overlay = std::make_shared<lmdb::Overlay>(held.id() - 1);
    env->set_overlay(overlay);
  }

  // One batch: a nested transaction of puts (value) and deletes (nullopt), committed into the
  // held one and published, as the writer does.
  void batch(const std::vector<std::pair<std::string, std::optional<std::string>>>& changes) {
    std::vector<lmdb::Change> staged;
    lmdb::WriteTxn txn;
    REQUIRE(txn.begin_nested(held).is_ok());
    txn.stage_into(&staged);
    for (const auto& [key, value] : changes) {
      if (value) {
        REQUIRE(txn.put(dbi, key, *value, lmdb::What{"item"}).is_ok());
        model[key] = *value;
      } else {
        REQUIRE(txn.del(dbi, key, lmdb::What{"item"}).is_ok());
        model.erase(key);
      }
    }
    REQUIRE(txn.commit().is_ok());
    overlay->publish(staged);
  }

  void commit() {
    REQUIRE(held.commit().is_ok());
    env->set_overlay(nullptr);
    overlay.reset();
  }
};

// The value a get finds at `key`; nullopt when there is none.
std::optional<std::string> value_at(const lmdb::ReadTxn& txn, lmdb::Dbi dbi, std::string_view key) {
  auto got = txn.get(dbi, key, lmdb::What{"item"});
  REQUIRE(got.is_ok());
  if (!got->has_value()) return std::nullopt;
  return std::string(**got);
}

// Every entry a cursor reaches from one end to the other, in the order it reaches them.
std::vector<std::pair<std::string, std::string>> scan(const lmdb::ReadTxn& txn, lmdb::Dbi dbi, bool forward) {
  std::vector<std::pair<std::string, std::string>> out;
  lmdb::Cursor cursor;
  REQUIRE(cursor.open(txn, dbi, "items").is_ok());
  for (bool at = forward ? cursor.first() : cursor.last(); at; at = forward ? cursor.next() : cursor.prev()) {
    out.emplace_back(cursor.key(), cursor.value());
  }
  REQUIRE_FALSE(cursor.failed());
  return out;
}
std::vector<std::pair<std::string, std::string>> scan_forward(const lmdb::ReadTxn& txn, lmdb::Dbi dbi) {
  return scan(txn, dbi, true);
}
std::vector<std::pair<std::string, std::string>> scan_backward(const lmdb::ReadTxn& txn, lmdb::Dbi dbi) {
  return scan(txn, dbi, false);
}

std::vector<std::pair<std::string, std::string>> forward_of(const Model& model) { return {model.begin(), model.end()}; }
std::vector<std::pair<std::string, std::string>> backward_of(const Model& model) {
  return {model.rbegin(), model.rend()};
}

// The model's answer to a cursor at `key` (nullopt: off either end).
std::optional<std::pair<std::string, std::string>> entry(const Model& model, Model::const_iterator it) {
  if (it == model.end()) return std::nullopt;
  return *it;
}

std::optional<std::pair<std::string, std::string>> cursor_entry(const lmdb::Cursor& cursor, bool at) {
  if (!at) return std::nullopt;
  return std::make_pair(std::string(cursor.key()), std::string(cursor.value()));
}

// Every read a reader can make, checked against `model`.
void check_reader(const lmdb::ReadTxn& txn, lmdb::Dbi dbi, const Model& model, std::mt19937& random) {
  for (int i = 0; i < 60; ++i) {
    const std::string key = "k" + std::to_string(random() % 70);
    auto got = txn.get(dbi, key, lmdb::What{"item"});
    REQUIRE(got.is_ok());
    auto expected = model.find(key);
    INFO("get " << key);
    if (expected == model.end()) {
      CHECK_FALSE(got->has_value());
    } else {
      REQUIRE(got->has_value());
      CHECK(**got == expected->second);
    }
  }
  CHECK(scan_forward(txn, dbi) == forward_of(model));
  CHECK(scan_backward(txn, dbi) == backward_of(model));

  // Random walks: a seek or seek_before, then next and prev in any order.
  for (int walk = 0; walk < 40; ++walk) {
    lmdb::Cursor cursor;
    REQUIRE(cursor.open(txn, dbi, "items").is_ok());
    const std::string target = "k" + std::to_string(random() % 70) + (random() % 2 == 0 ? "" : "5");
    bool at = false;
    Model::const_iterator it;
    if (random() % 2 == 0) {
      at = cursor.seek(target);
      it = model.lower_bound(target);
    } else {
      at = cursor.seek_before(target);
      it = model.lower_bound(target);
      it = it == model.begin() ? model.end() : std::prev(it);
    }
    INFO("walk " << walk << " from " << target);
    REQUIRE(cursor_entry(cursor, at) == entry(model, it));
    for (int step = 0; step < 12 && it != model.end(); ++step) {
      if (random() % 2 == 0) {
        at = cursor.next();
        ++it;
      } else {
        at = cursor.prev();
        it = it == model.begin() ? model.end() : std::prev(it);
      }
      INFO("step " << step);
      REQUIRE(cursor_entry(cursor, at) == entry(model, it));
    }
  }
}

}  // namespace

TEST_CASE("readers see the held transaction's batches merged over LMDB, as of when they began", "[storage][lmdb]") {
  std::mt19937 random(GENERATE(1u, 2u, 3u, 4u, 5u));
  Model base;
  for (int i = 0; i < 70; i += 2) base["k" + std::to_string(i)] = "base" + std::to_string(i);
  Held held(base);

  // Readers begun along the way, each with the model as it stood then.
  std::vector<std::pair<std::unique_ptr<lmdb::ReadTxn>, Model>> readers;
  auto begin_reader = [&] {
    auto txn = std::make_unique<lmdb::ReadTxn>(*held.env);
    REQUIRE(txn->begin().is_ok());
    readers.emplace_back(std::move(txn), held.model);
  };
  begin_reader();  // before any batch: LMDB alone
  for (int b = 0; b < 12; ++b) {
    std::vector<std::pair<std::string, std::optional<std::string>>> changes;
    const int count = 1 + static_cast<int>(random() % 8);
    for (int c = 0; c < count; ++c) {
      const std::string key = "k" + std::to_string(random() % 70);
      if (random() % 3 == 0) {
        changes.emplace_back(key, std::nullopt);
      } else {
        changes.emplace_back(key, "b" + std::to_string(b) + "c" + std::to_string(c));
      }
    }
    held.batch(changes);
    if (b % 3 == 1) begin_reader();
  }
  begin_reader();

  for (auto& [txn, model] : readers) check_reader(*txn, held.dbi, model, random);
  {
    // A database no batch touched reads from LMDB alone.
    lmdb::ReadTxn txn(*held.env);
    REQUIRE(txn.begin().is_ok());
    CHECK(value_at(txn, held.other, "k") == "untouched");
    Model other{{"k", "untouched"}};
    CHECK(scan_forward(txn, held.other) == forward_of(other));
  }

  // Committed: LMDB alone now holds what the overlay showed; the old readers keep theirs.
  const Model final_model = held.model;
  held.commit();
  lmdb::ReadTxn after(*held.env);
  REQUIRE(after.begin().is_ok());
  check_reader(after, held.dbi, final_model, random);
  for (auto& [txn, model] : readers) CHECK(scan_forward(*txn, held.dbi) == forward_of(model));
}

TEST_CASE("a reader whose snapshot is newer than the overlay's base reads LMDB alone", "[storage][lmdb]") {
  Held held(Model{{"a", "0"}});
  held.batch({{"a", "x"}});
  // The held transaction commits, and LMDB moves on past it, while the overlay is still up
  // (a reader may find it between the commit and its removal): the snapshot is the newer state.
  REQUIRE(held.held.commit().is_ok());
  lmdb::WriteTxn later;
  REQUIRE(later.begin(*held.env).is_ok());
  REQUIRE(later.put(held.dbi, "a", "y", lmdb::What{"item"}).is_ok());
  REQUIRE(later.commit().is_ok());
  lmdb::ReadTxn txn(*held.env);
  REQUIRE(txn.begin().is_ok());
  CHECK(value_at(txn, held.dbi, "a") == "y");
  CHECK(scan_forward(txn, held.dbi) == forward_of(Model{{"a", "y"}}));
  held.env->set_overlay(nullptr);
}

TEST_CASE("readers racing the writer see whole batches and never go back", "[storage][lmdb]") {
  // Every batch sets all keys to its own number; the writer commits its held transaction and
  // begins another every few batches, as storage::Writer does. A reader's snapshot must show
  // one number for every key (one batch, whole), by get and by cursor alike, and a later
  // snapshot never an older number.
  constexpr int kKeys = 20;
  constexpr int kBatches = 300;
  TempDir dir{"kvs-overlay-race"};
  auto opened = lmdb::Env::open(dir.path(), std::size_t{64} << 20);
  REQUIRE(opened.is_ok());
  std::unique_ptr<lmdb::Env> env = std::move(*opened);
  lmdb::Dbi dbi = 0;
  auto key_of = [](int k) { return "k" + std::to_string(100 + k); };
  {
    lmdb::WriteTxn txn;
    REQUIRE(txn.begin(*env).is_ok());
    dbi = *txn.open_db("items");
    for (int k = 0; k < kKeys; ++k) REQUIRE(txn.put(dbi, key_of(k), "0", lmdb::What{"item"}).is_ok());
    REQUIRE(txn.commit().is_ok());
  }
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::thread writer([&] {
    lmdb::WriteTxn held;
    std::shared_ptr<lmdb::Overlay> overlay;
    for (int b = 1; b <= kBatches; ++b) {
      if (!held.active()) {
        if (!held.begin(*env).is_ok()) ++failures;
        overlay = std::make_shared<lmdb::Overlay>(held.id() - 1);
        env->set_overlay(overlay);
      }
      std::vector<lmdb::Change> staged;
      lmdb::WriteTxn txn;
      if (!txn.begin_nested(held).is_ok()) ++failures;
      txn.stage_into(&staged);
      for (int k = 0; k < kKeys; ++k) {
        if (!txn.put(dbi, key_of(k), std::to_string(b), lmdb::What{"item"}).is_ok()) ++failures;
      }
      if (!txn.commit().is_ok()) ++failures;
      overlay->publish(staged);
      if (b % 7 == 0) {
        if (!held.commit().is_ok()) ++failures;
        env->set_overlay(nullptr);
      }
    }
    if (held.active() && !held.commit().is_ok()) ++failures;
    env->set_overlay(nullptr);
    done = true;
  });
  auto reader = [&] {
    int last = 0;
    while (!done) {
      lmdb::ReadTxn txn(*env);
      if (!txn.begin().is_ok()) {
        ++failures;
        return;
      }
      lmdb::Cursor cursor;
      if (!cursor.open(txn, dbi, "items").is_ok()) ++failures;
      std::vector<std::string> values;
      for (bool at = cursor.first(); at; at = cursor.next()) values.emplace_back(cursor.value());
      auto got = txn.get(dbi, key_of(kKeys / 2), lmdb::What{"item"});
      const bool whole = values.size() == static_cast<std::size_t>(kKeys) &&
                         std::all_of(values.begin(), values.end(), [&](const std::string& v) { return v == values[0]; });
      if (!whole || !got.is_ok() || !got->has_value() || **got != values[0] || std::stoi(values[0]) < last) {
        ++failures;
        return;
      }
      last = std::stoi(values[0]);
    }
  };
  std::thread reader_a(reader);
  std::thread reader_b(reader);
  writer.join();
  reader_a.join();
  reader_b.join();
  CHECK(failures == 0);
  lmdb::ReadTxn txn(*env);
  REQUIRE(txn.begin().is_ok());
  auto got = txn.get(dbi, key_of(0), lmdb::What{"item"});
  REQUIRE(got.is_ok());
  CHECK(*got == std::optional<std::string_view>(std::to_string(kBatches)));
}

}  // namespace kvs::storage::test
