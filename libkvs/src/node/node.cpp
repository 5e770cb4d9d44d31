#include "kvs/node.hpp"

#include <algorithm>
#include <limits>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

#include <sodium.h>

#include "auth/secret.hpp"
#include "features/audit.hpp"
#include "kvs/log.hpp"
#include "node/node_impl.hpp"
#include "storage/space.hpp"
#include "storage/store.hpp"
#include "util/host_name.hpp"
#include "util/key.hpp"
#include "util/private_dir.hpp"

#ifndef KVS_VERSION_STRING
#define KVS_VERSION_STRING "0.0.0"
#endif

namespace kvs {
namespace {

constexpr std::string_view kJoinedMetaName = "joined_timestamp";
// If-Match "*" (PutOptions::if_match): any live version. A version uuid is never "*".
constexpr std::string_view kAnyVersion = "*";

bool is_live(const std::optional<Version>& version, std::int64_t now_ms) {
  return version.has_value() && !version->deleted && !is_expired(*version, now_ms);
}

// The smallest string greater than every string that starts with `prefix`; empty when there
// is none (a prefix of only 0xFF bytes).
std::string prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto last = static_cast<unsigned char>(end.back());
    if (last != 0xFF) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return end;
}

KeyMeta meta_of(const Version& version) { return KeyMeta{version.owner_uuid, version.group_uuid, version.permissions}; }

// ok when `held` (what a read of `path` found) is a live version; its error, or kNotFound for
// nothing, a tombstone or an expired version.
Status require_live(const Result<std::optional<Version>>& held, const std::string& path, std::int64_t now_ms) {
  if (!held.is_ok()) return held.status();
  if (!is_live(*held, now_ms)) return Status::not_found("key " + path);
  return Status::ok();
}

// Authority::check_read or check_read_meta.
using ReadCheck = Status (auth::Authority::*)(const Caller&, std::string_view, const KeyMeta&) const;

// What get and get_meta share: the live version at `raw_path`, read into `out`, once `caller`
// passes `check` (when its calls are checked). kInvalidArgument for a bad path, kNotFound, or
// the check's code. The version is decoded in place and never moved: each move of a Version
// copies its short strings. `impl` is the Node's Impl (deduced: the type is private to Node).
Status read_live(const auto& impl, std::string_view raw_path, const Caller& caller, ReadCheck check, Version& out) {
  // A key that is already normal (the usual case) is read in place, not copied.
  std::string normalized;
  auto path = util::normalize_key_view(raw_path, /*allow_reserved=*/false, normalized);
  if (!path.is_ok()) return path.status();
  auto held = impl.store->get(*path, out);
  if (!held.is_ok()) return held.status();
  // Only a version with an expiry can be expired (is_expired), so most reads never ask the
  // clock, which costs more than the rest of the check.
  if (!*held || out.deleted || (out.expires_at_ms.has_value() && is_expired(out, impl.clock->now_ms()))) {
    return Status::not_found("key " + std::string(*path));
  }
  if (impl.checked(caller)) {
    if (Status allowed = (*impl.authority.*check)(caller, *path, meta_of(out)); !allowed.is_ok()) return allowed;
  }
  return Status::ok();
}

Entry to_entry(Version&& version) {
  return Entry{std::move(version.path), std::move(version.uuid), version.timestamp_ms, std::move(version.data),
               version.expires_at_ms};
}

}  // namespace

