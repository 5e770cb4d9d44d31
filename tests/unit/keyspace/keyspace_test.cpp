// The commit pipeline: every kind of mutation reaches a registered observer exactly once, in
// commit order, with what it replaced; nothing reaches it for writes that did not happen or
// once its registration is gone. The TTL sweeper's expiries and purges go through the same
// pipeline.
//
// Not covered here: the Node's own observers (Merkle tree, push queue, auth cache, metrics);
// tests/unit/node and tests/unit/replication check what they hold after each kind of write.

#include "keyspace/keyspace.hpp"

#include <atomic>
#include <memory>
#include <thread>
#include <mutex>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "features/ttl_sweeper.hpp"
#include "support/manual_clock.hpp"
#include "support/temp_dir.hpp"
#include "support/versions.hpp"

namespace kvs::keyspace {
namespace {

struct Seen {
  Change::Kind kind;
  Origin origin;
  std::uint64_t sequence;
  std::string path;
  std::string uuid;
  std::string previous_uuid;  // empty: none
  std::string data;
  bool deleted;
};

class Recorder final : public Observer {
 public:
  void on_change(const Change& change) override {
    std::lock_guard lock(mutex_);
    seen_.push_back(Seen{change.kind, change.origin, change.sequence, change.version->path, change.version->uuid,
                         change.previous ? change.previous->uuid : std::string(), change.version->data,
                         change.version->deleted});
  }
  std::vector<Seen> seen() {
    std::lock_guard lock(mutex_);
    return seen_;
  }

