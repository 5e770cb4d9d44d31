#include "auth/scopes.hpp"

#include <array>
#include <utility>

#include "util/text.hpp"

namespace kvs::auth {
namespace {

constexpr std::array<std::pair<std::string_view, std::uint8_t>, 3> kScopes{{
    {"read", kScopeRead},
    {"write", kScopeWrite},
    {"admin", kScopeAdmin},
}};

}  // namespace

std::optional<std::uint8_t> parse_scope(std::string_view name) noexcept {
  for (const auto& [scope_name, bit] : kScopes) {
    if (scope_name == name) return bit;
  }
  return std::nullopt;
}

std::vector<std::string_view> scope_names(std::uint8_t scopes) {
  std::vector<std::string_view> names;
  for (const auto& [scope_name, bit] : kScopes) {
    if ((scopes & bit) != 0) names.push_back(scope_name);
  }
  return names;
}

std::string scopes_to_json(std::uint8_t scopes) {
  std::string out = "[";
  for (std::string_view name : scope_names(scopes)) {
    if (out.size() > 1) out += ',';
    out += '"';
    out += name;
    out += '"';
  }
  out += ']';
  return out;
}

Result<std::uint8_t> parse_scope_list(std::string_view list) {
  std::uint8_t scopes = 0;
  bool any = false;
  while (true) {
    auto comma = list.find(',');
    std::string_view name = util::trim(list.substr(0, comma));
    if (!name.empty()) {
      auto bit = parse_scope(name);
      if (!bit) return Status::invalid_argument("unknown scope '" + std::string(name) + "' (expected read, write or admin)");
      scopes = static_cast<std::uint8_t>(scopes | *bit);
      any = true;
    }
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  if (!any) return Status::invalid_argument("empty scope list (expected some of read, write, admin)");
  return scopes;
}

Result<std::uint8_t> parse_scope_names(const std::vector<std::string>& names) {
  std::uint8_t scopes = 0;
  for (const auto& name : names) {
    auto bit = parse_scope(name);
    if (!bit) return Status::invalid_argument("unknown scope '" + name + "' (expected read, write or admin)");
    scopes = static_cast<std::uint8_t>(scopes | *bit);
  }
  return scopes;
}

}  // namespace kvs::auth
