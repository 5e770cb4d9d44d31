#include "keyspace/keyspace.hpp"

#include <algorithm>
#include <utility>

namespace kvs::keyspace {

std::string_view to_string(Origin origin) noexcept {
  switch (origin) {
    case Origin::kLocal: return "local";
    case Origin::kPeer: return "peer";
    case Origin::kImport: return "import";
    case Origin::kExpiry: return "expiry";
    case Origin::kTombstonePurge: return "tombstone_purge";
  }
  return "unknown";
}

Result<std::unique_ptr<Keyspace>> Keyspace::open(storage::StoreOptions options) {
  std::unique_ptr<Keyspace> keyspace(new Keyspace());
  Keyspace* raw = keyspace.get();
  options.commit_observer = [raw](std::span<const storage::Committed> batch) { raw->dispatch(batch); };
  auto store = storage::Store::open(options);
  if (!store.is_ok()) return store.status();
  keyspace->store_ = std::move(*store);
  return keyspace;
}

Keyspace::~Keyspace() { store_.reset(); }

void Keyspace::dispatch(std::span<const storage::Committed> batch) {
  MutexLock lock(observers_mutex_);
  if (observers_.empty()) return;
  for (const storage::Committed& committed : batch) {
    Change change;
    change.kind = committed.kind == storage::Committed::Kind::kWrite ? Change::Kind::kWrite : Change::Kind::kPurge;
    change.origin = static_cast<Origin>(committed.tag);
    change.sequence = committed.sequence;
    change.previous = committed.previous;
    change.version = committed.version;
    for (Observer* observer : observers_) observer->on_change(change);
  }
}

Keyspace::Registration Keyspace::observe(Observer& observer) {
  MutexLock lock(observers_mutex_);
  observers_.push_back(&observer);
  return Registration(this, &observer);
}

void Keyspace::unregister(Observer* observer) {
  MutexLock lock(observers_mutex_);
  observers_.erase(std::remove(observers_.begin(), observers_.end(), observer), observers_.end());
}

Keyspace::Registration::Registration(Registration&& other) noexcept
    : keyspace_(std::exchange(other.keyspace_, nullptr)), observer_(std::exchange(other.observer_, nullptr)) {}

Keyspace::Registration& Keyspace::Registration::operator=(Registration&& other) noexcept {
  if (this != &other) {
    if (keyspace_ != nullptr) keyspace_->unregister(observer_);
    keyspace_ = std::exchange(other.keyspace_, nullptr);
    observer_ = std::exchange(other.observer_, nullptr);
  }
  return *this;
}

Keyspace::Registration::~Registration() {
  if (keyspace_ != nullptr) keyspace_->unregister(observer_);
}

Result<std::optional<Version>> Keyspace::write(Origin origin, storage::Decide decide,
                                               std::optional<storage::AuditNote> audit,
                                               storage::Headroom headroom) {
  auto tag = static_cast<std::uint8_t>(origin);
  if (audit) return store_->write(std::move(decide), std::move(*audit), tag, headroom);
  return store_->write(std::move(decide), tag, headroom);
}

std::vector<Result<std::optional<Version>>> Keyspace::write_all(Origin origin,
                                                                std::vector<storage::Store::WriteRequest> requests) {
  for (auto& request : requests) request.tag = static_cast<std::uint8_t>(origin);
  return store_->write_all(std::move(requests));
}

Result<bool> Keyspace::purge(Origin origin, std::string_view path, std::string_view uuid) {
  return store_->purge(path, uuid, static_cast<std::uint8_t>(origin));
}

}  // namespace kvs::keyspace