Node::Node(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

// Members of Impl are declared in dependency order: each stops its own threads as it goes.
Node::~Node() = default;

Result<std::unique_ptr<Node>> Node::open(const Config& config, NodeEnv env) {
  Status valid = validate_config(config);
  if (!valid.is_ok()) return valid;

  auto impl = std::make_unique<Impl>();
  impl->config = config;
  impl->offline = env.offline;
  if (impl->config.node_id.empty()) impl->config.node_id = util::host_name();
  // Before anything is created in data_dir (node_bootstrap.cpp).
  if (Status secret = impl->check_joining_secret(); !secret.is_ok()) return secret;
  impl->clock = env.clock ? env.clock : &system_clock();
  impl->random = env.random ? env.random : &system_random();
  impl->started_at = std::chrono::steady_clock::now();

  if (Status made = util::create_private_directories(config.data_dir); !made.is_ok()) {
    return made.with_context("data_dir");
  }
  // An existing data_dir keeps its mode; the files in it are 0600, but a listable folder still
  // tells every local user what is there (PostgreSQL refuses such a data directory outright).
  if (util::open_to_others(config.data_dir)) {
    log(LogLevel::kWarn, "node.data_dir_open_to_others",
        {{"data_dir", config.data_dir},
         {"detail", "group or others have access to data_dir; run chmod 0700 on it"}});
  }

  storage::StoreOptions options;
  options.dir = config.data_dir;
  options.compression_enabled = config.compression_enabled;
  options.compression_level = config.compression_level;
  options.revision_history_enabled = config.revision_history_enabled;
  options.max_revisions = config.max_revisions;
  options.map_size_bytes = config.map_size_mb * std::size_t{1024} * 1024;
  options.audit_enabled = config.tamper_logging_enabled;
  options.clock = impl->clock;  // stamps change log entries: retention by age runs on the node's clock
  // The audit chain is keyed from the cluster secret, which the Store needs before its first
  // append; the Authority loads the same secret once the Store holds the directory lock.
  if (config.tamper_logging_enabled) {
    auto secret = auth::load_or_create_cluster_secret(config.cluster_secret, config.data_dir);
    if (!secret.is_ok()) return secret.status().with_context("cluster secret");
    options.audit_key = auth::derive_audit_key(*secret);
    sodium_memzero(secret->data(), secret->size());
  }
  const std::optional<audit::AuditKey> audit_key = options.audit_key;
  auto keyspace = keyspace::Keyspace::open(std::move(options));
  if (!keyspace.is_ok()) return keyspace.status();
  impl->keyspace = std::move(*keyspace);
  impl->store = &impl->keyspace->store();
  if (audit_key) {
    // The chain must be keyed with the secret the file holds now that this node owns the
    // directory: racing first starts all keep the first one created, but a file replaced by
    // hand while the node opened would key the chain with a secret nobody else has.
    auto secret = auth::load_or_create_cluster_secret(config.cluster_secret, config.data_dir);
    if (!secret.is_ok()) return secret.status().with_context("cluster secret");
    const bool same = auth::derive_audit_key(*secret) == *audit_key;
    sodium_memzero(secret->data(), secret->size());
    if (!same) return Status::unavailable("the cluster secret file changed while the node opened; start it again");
  }

  // The joined timestamp is the node's age in the oldest-node rule: fixed at the first start
  // and kept across restarts.
  auto joined = impl->store->get_meta(kJoinedMetaName);
  if (!joined.is_ok()) return joined.status();
  if (joined->has_value()) {
    try {
      impl->joined_ms = std::stoll(**joined);
    } catch (const std::exception&) {
      return Status::corruption("meta joined_timestamp is not a number: " + **joined);
    }
  } else {
    impl->joined_ms = impl->now_ms();
    Status saved = impl->keyspace->put_meta(kJoinedMetaName, std::to_string(impl->joined_ms));
    if (!saved.is_ok()) return saved;
  }

  // The change feed's live half, before anything writes (node_watch.cpp).
  impl->open_feed();
  // The Merkle tree, from one scan, before any write can report to it (node_replication.cpp).
  if (Status merkle = impl->open_replication(); !merkle.is_ok()) return merkle;
  // Whether this node starts syncing (node_bootstrap.cpp): before anything writes a key.
  if (Status bootstrap = impl->open_bootstrap(); !bootstrap.is_ok()) return bootstrap;
  if (Status auth = impl->open_auth(); !auth.is_ok()) return auth;
  if (Status mode = impl->audit_mode_at_open(); !mode.is_ok()) return mode;
  // Once storage and the cluster secret are ready: the membership loop (node_cluster.cpp).
  if (Status cluster = impl->start_cluster(); !cluster.is_ok()) return cluster;
  if (Status ops = impl->open_ops(env.backup_scheduler); !ops.is_ok()) return ops;

  features::TtlSweeperOptions sweeper_options;
  sweeper_options.tombstone_ttl = config.tombstone_ttl;
  auth::Authority* authority = impl->authority.get();
  Impl* owner = impl.get();
  sweeper_options.after_sweep = [authority, owner] {
    authority->forget_expired();
    owner->trim_change_log();
  };
  impl->sweeper = std::make_unique<features::TtlSweeper>(*impl->keyspace, *impl->clock, std::move(sweeper_options));
  if (env.background_sweeper) impl->sweeper->start();

  Impl* raw = impl.get();
  log(LogLevel::kInfo, "node.opened",
      {{"node_id", raw->config.node_id}, {"data_dir", config.data_dir},
       {"joined_timestamp", std::to_string(raw->joined_ms)}});
  auto node = std::unique_ptr<Node>(new Node(std::move(impl)));
  if (!raw->offline) {
    raw->start_replication(*node);  // push and anti-entropy need the Node to apply versions
    raw->start_bootstrap(*node);
  }
  return node;
}

Result<WriteResult> Node::put(std::string_view raw_path, std::string_view json, const PutOptions& options) {
  auto path = normalize_key(raw_path);
  if (!path.is_ok()) return path.status();
  if (Status writable = impl_->check_writable(); !writable.is_ok()) return writable;
  if (json.size() > impl_->config.max_json_size) {
    return Status::too_large("document of " + std::to_string(json.size()) + " bytes exceeds max_json_size " +
                             std::to_string(impl_->config.max_json_size));
  }
  if (Status valid = validate_json(json); !valid.is_ok()) return valid;
  auto ttl = options.ttl.value_or(impl_->config.default_ttl);
  if (ttl.count() < 0) return Status::invalid_argument("ttl is negative");

  Impl* impl = impl_.get();
  auto note = impl->audit_note(Impl::audit_actor(options.caller), features::audit_action::kKvPut, json);
  auto written = impl->write(keyspace::Origin::kLocal, [&](storage::WriteView& view) -> Result<std::optional<Version>> {
    auto held = view.get(*path);
    if (!held.is_ok()) return held.status();
    std::int64_t now = impl->now_ms();
    bool live = is_live(*held, now);
    // Permission first, then the preconditions (SPEC): a caller that may not write the key
    // gets 403 and never learns from a 412 whether it exists or which version it holds.
    KeyMeta created;
    if (live) {
      if (impl->checked(options.caller)) {
        if (Status allowed = impl->authority->check_replace(options.caller, *path, meta_of(**held)); !allowed.is_ok()) {
          return allowed;
        }
      }
    } else if (impl->config.auth_enabled) {
      if (impl->checked(options.caller)) {
        if (Status allowed = impl->check_create(options.caller, view, *path, now); !allowed.is_ok()) return allowed;
      }
      // The X-KVS-Group of a create is a permission matter too (membership), so before the preconditions.
      auto meta = impl->authority->meta_for_new_key(options.caller, options.group_uuid,
                                                    impl->config.default_permissions);
      if (!meta.is_ok()) return meta.status();
      created = std::move(*meta);
    } else {
      created = KeyMeta{options.caller.user_uuid, options.group_uuid, impl->config.default_permissions};
    }
    if (options.if_none_match && live) return Status::precondition_failed("key " + *path + " exists");
    if (options.if_match) {
      if (!live) return Status::precondition_failed("key " + *path + " does not exist (If-Match)");
      if (*options.if_match != kAnyVersion && (*held)->uuid != *options.if_match) {
        return Status::precondition_failed("key " + *path + " is not at version " + *options.if_match);
      }
    }
    Version version = impl->new_version(*path, *held);
    version.data.assign(json);
    if (ttl.count() > 0) {
      // Saturate instead of overflowing: an enormous TTL means "practically never".
      constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
      version.expires_at_ms = ttl.count() > kMax - version.timestamp_ms ? kMax : version.timestamp_ms + ttl.count();
    }
    if (live) {
      version.owner_uuid = (*held)->owner_uuid;
      version.group_uuid = (*held)->group_uuid;
      version.permissions = (*held)->permissions;
    } else {
      version.owner_uuid = std::move(created.owner_uuid);
      version.group_uuid = std::move(created.group_uuid);
      version.permissions = created.permissions;
    }
    return std::optional<Version>(std::move(version));
  }, std::move(note));
  if (!written.is_ok()) return written.status();
  if (!written->has_value()) return Status::internal("put of " + *path + " wrote nothing");
  return WriteResult{(*written)->uuid, (*written)->timestamp_ms};
}

Result<Entry> Node::get(std::string_view raw_path, const ReadOptions& options) const {
  Version version;
  Status read = read_live(*impl_, raw_path, options.caller, &auth::Authority::check_read, version);
  if (!read.is_ok()) return read;
  return to_entry(std::move(version));
}

Status Node::remove(std::string_view raw_path, const RemoveOptions& options) {
  auto path = normalize_key(raw_path);
  if (!path.is_ok()) return path.status();
  if (Status writable = impl_->check_writable(); !writable.is_ok()) return writable;

  Impl* impl = impl_.get();
  auto note = impl->audit_note(Impl::audit_actor(options.caller), features::audit_action::kKvDelete);
  auto written = impl->write(keyspace::Origin::kLocal, [&](storage::WriteView& view) -> Result<std::optional<Version>> {
    auto held = view.get(*path);
    if (Status live = require_live(held, *path, impl->now_ms()); !live.is_ok()) return live;
    if (impl->checked(options.caller)) {
      if (Status allowed = impl->authority->check_delete(options.caller, *path, meta_of(**held)); !allowed.is_ok()) {
        return allowed;
      }
    }
    if (options.if_match && *options.if_match != kAnyVersion && (*held)->uuid != *options.if_match) {
      return Status::precondition_failed("key " + *path + " is not at version " + *options.if_match);
    }
    Version tombstone = impl->new_version(*path, *held);
    tombstone.deleted = true;
    tombstone.owner_uuid = (*held)->owner_uuid;
    tombstone.group_uuid = (*held)->group_uuid;
    tombstone.permissions = (*held)->permissions;
    return std::optional<Version>(std::move(tombstone));
  }, std::move(note));
  return written.status();
}

Result<RangeResult> Node::range(const RangeQuery& query) const {
  if (query.limit == 0 || query.limit > kMaxRangeLimit) {
    return Status::invalid_argument("limit must be between 1 and " + std::to_string(kMaxRangeLimit));
  }
  if (!query.delimiter.empty() && query.delimiter != "/") {
    return Status::invalid_argument("the only delimiter is \"/\"");
  }
  const bool one_level = !query.delimiter.empty();
  std::string start = query.start_key;
  std::string end = query.end_key;
  if (!query.prefix.empty()) {
    start = std::max(start, query.prefix);
    std::string bound = prefix_end(query.prefix);
    if (!bound.empty() && (end.empty() || bound < end)) end = std::move(bound);
  }
  RangeResult result;
  if (!end.empty() && start >= end) {
    auto committed = impl_->store->committed_sequence();
    if (!committed.is_ok()) return committed.status();
    result.cursor = impl_->feed_cursor(*committed);
    return result;
  }

  std::int64_t now = impl_->now_ms();
  bool checked = impl_->checked(query.caller);
  // The page also ends before its REST body would pass max_bytes, so that a page of large
  // documents holds bounded memory; it keeps at least one entry while any remain. The estimate
  // is each entry's members plus room for names, quotes and separators.
  const std::size_t max_bytes = query.max_bytes != 0 ? query.max_bytes : impl_->config.max_range_bytes;
  std::size_t page_bytes = 64;
  // Adds an entry of `bytes` unless the page is full, in which case the page ends and the next
  // one starts at `resume`.
  auto admit = [&](std::size_t bytes, const std::string& resume) {
    std::size_t entries = result.items.size() + result.prefixes.size();
    if (entries == query.limit || (entries != 0 && page_bytes + bytes > max_bytes)) {
      result.next_start_key = resume;
      return false;
    }
    page_bytes += bytes;
    return true;
  };
  using Step = storage::ScanStep;
  std::uint64_t sequence = 0;
  Status scanned = impl_->store->scan_skipping(start, end, [&](Version& version, std::string& skip_to) {
    if (version.deleted || is_expired(version, now) || util::is_reserved_path(version.path)) return Step::kNext;
    // Only keys the caller may read: the others are skipped as if absent. A rolled-up prefix
    // is listed at its first readable key, and the scan then seeks past everything under it.
    if (checked && !impl_->authority->can_read(query.caller, meta_of(version))) return Step::kNext;
    if (one_level) {
      std::size_t slash = version.path.find('/', query.prefix.size());
      if (slash != std::string::npos) {
        std::string rolled_up = version.path.substr(0, slash + 1);
        if (!admit(24 + rolled_up.size(), version.path)) return Step::kStop;
        skip_to = prefix_end(rolled_up);
        result.prefixes.push_back(std::move(rolled_up));
        return skip_to.empty() ? Step::kStop : Step::kSkip;
      }
    }
    std::size_t item_bytes = 80 + version.path.size() + version.uuid.size() + (query.values ? version.data.size() : 0);
    if (!admit(item_bytes, version.path)) return Step::kStop;
    RangeItem item{std::move(version.path), std::move(version.uuid), version.timestamp_ms, std::nullopt};
    if (query.values) item.data = std::move(version.data);
    result.items.push_back(std::move(item));
    return Step::kNext;
  }, query.values ? storage::RecordPart::kAll : storage::RecordPart::kMetadata, &sequence);
  if (!scanned.is_ok()) return scanned;
  // The feed position of the scan's own snapshot: a watch from it sees exactly the changes
  // the page does not.
  result.cursor = impl_->feed_cursor(sequence);
  return result;
}

// Creating a key: C on its nearest live ancestor (or the write scope alone), and no claim on
// the parent of someone else's subtree. The descendants are read inside the write transaction,
// so a concurrent create below cannot slip between the check and the commit. Cost: one seek
// past `path/`; the scan stops at the first live descendant of another owner, so it reads only
// the caller's own keys (and dead ones) before it, and nothing at all for the usual leaf key.
Status Node::Impl::check_create(const Caller& caller, storage::WriteView& view, const std::string& path,
                                std::int64_t now_ms) const {
  std::optional<KeyMeta> ancestor;
  for (const auto& candidate : auth::ancestors(path)) {
    auto found = view.get(candidate);
    if (!found.is_ok()) return found.status();
    if (is_live(*found, now_ms)) {
      ancestor = meta_of(**found);
      break;
    }
  }
  if (Status allowed = authority->check_create(caller, path, ancestor ? &*ancestor : nullptr); !allowed.is_ok()) {
    return allowed;
  }
  if (auth::is_superuser(caller)) return Status::ok();
  std::string below = path + "/";
  bool foreign = false;
  Status scanned = view.scan(below, prefix_end(below), [&](const Version& descendant) {
    if (descendant.deleted || is_expired(descendant, now_ms)) return true;
    foreign = !auth::may_create_above(caller, meta_of(descendant));
    return !foreign;
  });
  if (!scanned.is_ok()) return scanned;
  if (foreign) {
    return Status::permission_denied("key " + path +
                                     " has live descendants owned by another user; only an admin may create it");
  }
  return Status::ok();
}

// History and old revisions: each revision is read under its own owner, group and bits (SPEC),
// not the current version's, so a key deleted or expired and then re-created by someone else
// keeps the earlier owner's revisions from the new owner. A revision the caller may not read
// is left out of ?history; when revisions exist but the caller may read none of them, the
// answer is kPermissionDenied, as a GET of a key it may not read.
Result<History> Node::history(std::string_view raw_path, const ReadOptions& options) const {
  if (!impl_->config.revision_history_enabled) return Status::unavailable("revision history is disabled");
  auto path = normalize_key(raw_path);
  if (!path.is_ok()) return path.status();
  auto revisions = impl_->store->history(*path);
  if (!revisions.is_ok()) return revisions.status();
  if (revisions->empty()) return Status::not_found("no revisions of key " + *path);
  bool checked = impl_->checked(options.caller);
  History history{*path, {}};
  history.revisions.reserve(revisions->size());
  for (auto& stored : *revisions) {
    if (checked && !impl_->authority->can_read(options.caller, meta_of(stored.version))) continue;
    Revision revision{stored.revision, stored.version.uuid, stored.version.timestamp_ms, std::nullopt,
                      stored.version.deleted};
    if (!stored.version.deleted) revision.data = std::move(stored.version.data);
    history.revisions.push_back(std::move(revision));
  }
  if (history.revisions.empty()) return Status::permission_denied("no revision of key " + *path + " may be read");
  return history;
}

Result<Entry> Node::get_revision(std::string_view raw_path, std::uint64_t revision,
                                 const ReadOptions& options) const {
  if (!impl_->config.revision_history_enabled) return Status::unavailable("revision history is disabled");
  auto path = normalize_key(raw_path);
  if (!path.is_ok()) return path.status();
  auto stored = impl_->store->revision(*path, revision);
  if (!stored.is_ok()) return stored.status();
  std::string name = "revision " + std::to_string(revision) + " of key " + *path;
  if (!stored->has_value()) return Status::not_found(name);
  // Permission before "deleted": a tombstone of a key the caller may not read is a 403 too.
  if (impl_->checked(options.caller) && !impl_->authority->can_read(options.caller, meta_of((*stored)->version))) {
    return Status::permission_denied("read " + name);
  }
  if ((*stored)->version.deleted) return Status::not_found(name);
  return to_entry(std::move((*stored)->version));
}

Result<KeyMeta> Node::get_meta(std::string_view raw_path, const ReadOptions& options) const {
  Version version;
  Status read = read_live(*impl_, raw_path, options.caller, &auth::Authority::check_read_meta, version);
  if (!read.is_ok()) return read;
  return meta_of(version);
}

Result<KeyMeta> Node::set_meta(std::string_view raw_path, const MetaUpdate& update, const ReadOptions& options) {
  auto path = normalize_key(raw_path);
  if (!path.is_ok()) return path.status();
  if (Status writable = impl_->check_writable(); !writable.is_ok()) return writable;
  if (update.permissions && *update.permissions > 0xFFF) {
    return Status::invalid_argument("permissions must fit in 12 bits (0 to 0xFFF)");
  }
  Impl* impl = impl_.get();
  // A metadata change is a new version with the same document, so it replicates and is
  // ordered like any other write. Its audit entry hashes the (unchanged) document.
  auto note = impl->audit_note(Impl::audit_actor(options.caller), features::audit_action::kKvMeta);
  auto written = impl->write(keyspace::Origin::kLocal, [&](storage::WriteView& view) -> Result<std::optional<Version>> {
    auto held = view.get(*path);
    if (Status live = require_live(held, *path, impl->now_ms()); !live.is_ok()) return live;
    if (impl->config.auth_enabled) {
      // Also validates the update (known owner and group) for callers that are checked.
      Status allowed = impl->authority->check_change_meta(options.caller, *path, meta_of(**held), update);
      if (!allowed.is_ok()) return allowed;
    }
    Version version = impl->new_version(*path, *held);
    version.data = (*held)->data;
    version.expires_at_ms = (*held)->expires_at_ms;
    version.owner_uuid = update.owner_uuid.value_or((*held)->owner_uuid);
    version.group_uuid = update.group_uuid.value_or((*held)->group_uuid);
    version.permissions = update.permissions.value_or((*held)->permissions);
    return std::optional<Version>(std::move(version));
  }, std::move(note));
  if (!written.is_ok()) return written.status();
  if (!written->has_value()) return Status::internal("meta change of " + *path + " wrote nothing");
  // What was written, whether or not the caller may still read it (it may have given the key away).
  return meta_of(**written);
}

namespace {

// What apply_version and apply_versions accept from a peer or an import.
Status check_replicated(const Version& version) {
  auto path = normalize_key(version.path, /*allow_reserved=*/true);
  if (!path.is_ok()) return path.status();
  if (*path != version.path) return Status::invalid_argument("version path '" + version.path + "' is not normalised");
  if (version.uuid.empty()) return Status::invalid_argument("version of " + version.path + " has no uuid");
  if (version.permissions > 0xFFF) return Status::invalid_argument("version of " + version.path + " has bad permissions");
  if (!version.deleted) {
    if (Status valid = validate_json(version.data); !valid.is_ok()) return valid.with_context("version of " + version.path);
  }
  return Status::ok();
}

}  // namespace

Result<bool> Node::apply_version(const Version& version) {
  if (Status valid = check_replicated(version); !valid.is_ok()) return valid;
  // Recorded as the origin node's doing; a version that loses by the order writes nothing
  // and so leaves no entry.
  auto note = impl_->audit_note("node:" + version.origin_node_id, features::audit_action::kKvReplicated,
                                version.deleted ? std::nullopt : std::optional<std::string_view>(version.data));
  auto written = impl_->write(keyspace::Origin::kPeer, [&](storage::WriteView& view) -> Result<std::optional<Version>> {
    auto held = view.get(version.path);
    if (!held.is_ok()) return held.status();
    if (held->has_value() && !supersedes(version, **held)) return std::optional<Version>();
    return std::optional<Version>(version);
  }, std::move(note));
  if (!written.is_ok()) return written.status();
  return written->has_value();
}

std::vector<Result<bool>> Node::apply_versions(const std::vector<Version>& versions) {
  // Slices of at most this many intents, so that a batch never exceeds the store's queue.
  constexpr std::size_t kSlice = 1024;
  std::vector<Result<bool>> outcomes;
  outcomes.reserve(versions.size());
  for (std::size_t begin = 0; begin < versions.size(); begin += kSlice) {
    std::size_t end = std::min(versions.size(), begin + kSlice);
    std::vector<storage::Store::WriteRequest> requests;
    std::vector<std::size_t> submitted;  // index into `versions` of each request
    std::vector<Status> refused(end - begin);
    for (std::size_t i = begin; i < end; ++i) {
      const Version& version = versions[i];
      if (Status valid = check_replicated(version); !valid.is_ok()) {
        refused[i - begin] = valid;
        continue;
      }
      storage::Store::WriteRequest request;
      request.decide = [&version](storage::WriteView& view) -> Result<std::optional<Version>> {
        auto held = view.get(version.path);  // sees the earlier versions of this batch
        if (!held.is_ok()) return held.status();
        if (held->has_value() && !supersedes(version, **held)) return std::optional<Version>();
        return std::optional<Version>(version);
      };
      request.audit = impl_->audit_note("node:" + version.origin_node_id, features::audit_action::kKvReplicated,
                                        version.deleted ? std::nullopt
                                                        : std::optional<std::string_view>(version.data));
      requests.push_back(std::move(request));
      submitted.push_back(i);
    }
    auto written = impl_->keyspace->write_all(keyspace::Origin::kPeer, std::move(requests));
    std::vector<std::optional<Result<bool>>> slice(end - begin);
    for (std::size_t k = 0; k < submitted.size(); ++k) {
      std::size_t at = submitted[k] - begin;
      if (!written[k].is_ok()) {
        slice[at] = Result<bool>(written[k].status());
        continue;
      }
      if (!written[k]->has_value()) {
        slice[at] = Result<bool>(false);
        continue;
      }
      slice[at] = Result<bool>(true);
    }
    for (std::size_t i = 0; i < slice.size(); ++i) {
      if (slice[i]) {
        outcomes.push_back(std::move(*slice[i]));
      } else {
        outcomes.emplace_back(refused[i]);
      }
    }
  }
  return outcomes;
}

Status Node::export_versions(const std::function<bool(const Version&)>& visit) const {
  return impl_->store->scan("", "", visit);
}

Health Node::health() const {
  Health health;
  health.mode = impl_->config.read_only ? Mode::kReadOnly : Mode::kNormal;
  if (impl_->syncing.load(std::memory_order_acquire)) health.mode = Mode::kSyncing;
  health.sync_keys = impl_->sync_keys.load(std::memory_order_relaxed);
  health.sync_bytes = impl_->sync_bytes.load(std::memory_order_relaxed);
  health.member_count = impl_->live_member_count();
  health.node_id = impl_->config.node_id;
  health.version = std::string(library_version());
  health.uptime_s = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() -
                                                                     impl_->started_at)
                        .count();
  health.keys = impl_->store->stats().live_keys;
  return health;
}

Readiness Node::readiness() const {
  Readiness readiness;
  readiness.mode = impl_->config.read_only ? Mode::kReadOnly : Mode::kNormal;
  if (impl_->syncing.load(std::memory_order_acquire)) {
    readiness.mode = Mode::kSyncing;
    readiness.ready = false;
    readiness.reason = "syncing: the node is pulling the cluster's data from its seeds";
  }
  auto space = impl_->store->space();
  if (!space.is_ok()) {
    // Not knowing is no reason to turn traffic away: writes are not refused for it either.
    log(LogLevel::kWarn, "node.storage_unmeasured", {{"error", space.status().to_string()}});
    return readiness;
  }
  readiness.storage_free_bytes = space->free_bytes;
  readiness.storage_headroom_bytes = space->headroom_bytes;
  if (!storage::takes_client_writes(*space) && readiness.ready) {
    readiness.ready = false;
    readiness.reason = storage::storage_full(*space, 0).message();
  }
  return readiness;
}

const Config& Node::config() const noexcept { return impl_->config; }

Result<std::size_t> Node::sweep_now() { return impl_->sweeper->sweep_now(/*tombstones=*/true); }

std::string_view library_version() noexcept { return KVS_VERSION_STRING; }

}  // namespace kvs
