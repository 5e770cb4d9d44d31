// Cursors (lmdb_env.hpp), and the overlay of the held write transaction that a read
// transaction's cursors merge over LMDB's entries. Threading as lmdb_env.hpp says.

#include <cstdint>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "storage/lmdb_detail.hpp"
#include "storage/lmdb_env.hpp"

namespace kvs::storage::lmdb {

// ---------------------------------------------------------------------------------------------
// Overlay

void Overlay::publish(std::vector<Change>& changes) {
  const std::uint64_t batch = batches_.load(std::memory_order_relaxed) + 1;
  {
    WriterLock lock(mutex_);
    for (Change& change : changes) {
      Keys& keys = dbs_[change.dbi];
      auto it = keys.find(change.key);
      if (it == keys.end()) it = keys.emplace(std::move(change.key), nullptr).first;
      std::unique_ptr<Version>& head = it->second;
      if (head && head->batch == batch) {
        // Changed again within this batch, which no reader sees yet: in place.
        head->deleted = change.deleted;
        head->value = std::move(change.value);
        continue;
      }
      auto version = std::make_unique<Version>();
      version->batch = batch;
      version->deleted = change.deleted;
      version->value = std::move(change.value);
      version->older = std::move(head);
      head = std::move(version);
    }
  }
  // After the inserts: a reader that sees this count finds all of them.
  batches_.store(batch, std::memory_order_release);
}

const Overlay::Version* Overlay::at(const Version* head, std::uint64_t visible) noexcept {
  while (head != nullptr && head->batch > visible) head = head->older.get();
  return head;
}

const Overlay::Keys* Overlay::keys(Dbi dbi) const {
  auto found = dbs_.find(dbi);
  return found == dbs_.end() ? nullptr : &found->second;
}

// ---------------------------------------------------------------------------------------------
// Cursor

// A read cursor over a database the overlay holds keys of: LMDB's entries and the overlay's,
// merged in key order, the overlay's winning where both hold a key and its deletes hiding
// LMDB's entries. Each side has its own position; `forward` says which way the last move
// went. Moving on in the same direction steps the side(s) the cursor is on; turning round
// places both sides afresh around the current key (as LevelDB's merging iterator does), so
// no side is ever stepped from a position the other direction left it in.
struct MergeState {
  enum class Side : std::uint8_t { kBefore, kOn, kAfter };  // before the first entry, on one, after the last
  enum class From : std::uint8_t { kLmdb, kOverlay, kBoth };

  MergeState(const Overlay& overlay_in, const Overlay::Keys& keys_in, std::uint64_t visible_in)
      : overlay(overlay_in), keys(keys_in), visible(visible_in), it(keys_in.end()) {}

  const Overlay& overlay;
  const Overlay::Keys& keys;  // guarded by overlay.mutex_: every move holds it shared
  const std::uint64_t visible;
  bool forward = true;
  bool on = false;  // the last move ended on an entry
  From from = From::kLmdb;
  Side lside = Side::kBefore;
  std::string_view lkey, lvalue;
  Side oside = Side::kBefore;
  Overlay::Keys::const_iterator it;

  // LMDB's side.
  void lmove(Cursor& c, MDB_cursor_op op, std::string_view key = {}) {
    MDB_val k = to_val(key);
    MDB_val v{0, nullptr};
    c.rc_ = mdb_cursor_get(c.cursor_, &k, &v, op);
    if (c.rc_ == 0) {
      lside = Side::kOn;
      lkey = to_view(k);
      lvalue = to_view(v);
    } else {
      lside = op == MDB_PREV || op == MDB_LAST ? Side::kBefore : Side::kAfter;
    }
  }
  void lnext(Cursor& c) {
    if (lside == Side::kBefore) lmove(c, MDB_FIRST);
    else if (lside == Side::kOn) lmove(c, MDB_NEXT);
  }
  void lprev(Cursor& c) {
    if (lside == Side::kAfter) lmove(c, MDB_LAST);
    else if (lside == Side::kOn) lmove(c, MDB_PREV);
  }
  void lseek(Cursor& c, std::string_view key) {
    if (key.empty()) lmove(c, MDB_FIRST);  // LMDB refuses an empty key
    else lmove(c, MDB_SET_RANGE, key);
  }
  void lseek_before(Cursor& c, std::string_view key) {
    lseek(c, key);
    if (lside == Side::kOn) lmove(c, MDB_PREV);
    else if (!c.failed()) lmove(c, MDB_LAST);  // every key is < `key`
  }

