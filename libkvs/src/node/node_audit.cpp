// kvs::Node: the tamper-evident audit log (SPEC section 2, "Operations"). The chain itself is
// features/audit.hpp's; storage::Store appends each entry in the write transaction of the
// mutation it records (Store::write with an AuditNote). This file builds the notes the other
// Node files pass with their writes, and serves reads and verification of the chain.

#include <string>
#include <utility>

#include "features/audit.hpp"
#include "node/node_impl.hpp"
#include "util/hex.hpp"

namespace kvs {
namespace {

// The audit log reveals who wrote what where, so it is admin business: the embedding
// application (trusted), or a token with the admin scope when auth is on.
Status check_audit_admin(const Caller& caller, const Config& config) {
  if (!config.auth_enabled || caller.trusted || auth::is_admin(caller.scopes)) return Status::ok();
  return Status::permission_denied("the audit log needs the admin scope");
}

Status audit_disabled() { return Status::unavailable("the audit log is disabled (tamper_logging_enabled: false)"); }

AuditEntry to_public(const features::AuditEntry& entry) {
  const bool has_value = entry.value_hash != features::AuditHash{};
  return AuditEntry{.seq = entry.seq,
                    .timestamp_ms = entry.time_ms,
                    .actor = entry.actor,
                    .action = entry.action,
                    .path = entry.path,
                    .value_hash = has_value ? util::to_hex(entry.value_hash) : std::string(),
                    .prev_hash = util::to_hex(entry.prev_hash),
                    .hash = util::to_hex(entry.entry_hash)};
}

}  // namespace

// ---- Node::Impl ----------------------------------------------------------------------------

std::string Node::Impl::audit_actor(const Caller& caller) {
  if (caller.trusted) return "local";
  return caller.user_uuid.empty() ? "anonymous" : caller.user_uuid;
}

std::optional<storage::AuditNote> Node::Impl::audit_note(std::string actor, std::string_view action,
                                                         std::optional<std::string_view> value) const {
  if (!config.tamper_logging_enabled) return std::nullopt;
  storage::AuditNote note;
  note.actor = std::move(actor);
  note.action = std::string(action);
  note.time_ms = now_ms();
  if (value) note.value_hash = features::audit_value_hash(*value);
  return note;
}

Result<std::optional<Version>> Node::Impl::write(keyspace::Origin origin, storage::Decide decide,
                                                 std::optional<storage::AuditNote> note,
                                                 storage::Headroom headroom) {
  return keyspace->write(origin, std::move(decide), std::move(note), headroom);
}

void Node::Impl::audit_event(std::string actor, std::string_view action, std::string_view path) {
  auto note = audit_note(std::move(actor), action);
  if (!note) return;
  if (Status appended = keyspace->append_audit(path, *note); !appended.is_ok()) {
    log(LogLevel::kError, "audit.append_failed",
        {{"action", std::string(action)}, {"path", std::string(path)}, {"error", appended.to_string()}});
  }
}

void Node::Impl::log_audit_head(const features::AuditTip& head, std::string_view context) const {
  if (!config.tamper_logging_enabled) return;
  log(LogLevel::kInfo, "audit.head",
      {{"seq", std::to_string(head.seq)}, {"hash", util::to_hex(head.hash)}, {"context", std::string(context)}});
}

Status Node::Impl::audit_mode_at_open() {
  if (!config.tamper_logging_enabled) return Status::ok();
  constexpr std::string_view kModeMeta = "audit.mode";
  std::string mode = config.read_only ? "read-only" : "normal";
  auto last = store->get_meta(kModeMeta);
  if (!last.is_ok()) return last.status();
  // A first start in normal mode is no change; a first start read-only is one.
  std::string previous = last->value_or("normal");
  if (previous == mode) return Status::ok();
  audit_event("system", features::audit_action::kModeChange, mode);
  return keyspace->put_meta(kModeMeta, mode);
}

// ---- Node ----------------------------------------------------------------------------------

Result<std::vector<AuditEntry>> Node::audit(const AuditQuery& query) const {
  const std::uint64_t since = query.since;
  const std::size_t limit = query.limit;
  if (!impl_->config.tamper_logging_enabled) return audit_disabled();
  if (Status allowed = check_audit_admin(query.caller, impl_->config); !allowed.is_ok()) return allowed;
  if (limit == 0 || limit > kMaxAuditLimit) {
    return Status::invalid_argument("limit must be between 1 and " + std::to_string(kMaxAuditLimit));
  }
  auto page = impl_->store->audit_page(since, limit);
  if (!page.is_ok()) return page.status();
  std::vector<AuditEntry> entries;
  entries.reserve(page->entries.size());
  for (const auto& entry : page->entries) entries.push_back(to_public(entry));
  return entries;
}

Result<AuditVerification> Node::verify_audit(const CallOptions& options) const {
  return impl_->verify_audit(options.caller, std::nullopt);
}

Result<AuditVerification> Node::verify_audit(const CallOptions& options, const AuditHead& expected_head) const {
  features::AuditTip head{expected_head.seq, {}};
  if (!util::from_hex(expected_head.hash, head.hash)) {
    return Status::invalid_argument("expected head hash must be " + std::to_string(2 * features::kAuditHashBytes) +
                                    " hex digits");
  }
  return impl_->verify_audit(options.caller, head);
}

Result<AuditVerification> Node::Impl::verify_audit(const Caller& caller,
                                                   std::optional<audit::AuditTip> expected_head) const {
  if (!config.tamper_logging_enabled) return audit_disabled();
  if (Status allowed = check_audit_admin(caller, config); !allowed.is_ok()) return allowed;
  auto verified = store->verify_audit(expected_head);
  if (!verified.is_ok()) return verified.status();
  return AuditVerification{verified->ok,          verified->entries,
                           verified->first_bad_seq, verified->reason,
                           verified->last.seq,    util::to_hex(verified->last.hash)};
}

}  // namespace kvs
