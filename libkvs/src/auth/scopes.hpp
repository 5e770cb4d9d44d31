#pragma once

// Token scopes as text. A token carries its scopes as a JSON array of names ("read", "write",
// "admin"); kvs code carries them as `kvs::Scope` bits (kvs/node.hpp). These functions convert
// between the two and are the only place that knows the names. Pure; safe from any thread.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kvs/node.hpp"
#include "kvs/status.hpp"

namespace kvs::auth {

// Every scope bit there is.
inline constexpr std::uint8_t kScopeAll = kScopeRead | kScopeWrite | kScopeAdmin;

// The bit of one scope name; nullopt for an unknown name (names are case-sensitive).
std::optional<std::uint8_t> parse_scope(std::string_view name) noexcept;

// The names of the bits set in `scopes`, in the order read, write, admin.
std::vector<std::string_view> scope_names(std::uint8_t scopes);

// `scopes` as a JSON array: ["read","write"].
std::string scopes_to_json(std::uint8_t scopes);

// Parses a comma-separated list ("read,write", as `kvs-server token --scopes` takes it).
// Spaces around names are ignored. kInvalidArgument naming the first unknown scope, or for an
// empty list.
Result<std::uint8_t> parse_scope_list(std::string_view list);

// Parses a vector of names, as a REST body's "scopes" array gives them. kInvalidArgument for an
// unknown name; an empty vector is 0 (the caller decides whether that is allowed).
Result<std::uint8_t> parse_scope_names(const std::vector<std::string>& names);

// The admin rule: a holder of the admin scope may do anything any scope allows. Every admin
// check asks this, so that the rule is written once.
constexpr bool is_admin(std::uint8_t scopes) noexcept { return (scopes & kScopeAdmin) != 0; }

// True when every bit of `requested` is in `held`.
constexpr bool is_scope_subset(std::uint8_t requested, std::uint8_t held) noexcept {
  return (requested & ~held & 0xFF) == 0;
}

}  // namespace kvs::auth
