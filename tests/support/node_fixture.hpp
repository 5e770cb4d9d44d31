#pragma once

// NodeFixture: one kvs::Node on a fresh temporary data_dir, driven by a ManualClock and a
// SeededRandom, with auth, clustering and the other optional features off and the background
// sweeper off (tests purge with sweep_now()). The test owns the fixture; the node borrows the
// fixture's clock and random, which outlive it.

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kvs/config.hpp"
#include "kvs/node.hpp"
#include "kvs/watch.hpp"
#include "support/manual_clock.hpp"
#include "support/temp_dir.hpp"

namespace kvs::test {

// A config for a lone in-process node storing into `data_dir`: auth, clustering, audit, rate
// limiting and backups off, so only the data API is exercised.
Config node_test_config(const std::filesystem::path& data_dir);

class NodeFixture {
 public:
  // `tweak` edits the config before the first open.
  explicit NodeFixture(const std::function<void(Config&)>& tweak = {});
  ~NodeFixture();
  NodeFixture(const NodeFixture&) = delete;
  NodeFixture& operator=(const NodeFixture&) = delete;

  // The open node. Requires: the last open succeeded (a failed open fails the test).
  Node& node();

  // Closes the node (draining its writer) and opens the same data_dir again with `config`.
  void reopen();
  void close();

  TempDir dir{"kvs-node-test"};
  ManualClock clock;
  SeededRandom random{20261126};
  Config config;

 private:
  std::unique_ptr<Node> node_;
};

// The first line of a text file ("" when it cannot be read): admin.token and the like.
std::string first_line(const std::filesystem::path& path);

// With auth on: the Caller of the bootstrap admin's token (<data_dir>/admin.token). Fails the
// test when it does not authenticate.
Caller admin_caller(NodeFixture& fixture);

// A new user with `scopes`, created by `admin`, and the Caller of a fresh token of it with the
// same scopes. Fails the test on any refusal.
Caller new_user_caller(NodeFixture& fixture, const Caller& admin, const std::string& nickname, std::uint8_t scopes);

// Every version `node` stores, tombstones included, as Node::export_versions gives them.
// Fails the test when the export fails.
std::vector<Version> stored_versions(Node& node);

// A watch on `node` with `options`. Fails the test when Node::watch refuses it.
std::unique_ptr<Watch> open_watch(Node& node, WatchOptions options = {});

// A JSON document of about `bytes` bytes: {"n":<n>,"pad":"xxx..."}.
std::string json_of_size(std::size_t bytes, std::uint64_t n = 0);

}  // namespace kvs::test
