// kvsctl's command line: flags anywhere, operands and flags checked per command, help and
// version, and which endpoint and token win. Not covered here: reading the token file and
// stdin (main.cpp; the integration tests run the binary).

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "cli.hpp"

using kvsctl::ConnectionChoice;
using kvsctl::Environment;
using kvsctl::GlobalOptions;
using kvsctl::help_text;
using kvsctl::Invocation;
using kvsctl::OutputFormat;
using kvsctl::parse_command_line;
using kvsctl::resolve_connection;

namespace {

Invocation parsed(const std::vector<std::string>& args) {
  auto result = parse_command_line(args);
  INFO(result.error);
  REQUIRE(result.invocation.has_value());
  return *result.invocation;
}

std::string refused(const std::vector<std::string>& args) {
  auto result = parse_command_line(args);
  REQUIRE_FALSE(result.invocation.has_value());
  REQUIRE_FALSE(result.error.empty());
  return result.error;
}

}  // namespace

TEST_CASE("a command's operands and flags are parsed wherever the flags stand", "[kvsctl]") {
  auto put = parsed({"--endpoint", "http://10.0.0.1:9000", "put", "users/john", "{\"a\":1}", "--ttl=30s", "-o", "table"});
  CHECK(put.command == "put");
  CHECK(put.action.empty());
  CHECK(put.operands == std::vector<std::string>{"users/john", "{\"a\":1}"});
  CHECK(put.value("ttl") == "30s");
  CHECK(put.global.endpoint == "http://10.0.0.1:9000");
  CHECK(put.global.output == OutputFormat::kTable);

  auto early = parsed({"--create-only", "put", "k", "1"});
  CHECK(early.has("create-only"));
  CHECK(early.value("create-only").empty());
}

TEST_CASE("a lone dash and negative numbers are operands, and -- ends the flags", "[kvsctl]") {
  CHECK(parsed({"put", "k", "-"}).operands == std::vector<std::string>{"k", "-"});
  CHECK(parsed({"put", "k", "-5"}).operands == std::vector<std::string>{"k", "-5"});
  CHECK(parsed({"put", "--", "--odd", "true"}).operands == std::vector<std::string>{"--odd", "true"});
}

TEST_CASE("commands with actions need a known action", "[kvsctl]") {
  auto create = parsed({"user", "create", "john", "--scopes", "read,write"});
  CHECK(create.command == "user");
  CHECK(create.action == "create");
  CHECK(create.command_path() == "user create");
  CHECK(create.operands == std::vector<std::string>{"john"});
  CHECK(refused({"user"}).find("needs an action") != std::string::npos);
  CHECK(refused({"user", "frobnicate"}).find("unknown action") != std::string::npos);
  CHECK(refused({"group", "list"}).find("unknown action") != std::string::npos);  // no such route
}

TEST_CASE("usage errors name what is wrong", "[kvsctl]") {
  CHECK(refused({}).find("no command") != std::string::npos);
  CHECK(refused({"frob"}).find("unknown command 'frob'") != std::string::npos);
  CHECK(refused({"get", "k", "--bogus"}).find("unknown flag '--bogus'") != std::string::npos);
  CHECK(refused({"get", "k", "-x"}).find("unknown flag '-x'") != std::string::npos);
  CHECK(refused({"get"}).find("usage: kvsctl get KEY") != std::string::npos);
  CHECK(refused({"get", "a", "b"}).find("usage: kvsctl get KEY") != std::string::npos);
  CHECK(refused({"get", "k", "--ttl", "5s"}).find("takes no flag --ttl") != std::string::npos);
  CHECK(refused({"get", "k", "--endpoint"}).find("needs a value") != std::string::npos);
  CHECK(refused({"range", "--limit", "0"}).find("positive whole number") != std::string::npos);
  CHECK(refused({"range", "--limit", "ten"}).find("positive whole number") != std::string::npos);
  CHECK(refused({"range", "--values=yes"}).find("takes no value") != std::string::npos);
  CHECK(refused({"health", "-o", "yaml"}).find("json or table") != std::string::npos);
  CHECK(refused({"put", "k", "1", "--if-match", "u", "--create-only"}).find("not both") != std::string::npos);
  CHECK(refused({"audit", "list", "--since", "x"}).find("positive whole number") != std::string::npos);
  CHECK(refused({"user", "update", "u1"}).find("--nickname or --scopes") != std::string::npos);
  CHECK(refused({"group", "update", "g1"}).find("--name or --members") != std::string::npos);
  CHECK(refused({"audit", "verify", "--head-seq", "3"}).find("together") != std::string::npos);
  CHECK(refused({"audit", "list", "--head-hash", "ab"}).find("takes no flag --head-hash") != std::string::npos);
}

