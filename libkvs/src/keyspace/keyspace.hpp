#pragma once

// keyspace::Keyspace: the commit pipeline. It owns the node's Store and is the only way a
// version is committed or purged, whatever the mutation's origin: a local write, a version
// from a peer or an import, an expiry (the sweeper writes the expired version's tombstone) or a
// tombstone purge by the sweeper. Everything that must follow storage (the Merkle index, the
// push queues, the auth cache, the metrics, the change feed) registers an Observer once, at
// open, and is then told of every committed mutation exactly once, in the writer's order. No
// other code calls an observer.
//
// Threading: every method is safe from any thread. Observers run on the store's writer thread
// after the batch holding the mutation is durable and before the call that made it returns,
// so a caller that wrote sees its observers up to date. An observer must be quick, must not
// throw and must not write to the keyspace (that would wait for itself).

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "kvs/status.hpp"
#include "kvs/version.hpp"
#include "storage/store.hpp"
#include "util/thread_annotations.hpp"

namespace kvs::keyspace {

// Where a mutation comes from. Append-only: the value travels through the store as a tag.
enum class Origin : std::uint8_t {
  kLocal = 0,           // a client or the embedding application, on this node
  kPeer = 1,            // a version replicated from another node (push, anti-entropy, bootstrap)
  kImport = 2,          // `kvs-server import`
  kExpiry = 3,          // the sweeper wrote an expired version's tombstone (before: purged it)
  kTombstonePurge = 4,  // the sweeper purged a tombstone older than tombstone_ttl
};

// "local", "peer", "import", "expiry", "tombstone_purge".
std::string_view to_string(Origin origin) noexcept;

// One committed mutation.
struct Change {
  enum class Kind : std::uint8_t { kWrite, kPurge };
  Kind kind = Kind::kWrite;
  Origin origin = Origin::kLocal;
  std::uint64_t sequence = 0;         // the change sequence number; for a purge, a live
                                      // version's (Store::purge), 0 for a tombstone purge
  const Version* previous = nullptr;  // kWrite: the version replaced, tombstones included, or
                                      // null; its metadata only (`data` is empty)
  const Version* version = nullptr;   // kWrite: the version written, with its document;
                                      // kPurge: the version removed, metadata only
};

class Observer {
 public:
  virtual ~Observer() = default;
  // One committed mutation. See the threading note above.
  virtual void on_change(const Change& change) = 0;
};

class Keyspace {
 public:
  // Opens the store in options.dir; the Store's codes (kUnavailable when another process holds
  // the directory, kCorruption, kIOError). options.commit_observer is the keyspace's own.
  static Result<std::unique_ptr<Keyspace>> open(storage::StoreOptions options);
  // Closes the store: every queued mutation completes (and reaches the observers still
  // registered) first.
  ~Keyspace();
  Keyspace(const Keyspace&) = delete;
  Keyspace& operator=(const Keyspace&) = delete;

  // Keeps `observer` registered while it lives. Unregistering waits for a dispatch in progress,
  // so once the Registration is gone the observer is never called again.
  class [[nodiscard]] Registration {
   public:
    Registration() = default;
    Registration(Registration&& other) noexcept;
    Registration& operator=(Registration&& other) noexcept;
    ~Registration();

   private:
    friend class Keyspace;
    Registration(Keyspace* keyspace, Observer* observer) : keyspace_(keyspace), observer_(observer) {}
    Keyspace* keyspace_ = nullptr;
    Observer* observer_ = nullptr;
  };
  // Requires: `observer` outlives the Registration, and the Registration the Keyspace.
  Registration observe(Observer& observer);

  // storage::Store::write with the mutation's origin; observers see the written version.
  // `headroom`: whether the write may use the space kept for deletes (storage::Headroom).
  Result<std::optional<Version>> write(Origin origin, storage::Decide decide,
                                       std::optional<storage::AuditNote> audit = std::nullopt,
                                       storage::Headroom headroom = storage::Headroom::kKeep);
  // storage::Store::write_all, every request of one origin.
  std::vector<Result<std::optional<Version>>> write_all(Origin origin,
                                                        std::vector<storage::Store::WriteRequest> requests);
  // storage::Store::purge; observers see the removed version. The sweeper purges only tombstones
  // (kTombstonePurge); an expiry is a write.
  Result<bool> purge(Origin origin, std::string_view path, std::string_view uuid);

  // What writes no version goes straight through: node settings and audit-only entries.
  Status put_meta(std::string_view name, std::string_view value) { return store_->put_meta(name, value); }
  Status append_audit(std::string_view path, const storage::AuditNote& note) {
    return store_->append_audit(path, note);
  }
  // Change log upkeep (retention): it removes no version, so no observer hears of it.
  Result<std::size_t> trim_changes(const storage::ChangeTrim& trim) { return store_->trim_changes(trim); }

  // Reads: the store, read-only.
  const storage::Store& store() const noexcept { return *store_; }

 private:
  Keyspace() = default;
  void dispatch(std::span<const storage::Committed> batch);
  void unregister(Observer* observer);

  // observers_mutex_ guards observers_; the writer holds it while it dispatches a batch.
  Mutex observers_mutex_;
  std::vector<Observer*> observers_ KVS_GUARDED_BY(observers_mutex_);
  // Declared last: destroyed first, so its writer drains while the members above still live.
  std::unique_ptr<storage::Store> store_;
};

}  // namespace kvs::keyspace
