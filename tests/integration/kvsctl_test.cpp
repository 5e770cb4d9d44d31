// kvsctl, the real binary, against a real kvs-server on loopback: the data commands with their
// conditions and stdin, `ls` across pages, tables, which token wins, the exit statuses, users,
// groups, tokens, backups, audit and export with auth on. Each run starts from an environment
// without KVS_* variables, so the caller's shell cannot change the outcome.
// `watch` prints events into a pipe as they come and ends cleanly when the pipe closes and on
// Ctrl-C. Not yet: kvsctl's exit status when the server stops under it (seen flaky, 3 once).
// Not covered: `-o table` layouts beyond ls, range, members, health, user list and watch (the
// unit tests render them).

#ifdef KVSCTL_BINARY

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "support/http_client.hpp"
#include "support/server_process.hpp"
#include "support/temp_dir.hpp"

using kvs::test::CommandResult;
using kvs::test::free_port;
using kvs::test::HttpClient;
using kvs::test::json_bool;
using kvs::test::json_has;
using kvs::test::json_int;
using kvs::test::json_minified;
using kvs::test::json_size;
using kvs::test::json_string;
using kvs::test::json_valid;
using kvs::test::run_shell;
using kvs::test::ServerConfig;
using kvs::test::ServerProcess;
using kvs::test::TempDir;