  // The overlay's side: only keys with a version the reader sees count.
  bool seen(Overlay::Keys::const_iterator at) const { return Overlay::at(at->second.get(), visible) != nullptr; }
  void oskip_forward() {
    while (it != keys.end() && !seen(it)) ++it;
    oside = it == keys.end() ? Side::kAfter : Side::kOn;
  }
  void oskip_back() {  // requires it != keys.end()
    for (;;) {
      if (seen(it)) {
        oside = Side::kOn;
        return;
      }
      if (it == keys.begin()) {
        oside = Side::kBefore;
        return;
      }
      --it;
    }
  }
  void ofirst() {
    it = keys.begin();
    oskip_forward();
  }
  void olast() {
    if (keys.empty()) {
      oside = Side::kBefore;
      return;
    }
    it = std::prev(keys.end());
    oskip_back();
  }
  void onext() {
    if (oside == Side::kBefore) {
      ofirst();
    } else if (oside == Side::kOn) {
      ++it;
      oskip_forward();
    }
  }
  void oprev() {
    if (oside == Side::kAfter) {
      olast();
    } else if (oside == Side::kOn) {
      if (it == keys.begin()) {
        oside = Side::kBefore;
        return;
      }
      --it;
      oskip_back();
    }
  }
  void oseek(std::string_view key) {
    it = keys.lower_bound(key);
    oskip_forward();
  }
  void oseek_before(std::string_view key) {
    it = keys.lower_bound(key);
    if (it == keys.begin()) {
      oside = Side::kBefore;
      return;
    }
    --it;
    oskip_back();
  }

  // Puts the cursor on the nearer of the two sides' entries in the direction of travel,
  // stepping over the overlay's deletes (and the LMDB entries they hide).
  bool settle(Cursor& c) {
    for (;;) {
      const bool lmdb_on = lside == Side::kOn && !c.failed();
      const bool overlay_on = oside == Side::kOn;
      if (c.failed() || (!lmdb_on && !overlay_on)) {
        c.key_ = {};
        c.value_ = {};
        return on = false;
      }
      int order = 0;  // < 0: LMDB's entry comes first this way; > 0: the overlay's; 0: one key
      if (!overlay_on) {
        order = -1;
      } else if (!lmdb_on) {
        order = 1;
      } else {
        const int compared = lkey.compare(it->first);
        order = forward ? compared : -compared;
      }
      if (order < 0) {
        c.key_ = lkey;
        c.value_ = lvalue;
        from = From::kLmdb;
        return on = true;
      }
      const Overlay::Version* version = Overlay::at(it->second.get(), visible);
      if (version->deleted) {
        if (forward) {
          onext();
          if (order == 0) lnext(c);
        } else {
          oprev();
          if (order == 0) lprev(c);
        }
        continue;
      }
      c.key_ = it->first;
      c.value_ = version->value;
      from = order == 0 ? From::kBoth : From::kOverlay;
      return on = true;
    }
  }

  // Places both sides afresh (`place_lmdb`, `place_overlay`) for travel `forward_in`, then
  // settles on the nearer entry.
  template <class PlaceLmdb, class PlaceOverlay>
  bool place(Cursor& c, bool forward_in, PlaceLmdb place_lmdb, PlaceOverlay place_overlay) {
    ReaderLock lock(overlay.mutex_);
    forward = forward_in;
    place_lmdb();
    place_overlay();
    return settle(c);
  }
  bool first(Cursor& c) {
    return place(c, true, [&] { lmove(c, MDB_FIRST); }, [&] { ofirst(); });
  }
  bool last(Cursor& c) {
    return place(c, false, [&] { lmove(c, MDB_LAST); }, [&] { olast(); });
  }
  bool seek(Cursor& c, std::string_view key) {
    return place(c, true, [&] { lseek(c, key); }, [&] { oseek(key); });
  }
  bool seek_before(Cursor& c, std::string_view key) {
    return place(c, false, [&] { lseek_before(c, key); }, [&] { oseek_before(key); });
  }
  bool next(Cursor& c) { return step(c, true); }
  bool prev(Cursor& c) { return step(c, false); }

