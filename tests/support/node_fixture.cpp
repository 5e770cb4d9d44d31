#include "support/node_fixture.hpp"

#include <fstream>
#include <stdexcept>
#include <utility>

#include <catch2/catch.hpp>

#include "kvs/log.hpp"

namespace kvs::test {

Config node_test_config(const std::filesystem::path& data_dir) {
  Config config;
  config.node_id = "test-node";
  config.data_dir = data_dir.string();
  config.auth_enabled = false;
  config.clustering_enabled = false;
  config.tamper_logging_enabled = false;
  config.rate_limiting_enabled = false;
  config.backup_enabled = false;
  config.backup_path = (data_dir.parent_path() / "backups").string();
  config.log_level = "warn";
  // A small map keeps many test environments cheap; the file grows lazily anyway.
  config.map_size_mb = 256;
  return config;
}

NodeFixture::NodeFixture(const std::function<void(Config&)>& tweak) : config(node_test_config(dir / "data")) {
  // Node::open logs at info; a test run opens hundreds of nodes.
  set_log_level(LogLevel::kWarn);
  if (tweak) tweak(config);
  reopen();
}

NodeFixture::~NodeFixture() { close(); }

Node& NodeFixture::node() {
  if (!node_) throw std::logic_error("NodeFixture: the node is not open");
  return *node_;
}

void NodeFixture::close() { node_.reset(); }

void NodeFixture::reopen() {
  close();
  NodeEnv env;
  env.clock = &clock;
  env.random = &random;
  env.background_sweeper = false;
  auto opened = Node::open(config, env);
  if (!opened.is_ok()) throw std::runtime_error("Node::open failed: " + opened.status().to_string());
  node_ = std::move(*opened);
}

std::vector<Version> stored_versions(Node& node) {
  std::vector<Version> versions;
  Status exported = node.export_versions([&](const Version& version) {
    versions.push_back(version);
    return true;
  });
  INFO(exported.to_string());
  REQUIRE(exported.is_ok());
  return versions;
}

std::string json_of_size(std::size_t bytes, std::uint64_t n) {
  std::string head = "{\"n\":" + std::to_string(n) + ",\"pad\":\"";
  std::string tail = "\"}";
  std::size_t pad = bytes > head.size() + tail.size() ? bytes - head.size() - tail.size() : 0;
  return head + std::string(pad, 'x') + tail;
}

std::string first_line(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::string text;
  std::getline(in, text);
  return text;
}

Caller admin_caller(NodeFixture& fixture) {
  auto caller = fixture.node().authenticate(first_line(fixture.config.data_dir + "/admin.token"));
  REQUIRE(caller.is_ok());
  return *caller;
}

Caller new_user_caller(NodeFixture& fixture, const Caller& admin, const std::string& nickname, std::uint8_t scopes) {
  auto user = fixture.node().create_user(nickname, scopes, {admin});
  REQUIRE(user.is_ok());
  auto token = fixture.node().mint_token(user->uuid, scopes, {admin});
  REQUIRE(token.is_ok());
  auto caller = fixture.node().authenticate(token->token);
  REQUIRE(caller.is_ok());
  return *caller;
}

std::unique_ptr<Watch> open_watch(Node& node, WatchOptions options) {
  auto watch = node.watch(options);
  INFO(watch.status().to_string());
  REQUIRE(watch.is_ok());
  return std::move(*watch);
}

}  // namespace kvs::test