namespace {

std::string shell_quoted(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// Runs kvsctl with `args`, the environment cleared of KVS_* and then given `env` (NAME=value
// pairs), and stdin from `stdin_file` (else /dev/null).
CommandResult kvsctl(const std::vector<std::string>& args, const std::vector<std::string>& env = {},
                     const std::string& stdin_file = "") {
  std::string command = "env -u KVS_ENDPOINT -u KVS_TOKEN -u KVS_TOKEN_FILE -u KVS_CACERT";
  for (const auto& assignment : env) command += " " + shell_quoted(assignment);
  command += " " + shell_quoted(KVSCTL_BINARY);
  for (const auto& arg : args) command += " " + shell_quoted(arg);
  command += " <" + shell_quoted(stdin_file.empty() ? std::string("/dev/null") : stdin_file);
  return run_shell(command, std::chrono::seconds(60));
}

// kvsctl against `server`, through --endpoint.
CommandResult kvsctl_at(const ServerProcess& server, std::vector<std::string> args,
                        const std::vector<std::string>& env = {}, const std::string& stdin_file = "") {
  args.insert(args.begin(), {"--endpoint", server.base_url()});
  return kvsctl(args, env, stdin_file);
}

std::string read_token(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string token((std::istreambuf_iterator<char>(in)), {});
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  return token;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// A kvsctl started in the background (for `watch`), its stdout and stderr going to files. The
// shell execs kvsctl, so the pid is kvsctl's own and a signal sent to it reaches kvsctl.
class BackgroundKvsctl {
 public:
  BackgroundKvsctl(const TempDir& dir, const std::vector<std::string>& args)
      : out_path_((dir / "watch.out").string()), err_path_((dir / "watch.err").string()) {
    std::string command = "exec env -u KVS_ENDPOINT -u KVS_TOKEN -u KVS_TOKEN_FILE -u KVS_CACERT " + shell_quoted(KVSCTL_BINARY);
    for (const auto& arg : args) command += " " + shell_quoted(arg);
    command += " </dev/null >" + shell_quoted(out_path_) + " 2>" + shell_quoted(err_path_);
    const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};
    if (::posix_spawn(&pid_, "/bin/sh", nullptr, nullptr, const_cast<char* const*>(argv), environ) != 0) pid_ = -1;
  }
  ~BackgroundKvsctl() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  BackgroundKvsctl(const BackgroundKvsctl&) = delete;
  BackgroundKvsctl& operator=(const BackgroundKvsctl&) = delete;

  bool started() const { return pid_ > 0; }
  void signal(int number) const { ::kill(pid_, number); }
  std::string out() const { return read_file(out_path_); }
  std::string err() const { return read_file(err_path_); }

  // Polls until stdout holds `count` lines, up to `timeout`.
  bool wait_lines(std::size_t count, std::chrono::milliseconds timeout) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (lines_of(out()).size() < count) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return true;
  }

  // The exit status once kvsctl exits within `timeout` (128 + signal when killed), else -1.
  int wait_exit(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      if (std::chrono::steady_clock::now() >= deadline) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

 private:
  static std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::string out_path_;
  std::string err_path_;
  pid_t pid_ = -1;
};

// Heartbeats every second, so that a watch whose stdout closed learns it soon.
ServerConfig watch_config() {
  ServerConfig config;
  config.extra_yaml = "watch_heartbeat: 1s\n";
  return config;
}

// The cursor of a _range answer for `prefix`, to watch from.
std::string cursor_before(HttpClient& client, const std::string& prefix) {
  auto listed = client.get("/kv/_range?prefix=" + prefix);
  REQUIRE(listed.status == 200);
  auto cursor = json_string(listed.body, "/cursor");
  REQUIRE(cursor);
  return *cursor;
}

// Each evaluates `result` once (it may be the kvsctl run itself) and shows its output on failure.
#define CHECK_RUN(result, code)                                       \
  do {                                                                \
    const CommandResult& run_ = (result);                             \
    INFO("stdout: " << run_.out << "\nstderr: " << run_.err);         \
    CHECK(run_.exit_code == (code));                                  \
  } while (false)

#define REQUIRE_RUN(result, code)                                     \
  do {                                                                \
    const CommandResult& run_ = (result);                             \
    INFO("stdout: " << run_.out << "\nstderr: " << run_.err);         \
    REQUIRE(run_.exit_code == (code));                                \
  } while (false)

}  // namespace

TEST_CASE("kvsctl puts, gets and deletes a key, and reads a document from stdin", "[integration][kvsctl]") {
  ServerProcess server;
  REQUIRE(server.start());

  auto put = kvsctl_at(server, {"put", "users/john", R"({"name":"John","age":42})"});
  REQUIRE_RUN(put, 0);
  auto uuid = json_string(put.out, "/uuid");
  REQUIRE(uuid);
  CHECK(json_int(put.out, "/timestamp").value_or(0) > 0);

  auto get = kvsctl_at(server, {"get", "users/john"});
  REQUIRE_RUN(get, 0);
  CHECK(json_string(get.out, "/uuid") == *uuid);
  CHECK(json_minified(get.out, "/data") == R"({"name":"John","age":42})");

  // If-Match with the current uuid applies; with another, the server refuses with its code.
  CHECK_RUN(kvsctl_at(server, {"put", "users/john", "43", "--if-match", *uuid}), 0);
  auto stale = kvsctl_at(server, {"put", "users/john", "44", "--if-match", *uuid});
  CHECK_RUN(stale, 1);
  CHECK(stale.err.find("precondition_failed") != std::string::npos);

  auto del = kvsctl_at(server, {"del", "users/john"});
  CHECK_RUN(del, 0);
  CHECK(del.out.empty());
  auto gone = kvsctl_at(server, {"get", "users/john"});
  CHECK_RUN(gone, 1);
  CHECK(gone.out.empty());
  CHECK(gone.err.find("not_found") != std::string::npos);
  CHECK(gone.err.find("404") != std::string::npos);

  // A document from stdin, with a TTL.
  TempDir dir("kvsctl-stdin");
  const std::string document = dir.str() + "/doc.json";
  std::ofstream(document) << "{\n  \"from\": \"stdin\", \"list\": [1, 2]\n}\n";
  CHECK_RUN(kvsctl_at(server, {"put", "piped", "-", "--ttl", "1h"}, {}, document), 0);
  auto piped = kvsctl_at(server, {"get", "piped"});
  REQUIRE_RUN(piped, 0);
  CHECK(json_minified(piped.out, "/data") == R"({"from":"stdin","list":[1,2]})");
  CHECK(json_has(piped.out, "/expires_at"));

  // Invalid JSON is the server's refusal, not a usage error.
  auto invalid = kvsctl_at(server, {"put", "bad", "{nope"});
  CHECK_RUN(invalid, 1);
  CHECK(invalid.err.find("invalid_argument") != std::string::npos);

  // The history of a key, newest first.
  CHECK_RUN(kvsctl_at(server, {"put", "h", "1"}), 0);
  CHECK_RUN(kvsctl_at(server, {"put", "h", "2"}), 0);
  auto history = kvsctl_at(server, {"history", "h"});
  REQUIRE_RUN(history, 0);
  CHECK(json_size(history.out, "/revisions") == 2u);
  CHECK(json_minified(history.out, "/revisions/0/data") == "2");
}

TEST_CASE("kvsctl put --create-only creates once; the second is refused with the server's code",
          "[integration][kvsctl]") {
  ServerProcess server;
  REQUIRE(server.start());
  CHECK_RUN(kvsctl_at(server, {"put", "locks/job", R"({"owner":"a"})", "--create-only"}), 0);
  auto second = kvsctl_at(server, {"put", "locks/job", R"({"owner":"b"})", "--create-only"});
  CHECK_RUN(second, 1);
  CHECK(second.out.empty());
  CHECK(second.err.find("precondition_failed") != std::string::npos);
  auto kept = kvsctl_at(server, {"get", "locks/job"});
  CHECK(json_minified(kept.out, "/data") == R"({"owner":"a"})");
}

TEST_CASE("kvsctl ls lists one level across pages; range renders a table", "[integration][kvsctl]") {
  ServerProcess server;
  REQUIRE(server.start());
  HttpClient client(server.base_url());
  REQUIRE(client.put("/kv/users/al", "1").status == 200);
  REQUIRE(client.put("/kv/users/bob/profile", "2").status == 200);
  REQUIRE(client.put("/kv/users/bob/settings", "3").status == 200);
  REQUIRE(client.put("/kv/users/zed", "{\"n\":4}").status == 200);
  REQUIRE(client.put("/kv/top", "5").status == 200);
  // More entries than one page holds (the server's default limit is 100): ls follows them all.
  for (int i = 0; i < 130; ++i) REQUIRE(client.put("/kv/many/" + std::to_string(1000 + i), "0").status == 200);

  auto ls = kvsctl_at(server, {"ls", "users/"});
  REQUIRE_RUN(ls, 0);
  CHECK(json_size(ls.out, "/items") == 2u);
  CHECK(json_string(ls.out, "/items/0/path") == "users/al");
  CHECK(json_string(ls.out, "/items/1/path") == "users/zed");
  CHECK(json_minified(ls.out, "/prefixes") == R"(["users/bob/"])");

  auto top = kvsctl_at(server, {"ls"});
  REQUIRE_RUN(top, 0);
  CHECK(json_minified(top.out, "/prefixes") == R"(["many/","users/"])");
  CHECK(json_string(top.out, "/items/0/path") == "top");

  auto many = kvsctl_at(server, {"ls", "many/"});
  REQUIRE_RUN(many, 0);
  CHECK(json_size(many.out, "/items") == 130u);
  CHECK(json_string(many.out, "/items/129/path") == "many/1129");
  CHECK(kvs::test::json_is_null(many.out, "/next_start_key"));

  auto table = kvsctl_at(server, {"-o", "table", "ls", "users/"});
  REQUIRE_RUN(table, 0);
  auto ls_lines = lines_of(table.out);
  REQUIRE(ls_lines.size() == 4u);
  CHECK(ls_lines[0].rfind("PATH        UUID", 0) == 0);
  CHECK(ls_lines[1].rfind("users/al    ", 0) == 0);
  CHECK(ls_lines[2].rfind("users/bob/  -", 0) == 0);
  CHECK(ls_lines[3].rfind("users/zed   ", 0) == 0);

  auto range = kvsctl_at(server, {"range", "--prefix", "users/", "--limit", "3", "--values", "-o", "table"});
  REQUIRE_RUN(range, 0);
  auto lines = lines_of(range.out);
  INFO(range.out);
  REQUIRE(lines.size() == 7u);  // header, 3 rows, a blank line, next_start_key, cursor
  CHECK(lines[5].rfind("next_start_key", 0) == 0);
  CHECK(lines[6].rfind("cursor", 0) == 0);
  CHECK(lines[0].rfind("PATH", 0) == 0);
  // Columns line up: every row's UUID starts where the header's does.
  const std::size_t uuid_column = lines[0].find("UUID");
  REQUIRE(uuid_column != std::string::npos);
  CHECK(lines[1].rfind("users/al", 0) == 0);
  CHECK(lines[2].rfind("users/bob/profile", 0) == 0);
  CHECK(lines[3].rfind("users/bob/settings", 0) == 0);
  for (std::size_t i = 1; i <= 3; ++i) {
    CHECK(lines[i][uuid_column - 1] == ' ');
    CHECK(lines[i][uuid_column] != ' ');
  }
  CHECK(lines[0].find("DATA") != std::string::npos);
  CHECK(lines[4].empty());
  CHECK(lines[5] == "next_start_key: users/zed");

  auto json = kvsctl_at(server, {"range", "--start", "users/bob/", "--end", "users/zed"});
  REQUIRE_RUN(json, 0);
  CHECK(json_size(json.out, "/items") == 2u);
  CHECK_FALSE(json_has(json.out, "/items/0/data"));
}

TEST_CASE("kvsctl health and members answer in json and as tables", "[integration][kvsctl]") {
  ServerConfig config;
  config.clustering_enabled = true;
  ServerProcess server(config);
  REQUIRE(server.start());
  auto health = kvsctl_at(server, {"health"});
  REQUIRE_RUN(health, 0);
  CHECK(json_string(health.out, "/status") == "ok");
  auto health_table = kvsctl_at(server, {"health", "-o", "table"});
  REQUIRE_RUN(health_table, 0);
  bool status_line = false;
  for (const auto& line : lines_of(health_table.out)) {
    status_line = status_line || (line.rfind("status:", 0) == 0 && line.ends_with(" ok"));
  }
  CHECK(status_line);

  auto members = kvsctl_at(server, {"members"});
  REQUIRE_RUN(members, 0);
  CHECK(json_size(members.out, "") == 1u);
  auto members_table = kvsctl_at(server, {"members", "-o", "table"});
  REQUIRE_RUN(members_table, 0);
  auto lines = lines_of(members_table.out);
  REQUIRE(lines.size() == 2u);
  CHECK(lines[0].rfind("ID", 0) == 0);
  CHECK(lines[0].find("STATUS") != std::string::npos);
  CHECK(lines[1].find("alive") != std::string::npos);

  auto ready = kvsctl_at(server, {"ready"});
  REQUIRE_RUN(ready, 0);
  CHECK(json_bool(ready.out, "/ready") == true);
  // Leaving a cluster of one: the node answers 204 and runs standalone, still listing itself.
  auto left = kvsctl_at(server, {"leave"});
  REQUIRE_RUN(left, 0);
  CHECK(left.out.empty());
  auto after = kvsctl_at(server, {"members"});
  REQUIRE_RUN(after, 0);
  CHECK(json_size(after.out, "") == 1u);
}

TEST_CASE("kvsctl exits 2 on usage errors and 3 when no server answers", "[integration][kvsctl]") {
  auto bad_flag = kvsctl({"get", "k", "--bogus"});
  CHECK_RUN(bad_flag, 2);
  CHECK(bad_flag.err.find("--bogus") != std::string::npos);
  CHECK_RUN(kvsctl({"frobnicate"}), 2);
  CHECK_RUN(kvsctl({"put", "k"}), 2);
  CHECK_RUN(kvsctl({}), 2);
  auto missing_file = kvsctl({"get", "k", "--token-file", "/nonexistent/kvs.token"});
  CHECK_RUN(missing_file, 2);
  CHECK(missing_file.err.find("/nonexistent/kvs.token") != std::string::npos);

  const std::string closed = "http://127.0.0.1:" + std::to_string(free_port());
  auto unreachable = kvsctl({"--endpoint", closed, "get", "k"});
  CHECK_RUN(unreachable, 3);
  CHECK(unreachable.err.find("cannot reach " + closed) != std::string::npos);
  // KVS_ENDPOINT is used when no flag is given.
  CHECK_RUN(kvsctl({"health"}, {"KVS_ENDPOINT=" + closed}), 3);

  auto help = kvsctl({"--help"});
  CHECK_RUN(help, 0);
  CHECK(help.out.find("Commands:") != std::string::npos);
  auto put_help = kvsctl({"put", "--help"});
  CHECK_RUN(put_help, 0);
  CHECK(put_help.out.find("--create-only") != std::string::npos);
  auto version = kvsctl({"--version"});
  CHECK_RUN(version, 0);
  CHECK(version.out.rfind("kvsctl ", 0) == 0);
}

TEST_CASE("kvsctl verifies an https endpoint against --cacert; an untrusted one exits 3", "[integration][kvsctl]") {
  ServerConfig config;
  config.tls = true;
  ServerProcess server(config);
  REQUIRE(server.start());
  const std::string cacert = (server.dir() / "cert.pem").string();
  auto untrusted = kvsctl_at(server, {"health"});
  CHECK_RUN(untrusted, 3);
  CHECK(untrusted.err.find("cannot reach " + server.base_url()) != std::string::npos);
  auto trusted = kvsctl_at(server, {"health", "--cacert", cacert});
  CHECK_RUN(trusted, 0);
  CHECK(json_string(trusted.out, "/status") == "ok");
  CHECK_RUN(kvsctl_at(server, {"health"}, {"KVS_CACERT=" + cacert}), 0);
}

TEST_CASE("kvsctl takes its token from flags before the environment, --token before --token-file",
          "[integration][kvsctl]") {
  ServerConfig config;
  config.auth_enabled = true;
  ServerProcess server(config);
  REQUIRE(server.start());
  const std::string token_file = server.data_dir() + "/admin.token";
  const std::string admin = read_token(token_file);
  REQUIRE_FALSE(admin.empty());
  const std::string bad = "not-a-token";
  REQUIRE(HttpClient(server.base_url()).put("/kv/k", "1", {{"Authorization", "Bearer " + admin}}).status == 200);

  auto no_token = kvsctl_at(server, {"get", "k"});
  CHECK_RUN(no_token, 1);
  CHECK(no_token.err.find("unauthenticated") != std::string::npos);

  CHECK_RUN(kvsctl_at(server, {"get", "k"}, {"KVS_TOKEN=" + admin}), 0);
  CHECK_RUN(kvsctl_at(server, {"get", "k"}, {"KVS_TOKEN_FILE=" + token_file}), 0);
  CHECK_RUN(kvsctl_at(server, {"get", "k", "--token", admin}, {"KVS_TOKEN=" + bad}), 0);
  CHECK_RUN(kvsctl_at(server, {"get", "k", "--token", bad}, {"KVS_TOKEN=" + admin}), 1);
  CHECK_RUN(kvsctl_at(server, {"get", "k", "--token-file", token_file}, {"KVS_TOKEN=" + bad}), 0);
  CHECK_RUN(kvsctl_at(server, {"get", "k", "--token", bad, "--token-file", token_file}), 1);
  CHECK_RUN(kvsctl_at(server, {"get", "k", "--token", admin, "--token-file", "/nonexistent"}), 0);
  // KVS_TOKEN wins over KVS_TOKEN_FILE.
  CHECK_RUN(kvsctl_at(server, {"get", "k"}, {"KVS_TOKEN=" + bad, "KVS_TOKEN_FILE=" + token_file}), 1);
  // And KVS_ENDPOINT loses to --endpoint.
  const std::string closed = "http://127.0.0.1:" + std::to_string(free_port());
  CHECK_RUN(kvsctl_at(server, {"get", "k"}, {"KVS_ENDPOINT=" + closed, "KVS_TOKEN=" + admin}), 0);
}

TEST_CASE("kvsctl manages users, groups and tokens, and reads backups, audit and export as admin",
          "[integration][kvsctl]") {
  ServerConfig config;
  config.auth_enabled = true;
  ServerProcess server(config);
  REQUIRE(server.start());
  const std::vector<std::string> as_admin{"KVS_TOKEN_FILE=" + server.data_dir() + "/admin.token"};

  auto created = kvsctl_at(server, {"user", "create", "bob", "--scopes", "read,write"}, as_admin);
  REQUIRE_RUN(created, 0);
  auto bob = json_string(created.out, "/uuid");
  REQUIRE(bob);
  CHECK(json_minified(created.out, "/scopes") == R"(["read","write"])");
  auto fetched = kvsctl_at(server, {"user", "get", *bob}, as_admin);
  CHECK(json_string(fetched.out, "/nickname") == "bob");
  auto listed = kvsctl_at(server, {"user", "list", "-o", "table"}, as_admin);
  REQUIRE_RUN(listed, 0);
  CHECK(listed.out.rfind("UUID", 0) == 0);
  CHECK(listed.out.find(*bob + "  bob") != std::string::npos);
  auto renamed = kvsctl_at(server, {"user", "update", *bob, "--nickname", "robert"}, as_admin);
  CHECK(json_string(renamed.out, "/nickname") == "robert");

  // A read-only token for bob: it reads, it may not write, and it stops working once revoked.
  auto minted = kvsctl_at(server, {"token", "create", "--user", *bob, "--scopes", "read", "--ttl", "1h"}, as_admin);
  REQUIRE_RUN(minted, 0);
  auto token = json_string(minted.out, "/token");
  auto jti = json_string(minted.out, "/jti");
  REQUIRE(token);
  REQUIRE(jti);
  CHECK_RUN(kvsctl_at(server, {"put", "shared", "1"}, as_admin), 0);
  CHECK_RUN(kvsctl_at(server, {"put", "bobs", "1", "--token", *token}), 1);
  auto before = kvsctl_at(server, {"ls", "--token", *token});
  CHECK_RUN(before, 0);
  // Only an admin manages users.
  auto forbidden = kvsctl_at(server, {"user", "list"}, {"KVS_TOKEN=" + *token});
  CHECK_RUN(forbidden, 1);
  CHECK(forbidden.err.find("permission_denied") != std::string::npos);
  CHECK_RUN(kvsctl_at(server, {"token", "revoke", *jti}, as_admin), 0);
  auto after = kvsctl_at(server, {"ls", "--token", *token});
  CHECK_RUN(after, 1);
  CHECK(after.err.find("unauthenticated") != std::string::npos);

  auto group = kvsctl_at(server, {"group", "create", "team", "--members", *bob}, as_admin);
  REQUIRE_RUN(group, 0);
  auto group_id = json_string(group.out, "/uuid");
  REQUIRE(group_id);
  auto group_get = kvsctl_at(server, {"group", "get", *group_id}, as_admin);
  CHECK(json_minified(group_get.out, "/members") == "[\"" + *bob + "\"]");
  auto emptied = kvsctl_at(server, {"group", "update", *group_id, "--members", ""}, as_admin);
  CHECK(json_size(emptied.out, "/members") == 0u);
  CHECK_RUN(kvsctl_at(server, {"group", "delete", *group_id}, as_admin), 0);
  CHECK_RUN(kvsctl_at(server, {"group", "get", *group_id}, as_admin), 1);
  CHECK_RUN(kvsctl_at(server, {"user", "delete", *bob}, as_admin), 0);
  CHECK_RUN(kvsctl_at(server, {"user", "get", *bob}, as_admin), 1);

  auto backup = kvsctl_at(server, {"backup", "create"}, as_admin);
  REQUIRE_RUN(backup, 0);
  auto backup_path = json_string(backup.out, "/path");
  REQUIRE(backup_path);
  auto backups = kvsctl_at(server, {"backup", "list"}, as_admin);
  REQUIRE_RUN(backups, 0);
  CHECK(backups.out.find(*backup_path) != std::string::npos);

  auto verified = kvsctl_at(server, {"audit", "verify"}, as_admin);
  REQUIRE_RUN(verified, 0);
  CHECK(json_bool(verified.out, "/ok") == true);
  auto head_seq = json_int(verified.out, "/head_seq");
  auto head_hash = json_string(verified.out, "/head_hash");
  REQUIRE(head_seq);
  REQUIRE(head_hash);
  auto held = kvsctl_at(server, {"audit", "verify", "--head-seq", std::to_string(*head_seq), "--head-hash", *head_hash},
                        as_admin);
  REQUIRE_RUN(held, 0);
  CHECK(json_bool(held.out, "/ok") == true);
  // A head this chain never had: the answer says so (still an answer, exit 0).
  std::string forged = *head_hash;
  forged[0] = forged[0] == '0' ? '1' : '0';
  auto mismatch = kvsctl_at(server, {"audit", "verify", "--head-seq", std::to_string(*head_seq), "--head-hash", forged},
                            as_admin);
  REQUIRE_RUN(mismatch, 0);
  CHECK(json_bool(mismatch.out, "/ok") == false);
  auto audit = kvsctl_at(server, {"audit", "list", "--limit", "2"}, as_admin);
  REQUIRE_RUN(audit, 0);
  CHECK(json_size(audit.out, "/entries") == 2u);

  // export: the JSON lines of GET /admin/export, one per version, on stdout.
  auto exported = kvsctl_at(server, {"export"}, as_admin);
  REQUIRE_RUN(exported, 0);
  auto lines = lines_of(exported.out);
  CHECK_FALSE(lines.empty());
  bool saw_shared = false;
  for (const auto& line : lines) {
    CHECK(json_valid(line));
    saw_shared = saw_shared || line.find("\"shared\"") != std::string::npos;
  }
  CHECK(saw_shared);
  HttpClient client(server.base_url());
  auto direct = client.get("/admin/export", {{"Authorization", "Bearer " + read_token(server.data_dir() + "/admin.token")}});
  REQUIRE(direct.status == 200);
  CHECK(lines_of(direct.body).size() == lines.size());
  auto refused = kvsctl_at(server, {"export"});
  CHECK_RUN(refused, 1);
  CHECK(refused.out.empty());
}

TEST_CASE("kvsctl watch prints events into a pipe as they come and ends cleanly when the pipe closes",
          "[integration][kvsctl][watch]") {
  ServerProcess server(watch_config());
  REQUIRE(server.start());
  HttpClient client(server.base_url());
  std::string since = cursor_before(client, "kw/");
  for (int i = 0; i < 3; ++i) REQUIRE(client.put("/kv/kw/" + std::to_string(i), "{\"n\":" + std::to_string(i) + "}").status == 200);

  // head exits after two lines; kvsctl's next write (the third event, or a heartbeat a second
  // later) finds the pipe closed, and it ends with 0 rather than die of SIGPIPE (pipefail would
  // report 141). `timeout` only bounds a kvsctl that would hang.
  std::string command = "set -o pipefail; env -u KVS_ENDPOINT -u KVS_TOKEN -u KVS_TOKEN_FILE -u KVS_CACERT timeout -s KILL 30 " +
                        shell_quoted(KVSCTL_BINARY) + " --endpoint " + shell_quoted(server.base_url()) + " watch kw/ --since " +
                        shell_quoted(since) + " --values </dev/null | head -n 2";
  auto piped = run_shell("bash -c " + shell_quoted(command), std::chrono::seconds(60));
  REQUIRE_RUN(piped, 0);
  auto lines = lines_of(piped.out);
  REQUIRE(lines.size() == 2u);
  for (int i = 0; i < 2; ++i) {
    CHECK(json_string(lines[i], "/type") == "put");
    CHECK(json_string(lines[i], "/path") == "kw/" + std::to_string(i));
    CHECK(json_minified(lines[i], "/data") == "{\"n\":" + std::to_string(i) + "}");
  }
}

TEST_CASE("kvsctl watch -o table shows a line per event and ends with 0 on Ctrl-C",
          "[integration][kvsctl][watch]") {
  ServerProcess server(watch_config());
  REQUIRE(server.start());
  HttpClient client(server.base_url());
  std::string since = cursor_before(client, "kt/");
  REQUIRE(client.put("/kv/kt/a", "1").status == 200);
  REQUIRE(client.del("/kv/kt/a").status == 204);
  TempDir dir("kvsctl-watch");

  {
    BackgroundKvsctl watch(dir, {"--endpoint", server.base_url(), "-o", "table", "watch", "kt/", "--since", since});
    REQUIRE(watch.started());
    REQUIRE(watch.wait_lines(2, std::chrono::seconds(20)));
    // Live events too, after the replayed ones.
    REQUIRE(client.put("/kv/kt/b", "2").status == 200);
    REQUIRE(watch.wait_lines(3, std::chrono::seconds(20)));
    auto lines = lines_of(watch.out());
    INFO(watch.out());
    CHECK(lines[0].rfind("put      kt/a  ", 0) == 0);
    CHECK(lines[1].rfind("delete   kt/a  ", 0) == 0);
    CHECK(lines[2].rfind("put      kt/b  ", 0) == 0);
    watch.signal(SIGINT);
    CHECK(watch.wait_exit(std::chrono::seconds(10)) == 0);
    CHECK(watch.err().empty());
  }
}

TEST_CASE("kvsctl watch exits 1 when the server refuses and 3 when none answers", "[integration][kvsctl][watch]") {
  ServerConfig config;
  config.auth_enabled = true;
  ServerProcess server(config);
  REQUIRE(server.start());
  auto refused = kvsctl_at(server, {"watch", "x/"});
  CHECK_RUN(refused, 1);
  CHECK(refused.err.find("unauthenticated") != std::string::npos);

  auto unreachable = kvsctl({"--endpoint", "http://127.0.0.1:" + std::to_string(free_port()), "watch", "x/"});
  CHECK_RUN(unreachable, 3);
}

#endif  // KVSCTL_BINARY