TEST_CASE("--help is accepted on every command and action, whatever else is missing", "[kvsctl]") {
  CHECK(parsed({"--help"}).help);
  CHECK(parsed({"--help"}).command.empty());
  auto get = parsed({"get", "--help"});  // no KEY: help does not check operands
  CHECK(get.help);
  CHECK(get.command == "get");
  auto user = parsed({"user", "-h"});
  CHECK(user.help);
  CHECK(user.action.empty());
  CHECK(parsed({"user", "create", "--help"}).action == "create");
  CHECK(parsed({"--version"}).version);
  CHECK(refused({"get", "k", "--version"}).find("--version") != std::string::npos);
}

TEST_CASE("the help texts list every command, each action, and each command's flags", "[kvsctl]") {
  const std::string general = help_text("");
  for (const char* command : {"get", "put", "del", "ls", "range", "history", "watch", "members", "leave", "health",
                              "ready", "user", "group", "token", "backup", "audit", "export"}) {
    INFO(command);
    CHECK(general.find(std::string("\n  ") + command + " ") != std::string::npos);
    CHECK(help_text(command).find(std::string("kvsctl ") + command) != std::string::npos);
  }
  CHECK(general.find("KVS_ENDPOINT") != std::string::npos);
  CHECK(general.find("Exit status") != std::string::npos);
  const std::string put = help_text("put");
  CHECK(put.find("Usage: kvsctl put KEY JSON|-") != std::string::npos);
  for (const char* flag : {"--ttl", "--if-match", "--create-only"}) CHECK(put.find(flag) != std::string::npos);
  const std::string user = help_text("user");
  for (const char* action : {"create", "list", "get", "update", "delete"}) {
    CHECK(user.find(std::string("kvsctl user ") + action) != std::string::npos);
  }
  CHECK(help_text("user", "update").find("--nickname") != std::string::npos);
}

TEST_CASE("flags win over the environment, and a token over a token file", "[kvsctl]") {
  Environment environment{"http://env:1/", "env-token", "/env/token-file", "/env/ca.pem"};
  GlobalOptions none;
  ConnectionChoice from_env = resolve_connection(none, environment);
  CHECK(from_env.endpoint == "http://env:1");  // trailing '/' dropped
  CHECK(from_env.token == "env-token");
  CHECK_FALSE(from_env.token_file);
  CHECK(from_env.cacert == "/env/ca.pem");

  GlobalOptions file_flag;
  file_flag.token_file = "/flag/token-file";
  ConnectionChoice file_wins = resolve_connection(file_flag, environment);
  CHECK(file_wins.token_file == "/flag/token-file");  // a flag beats KVS_TOKEN
  CHECK_FALSE(file_wins.token);

  GlobalOptions both;
  both.token = "flag-token";
  both.token_file = "/flag/token-file";
  both.endpoint = "https://flag:2";
  both.cacert = "/flag/ca.pem";
  ConnectionChoice flags = resolve_connection(both, environment);
  CHECK(flags.token == "flag-token");
  CHECK_FALSE(flags.token_file);
  CHECK(flags.endpoint == "https://flag:2");
  CHECK(flags.cacert == "/flag/ca.pem");

  Environment file_only{std::nullopt, std::nullopt, "/env/token-file", std::nullopt};
  ConnectionChoice env_file = resolve_connection(none, file_only);
  CHECK(env_file.token_file == "/env/token-file");
  CHECK(env_file.endpoint == "http://127.0.0.1:8080");
  CHECK(env_file.cacert.empty());

  ConnectionChoice nothing = resolve_connection(none, Environment{});
  CHECK_FALSE(nothing.token);
  CHECK_FALSE(nothing.token_file);
}

TEST_CASE("a token file's surrounding whitespace is not part of the token", "[kvsctl]") {
  CHECK(kvsctl::token_from_file_contents("eyJ.abc.def\n") == "eyJ.abc.def");
  CHECK(kvsctl::token_from_file_contents("  eyJ.abc.def\r\n\n") == "eyJ.abc.def");
  CHECK(kvsctl::token_from_file_contents("\n").empty());
}
