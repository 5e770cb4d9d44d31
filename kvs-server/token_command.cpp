// `kvs-server token`: prints a fresh token for a user, from the node's data directory, for
// operators (SPEC section 2, Authentication). Like the other operator commands it refuses to
// run while a server holds the data directory.

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "kvs/config.hpp"
#include "kvs/node.hpp"
#include "subcommands.hpp"

namespace kvs::server {

int run_token(const std::vector<std::string>& args) {
  std::string config_path = "./config.yaml";
  std::string user;
  std::optional<std::uint8_t> scopes;
  std::optional<std::chrono::milliseconds> ttl;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string name = args[i];
    std::string value;
    if (auto equals = name.find('='); name.rfind("--", 0) == 0 && equals != std::string::npos) {
      value = name.substr(equals + 1);
      name = name.substr(0, equals);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      std::fprintf(stderr, "kvs-server token: %s needs a value (see kvs-server --help)\n", name.c_str());
      return 2;
    }
    if (name == "--config") {
      config_path = value;
    } else if (name == "--user") {
      user = value;
    } else if (name == "--scopes") {
      std::uint8_t bits = 0;
      std::size_t start = 0;
      while (start <= value.size()) {
        std::size_t comma = value.find(',', start);
        std::string item = value.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        auto bit = scope_from_name(item);
        if (!bit) {
          std::fprintf(stderr, "kvs-server token: unknown scope '%s' (scopes: read, write, admin)\n", item.c_str());
          return 2;
        }
        bits |= *bit;
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
      scopes = bits;
    } else if (name == "--ttl") {
      auto parsed = parse_duration(value);
      if (!parsed.is_ok()) {
        std::fprintf(stderr, "kvs-server token: --ttl: %s\n", parsed.status().message().c_str());
        return 2;
      }
      ttl = *parsed;
    } else {
      std::fprintf(stderr, "kvs-server token: unexpected argument '%s' (see kvs-server --help)\n", name.c_str());
      return 2;
    }
  }
  if (user.empty()) {
    std::fprintf(stderr, "kvs-server token: --user NICKNAME is required\n");
    return 2;
  }
  int exit_code = 0;
  auto node = open_node("token", config_path, exit_code);
  if (!node) return exit_code;
  if (!node->auth_enabled()) {
    std::fprintf(stderr, "kvs-server token: authentication is disabled in %s (auth_enabled: false)\n",
                 config_path.c_str());
    return 1;
  }
  auto token = node->issue_token(user, scopes, ttl);
  if (!token.is_ok()) {
    std::fprintf(stderr, "kvs-server token: %s\n", token.status().message().c_str());
    return token.status().code() == Status::Code::kInvalidArgument ? 2 : 1;
  }
  std::printf("%s\n", token->token.c_str());
  return 0;
}

}  // namespace kvs::server