  // One entry on in direction `ahead` (true: forward).
  bool step(Cursor& c, bool ahead) {
    if (!on) return false;
    ReaderLock lock(overlay.mutex_);
    if (forward == ahead) {
      // On the same way: the side(s) the cursor is on move one entry.
      if (from != From::kOverlay) ahead ? lnext(c) : lprev(c);
      if (from != From::kLmdb) ahead ? onext() : oprev();
    } else {
      // Turning round: both sides to the nearest key past the current one, the new way.
      const std::string current(c.key_);
      forward = ahead;
      if (ahead) {
        lseek(c, current);
        if (lside == Side::kOn && lkey == current) lnext(c);
        it = keys.upper_bound(current);
        oskip_forward();
      } else {
        lseek_before(c, current);
        oseek_before(current);
      }
    }
    return settle(c);
  }
};

Cursor::Cursor() = default;

Cursor::~Cursor() {
  if (cursor_ != nullptr) mdb_cursor_close(cursor_);
}

Status Cursor::open(const Txn& txn, Dbi dbi, std::string_view what) {
  int rc = mdb_cursor_open(txn.txn_, dbi, &cursor_);
  if (rc != 0) {
    cursor_ = nullptr;
    return lmdb_status(rc, What{"cursor on", what}.text());
  }
  dbi_ = dbi;
  redo_ = txn.redo_;
  staged_ = txn.staged_;
  if (txn.overlay_) {
    // Keys published after the transaction began are not seen, so a database with none now
    // has none this cursor sees.
    ReaderLock lock(txn.overlay_->mutex_);
    if (const Overlay::Keys* keys = txn.overlay_->keys(dbi)) {
      merge_ = std::make_unique<MergeState>(*txn.overlay_, *keys, txn.visible_);
    }
  }
  return Status::ok();
}

bool Cursor::move(int op) {
  MDB_val key = to_val(key_);
  MDB_val value{0, nullptr};
  rc_ = mdb_cursor_get(cursor_, &key, &value, static_cast<MDB_cursor_op>(op));
  if (rc_ != 0) {
    key_ = {};
    value_ = {};
    return false;
  }
  key_ = to_view(key);
  value_ = to_view(value);
  return true;
}

bool Cursor::first() { return merge_ ? merge_->first(*this) : move(MDB_FIRST); }
bool Cursor::last() { return merge_ ? merge_->last(*this) : move(MDB_LAST); }
bool Cursor::next() { return merge_ ? merge_->next(*this) : move(MDB_NEXT); }
bool Cursor::prev() { return merge_ ? merge_->prev(*this) : move(MDB_PREV); }

bool Cursor::seek(std::string_view key) {
  if (merge_) return merge_->seek(*this, key);
  if (key.empty()) return first();  // LMDB refuses an empty key
  key_ = key;
  return move(MDB_SET_RANGE);
}

bool Cursor::seek_before(std::string_view key) {
  if (merge_) return merge_->seek_before(*this, key);
  if (seek(key)) return prev();
  if (failed()) return false;
  return last();  // every key is < `key`
}

Status Cursor::del(std::string_view operation) {
  // Recorded before: the key lives in the page the delete rewrites. A failed delete fails the
  // transaction, and its record is never appended.
  if (redo_ != nullptr) redo_->del(dbi_, key_);
  if (staged_ != nullptr) staged_->push_back(Change{dbi_, true, std::string(key_), {}});
  int rc = mdb_cursor_del(cursor_, 0);
  if (rc != 0) return lmdb_status(rc, operation);
  return Status::ok();
}

bool Cursor::failed() const noexcept { return rc_ != 0 && rc_ != MDB_NOTFOUND; }

Status Cursor::status(std::string_view operation) const {
  if (!failed()) return Status::ok();
  return lmdb_status(rc_, operation);
}

}  // namespace kvs::storage::lmdb
