// kvs::Node: users, groups, tokens and peer signatures (SPEC section 2, Authentication). The
// decisions are auth::Authority's; this file stores what it decides as reserved "_auth/" keys
// through the ordinary write path, so they replicate like data, and keeps its cache current.

#include <algorithm>
#include <string>
#include <utility>

#include "auth/records.hpp"
#include "auth/scopes.hpp"
#include "features/audit.hpp"
#include "node/node_access.hpp"
#include "node/node_impl.hpp"

namespace kvs {
namespace {

// The public form of the Authority's records, and of the record a user or group change stores.
User to_public(const auth::UserRecord& record) {
  return User{record.uuid, record.nickname, record.scopes, record.created_at_ms};
}
Group to_public(const auth::GroupRecord& record) {
  return Group{record.uuid, record.name, record.members, record.created_at_ms};
}
Token to_public(const auth::MintedToken& minted) { return Token{minted.token, minted.token_id, minted.expires_at_ms}; }
User to_public(const auth::UserWrite& prepared) { return to_public(prepared.user); }
Group to_public(const auth::GroupWrite& prepared) { return to_public(prepared.group); }

// The public form of `result`'s value, or its failure.
template <class T>
auto to_public(const Result<T>& result) -> Result<decltype(to_public(*result))> {
  if (!result.is_ok()) return result.status();
  return to_public(*result);
}

Status auth_disabled() { return Status::unavailable("authentication is disabled (auth_enabled: false)"); }

const auth::ReservedWrite& reserved_write(const auth::UserWrite& prepared) { return prepared.write; }
const auth::ReservedWrite& reserved_write(const auth::GroupWrite& prepared) { return prepared.write; }
const auth::ReservedWrite& reserved_write(const auth::ReservedWrite& prepared) { return prepared; }

// The path every user, group and token change takes: auth on, the node writable, then the
// Authority's decision (`prepare`, which checks the caller and the input), stored as its
// reserved write with an audit entry of `action`. Returns the decision, or the first failure.
// `impl` is the Node's Impl (deduced: the type is private to Node).
template <class Prepare>
auto write_auth_change(auto& impl, const Caller& caller, std::string_view action, Prepare prepare,
                       storage::Headroom headroom = storage::Headroom::kKeep) -> decltype(prepare()) {
  if (!impl.config.auth_enabled) return auth_disabled();
  if (Status writable = impl.check_writable(); !writable.is_ok()) return writable;
  auto prepared = prepare();
  if (!prepared.is_ok()) return prepared.status();
  auto written = impl.write_reserved(reserved_write(*prepared), impl.audit_actor(caller), action, headroom);
  if (!written.is_ok()) return written.status();
  return prepared;
}

}  // namespace

// ---- Node::Impl ----------------------------------------------------------------------------

// Keeps the Authority's users, groups and revocations current with every reserved "_auth/"
// version that commits, whatever its origin (a local change, replication, an import).
struct Node::Impl::AuthObserver final : keyspace::Observer {
  explicit AuthObserver(auth::Authority& authority) : authority(authority) {}
  void on_change(const keyspace::Change& change) override {
    if (change.kind != keyspace::Change::Kind::kWrite || !auth::is_auth_key(change.version->path)) return;
    if (Status applied = authority.apply(*change.version); !applied.is_ok()) {
      log(LogLevel::kWarn, "auth.bad_record", {{"path", change.version->path}, {"error", applied.to_string()}});
    }
  }
  auth::Authority& authority;
  keyspace::Keyspace::Registration registration;  // last: unregisters before the rest goes
};

void Node::Impl::AuthObserverDeleter::operator()(AuthObserver* observer) const noexcept { delete observer; }


Status Node::Impl::open_auth() {
  auto opened = auth::Authority::open(config, *clock, *random);
  if (!opened.is_ok()) return opened.status().with_context("cluster secret");
  authority = std::move(*opened);
  // Observing first, then loading: a version committed in between is applied twice, which
  // changes nothing, rather than missed.
  auth_observer.reset(new AuthObserver(*authority));
  auth_observer->registration = keyspace->observe(*auth_observer);

  // Users, groups and revocations into the cache: one scan of the reserved prefix.
  std::string end(auth::kAuthPrefix);
  end.back() = static_cast<char>(end.back() + 1);
  Status loaded = store->scan(std::string(auth::kAuthPrefix), end, [&](const Version& version) {
    if (Status applied = authority->apply(version); !applied.is_ok()) {
      log(LogLevel::kWarn, "auth.bad_record", {{"path", version.path}, {"error", applied.to_string()}});
    }
    return true;
  });
  if (!loaded.is_ok()) return loaded;
  // A node that bootstraps from seeds receives the cluster's users first; it decides about an
  // admin of its own once the pull is over (node_bootstrap.cpp). An operator command creates
  // no user at all.
  if (offline || syncing.load(std::memory_order_acquire)) return Status::ok();
  return ensure_admin();
}

Status Node::Impl::ensure_admin() {
  if (!config.auth_enabled || authority->has_users()) return Status::ok();

  // First start with auth on: an admin user and its token, for the operator.
  auth::UserWrite admin = authority->prepare_admin_user();
  auto written = write_reserved(admin.write, "system", features::audit_action::kUserCreate);
  if (!written.is_ok()) return written.status();
  auto token = authority->issue_token(admin.user, auth::kScopeAll);
  if (!token.is_ok()) return token.status();
  if (Status saved = auth::Authority::write_admin_token_file(config.data_dir, token->token); !saved.is_ok()) {
    return saved;
  }
  std::string path = config.data_dir + "/" + std::string(auth::kAdminTokenFileName);
  log(LogLevel::kInfo, "auth.admin_created", {{"user", admin.user.uuid}, {"token_file", path}});
  return Status::ok();
}


Result<Version> Node::Impl::write_reserved(const auth::ReservedWrite& write, std::string actor,
                                           std::string_view action, storage::Headroom headroom) {
  auto note = audit_note(std::move(actor), action);
  auto written = this->write(keyspace::Origin::kLocal, [&](storage::WriteView& view) -> Result<std::optional<Version>> {
    auto held = view.get(write.path);
    if (!held.is_ok()) return held.status();
    Version version = new_version(write.path, *held);
    version.deleted = write.deleted;
    if (!write.deleted) version.data = write.json;
    version.expires_at_ms = write.expires_at_ms;
    version.permissions = 0;  // reserved keys are reachable only through these calls
    return std::optional<Version>(std::move(version));
  }, std::move(note), headroom);
  if (!written.is_ok()) return written.status();
  if (!written->has_value()) return Status::internal("write of " + write.path + " wrote nothing");
  return std::move(**written);
}

// ---- Node ----------------------------------------------------------------------------------

bool Node::auth_enabled() const noexcept { return impl_->config.auth_enabled; }

Result<Caller> Node::authenticate(std::string_view token) const {
  if (!impl_->config.auth_enabled) return Caller::local();
  return impl_->authority->authenticate(token);
}

Result<User> Node::create_user(std::string_view nickname, std::uint8_t scopes, const CallOptions& options) {
  return to_public(write_auth_change(*impl_, options.caller, features::audit_action::kUserCreate, [&] {
    return impl_->authority->prepare_create_user(options.caller, nickname, scopes);
  }));
}

Result<User> Node::get_user(std::string_view uuid, const CallOptions& options) const {
  if (!impl_->config.auth_enabled) return auth_disabled();
  return to_public(impl_->authority->get_user(options.caller, uuid));
}

Result<User> Node::update_user(std::string_view uuid, const UserChange& change, const CallOptions& options) {
  return to_public(write_auth_change(*impl_, options.caller, features::audit_action::kUserUpdate, [&] {
    return impl_->authority->prepare_update_user(options.caller, uuid, auth::UserUpdate{change.nickname, change.scopes});
  }));
}

Status Node::remove_user(std::string_view uuid, const CallOptions& options) {
  return write_auth_change(*impl_, options.caller, features::audit_action::kUserDelete, [&] {
    return impl_->authority->prepare_delete_user(options.caller, uuid);
  }).status();
}

Result<std::vector<User>> Node::list_users(const CallOptions& options) const {
  const Caller& caller = options.caller;
  if (!impl_->config.auth_enabled) return auth_disabled();
  if (!auth::is_superuser(caller)) return Status::permission_denied("only an admin may list users");
  std::vector<User> users;
  for (const auto& record : impl_->authority->state().users()) users.push_back(to_public(record));
  std::sort(users.begin(), users.end(), [](const User& a, const User& b) { return a.nickname < b.nickname; });
  return users;
}

Result<Group> Node::create_group(std::string_view name, std::vector<std::string> members, const CallOptions& options) {
  return to_public(write_auth_change(*impl_, options.caller, features::audit_action::kGroupCreate, [&] {
    return impl_->authority->prepare_create_group(options.caller, name, std::move(members));
  }));
}

Result<Group> Node::get_group(std::string_view uuid, const CallOptions& options) const {
  if (!impl_->config.auth_enabled) return auth_disabled();
  return to_public(impl_->authority->get_group(options.caller, uuid));
}

Result<Group> Node::update_group(std::string_view uuid, const GroupChange& change, const CallOptions& options) {
  return to_public(write_auth_change(*impl_, options.caller, features::audit_action::kGroupUpdate, [&] {
    return impl_->authority->prepare_update_group(options.caller, uuid, auth::GroupUpdate{change.name, change.members});
  }));
}

Status Node::remove_group(std::string_view uuid, const CallOptions& options) {
  return write_auth_change(*impl_, options.caller, features::audit_action::kGroupDelete, [&] {
    return impl_->authority->prepare_delete_group(options.caller, uuid);
  }).status();
}

Result<Token> Node::mint_token(std::string_view user_uuid, std::uint8_t scopes, const TokenOptions& options) {
  if (!impl_->config.auth_enabled) return auth_disabled();
  return to_public(impl_->authority->mint_token(options.caller, user_uuid, scopes, options.ttl));
}

Status Node::revoke_token(std::string_view token_id, const CallOptions& options) {
  // A revocation must land even when storage is nearly full: it may use the headroom.
  return write_auth_change(
             *impl_, options.caller, features::audit_action::kTokenRevoke,
             [&] { return impl_->authority->revoke_token(options.caller, token_id); }, storage::Headroom::kMayUse)
      .status();
}

Result<Token> Node::issue_token(std::string_view nickname, std::optional<std::uint8_t> scopes,
                                std::optional<std::chrono::milliseconds> ttl) {
  if (!impl_->config.auth_enabled) return auth_disabled();
  auto user = impl_->authority->state().find_user_by_nickname(nickname);
  if (!user) return Status::not_found("no user with nickname '" + std::string(nickname.substr(0, 200)) + "'");
  return to_public(impl_->authority->issue_token(*user, scopes.value_or(user->scopes), ttl));
}

std::optional<std::uint8_t> scope_from_name(std::string_view name) noexcept { return auth::parse_scope(name); }

std::vector<std::string_view> scope_names(std::uint8_t scopes) { return auth::scope_names(scopes); }

}  // namespace kvs