 private:
  std::mutex mutex_;
  std::vector<Seen> seen_;
};

using kvs::test::make_version;

storage::Decide writes(Version version) {
  return [version](storage::WriteView&) -> Result<std::optional<Version>> { return std::optional<Version>(version); };
}

std::unique_ptr<Keyspace> open_keyspace(const test::TempDir& dir) {
  storage::StoreOptions options;
  options.dir = dir.path() / "data";
  auto keyspace = Keyspace::open(options);
  INFO(keyspace.status().to_string());
  REQUIRE(keyspace.is_ok());
  return std::move(*keyspace);
}

TEST_CASE("every kind of mutation reaches an observer exactly once, in commit order", "[keyspace]") {
  test::TempDir dir;
  auto keyspace = open_keyspace(dir);
  test::ManualClock clock;
  Recorder recorder;
  auto registration = keyspace->observe(recorder);

  // A local write, then a replicated one replacing it, then a batch from an import.
  REQUIRE(keyspace->write(Origin::kLocal, writes(make_version("a", "u1", 10, R"({"v":1})"))).is_ok());
  REQUIRE(keyspace->write(Origin::kPeer, writes(make_version("a", "u2", 20, R"({"v":2})"))).is_ok());
  std::vector<storage::Store::WriteRequest> batch(2);
  batch[0].decide = writes(make_version("b", "u3", 30, "[]"));
  batch[1].decide = writes(make_version("c", "u4", 30, "true"));
  for (const auto& outcome : keyspace->write_all(Origin::kImport, std::move(batch))) REQUIRE(outcome.is_ok());
  // An expired key, which the sweeper turns into a tombstone, and an old tombstone it purges.
  Version expiring = make_version("d", "u5", clock.now_ms(), "1");
  expiring.expires_at_ms = clock.now_ms() + 1000;
  REQUIRE(keyspace->write(Origin::kLocal, writes(expiring)).is_ok());
  Version tombstone = make_version("e", "u6", clock.now_ms() - 10'000, "");
  tombstone.deleted = true;
  REQUIRE(keyspace->write(Origin::kLocal, writes(tombstone)).is_ok());
  clock.advance(std::chrono::seconds(2));
  features::TtlSweeperOptions options;
  options.tombstone_ttl = std::chrono::seconds(5);
  features::TtlSweeper sweeper(*keyspace, clock, options);
  auto swept = sweeper.sweep_now();
  REQUIRE(swept.is_ok());
  CHECK(*swept == 2);

  auto seen = recorder.seen();
  REQUIRE(seen.size() == 8);
  CHECK((seen[0].origin == Origin::kLocal && seen[0].path == "a" && seen[0].previous_uuid.empty()));
  CHECK(seen[0].data == R"({"v":1})");
  CHECK((seen[1].origin == Origin::kPeer && seen[1].uuid == "u2" && seen[1].previous_uuid == "u1"));
  CHECK(seen[1].data == R"({"v":2})");
  CHECK((seen[2].origin == Origin::kImport && seen[2].path == "b"));
  CHECK((seen[3].origin == Origin::kImport && seen[3].path == "c"));
  for (std::size_t i = 0; i < 6; ++i) {
    CHECK(seen[i].kind == Change::Kind::kWrite);
    CHECK(seen[i].sequence == i + 1);  // the change sequence, in commit order
  }
  CHECK((seen[6].kind == Change::Kind::kWrite && seen[6].origin == Origin::kExpiry && seen[6].path == "d"));
  CHECK((seen[6].uuid == "u5" && seen[6].previous_uuid == "u5" && seen[6].deleted && seen[6].data.empty()));
  CHECK((seen[7].kind == Change::Kind::kPurge && seen[7].origin == Origin::kTombstonePurge && seen[7].path == "e"));
  // An expiry is a change (a delete in the change feed) and takes the next sequence number; a
  // tombstone purge changes nothing anyone sees and takes none.
  CHECK(seen[6].sequence == 7);
  CHECK(seen[7].sequence == 0);

  // A second sweep finds nothing, and tells nobody.
  REQUIRE(sweeper.sweep_now().is_ok());
  CHECK(recorder.seen().size() == 8);
}

TEST_CASE("writes that did not happen reach no observer", "[keyspace]") {
  test::TempDir dir;
  auto keyspace = open_keyspace(dir);
  Recorder recorder;
  auto registration = keyspace->observe(recorder);

  // A Decide that writes nothing, one that fails, and a purge of a uuid that is not current.
  auto nothing = keyspace->write(Origin::kPeer, [](storage::WriteView&) -> Result<std::optional<Version>> {
    return std::optional<Version>();
  });
  REQUIRE(nothing.is_ok());
  auto refused = keyspace->write(Origin::kLocal, [](storage::WriteView&) -> Result<std::optional<Version>> {
    return Status::precondition_failed("no");
  });
  CHECK(refused.status().code() == Status::Code::kPreconditionFailed);
  REQUIRE(keyspace->write(Origin::kLocal, writes(make_version("a", "u1", 10, "1"))).is_ok());
  auto purged = keyspace->purge(Origin::kExpiry, "a", "not-u1");
  REQUIRE(purged.is_ok());
  CHECK_FALSE(*purged);
  // Settings and audit-only entries write no version.
  REQUIRE(keyspace->put_meta("setting", "x").is_ok());

  auto seen = recorder.seen();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].uuid == "u1");
}

TEST_CASE("an observer whose registration is gone hears nothing more", "[keyspace]") {
  test::TempDir dir;
  auto keyspace = open_keyspace(dir);
  Recorder first, second;
  auto kept = keyspace->observe(first);
  {
    auto dropped = keyspace->observe(second);
    REQUIRE(keyspace->write(Origin::kLocal, writes(make_version("a", "u1", 10, "1"))).is_ok());
  }
  REQUIRE(keyspace->write(Origin::kLocal, writes(make_version("b", "u2", 10, "2"))).is_ok());
  CHECK(first.seen().size() == 2);
  CHECK(second.seen().size() == 1);
}

TEST_CASE("a write returns only after its observers have seen it", "[keyspace]") {
  test::TempDir dir;
  auto keyspace = open_keyspace(dir);
  Recorder recorder;
  auto registration = keyspace->observe(recorder);
  // Catch2's assertions are not thread-safe: the writers count what went wrong instead.
  std::atomic<int> failed_writes{0}, unseen_writes{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        std::string uuid = "u" + std::to_string(t) + "-" + std::to_string(i);
        if (!keyspace->write(Origin::kLocal, writes(make_version("k" + std::to_string(t), uuid, i + 1, "1")))
                 .is_ok()) {
          ++failed_writes;
          continue;
        }
        bool found = false;
        for (const auto& change : recorder.seen()) found = found || change.uuid == uuid;
        if (!found) ++unseen_writes;
      }
    });
  }
  for (auto& writer : writers) writer.join();
  CHECK(failed_writes == 0);
  CHECK(unseen_writes == 0);
  auto seen = recorder.seen();
  REQUIRE(seen.size() == 200);
  for (std::size_t i = 0; i < seen.size(); ++i) CHECK(seen[i].sequence == i + 1);
}

}  // namespace
}  // namespace kvs::keyspace
