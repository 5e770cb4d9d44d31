#pragma once

// Operator subcommands (SPEC section 2, "Operator commands"). Each opens the data directory
// through kvs::Node::open, so it refuses to run while a server holds it. Each returns the
// process exit status: 0 done, 1 failed, 2 bad usage or configuration.

#include <memory>
#include <string>
#include <vector>

#include "kvs/node.hpp"

namespace kvs::server {

// `kvs-server export|import|restore ...`: `args` are the words after the subcommand name.
int run_export(const std::vector<std::string>& args);
int run_import(const std::vector<std::string>& args);
int run_restore(const std::vector<std::string>& args);
// `kvs-server token --config FILE --user NICKNAME [--scopes read,write] [--ttl 24h]`.
int run_token(const std::vector<std::string>& args);

// Loads the configuration (which must exist: an operator command never writes one) and opens
// the node offline (NodeEnv::offline: no membership, replication, bootstrap or admin user,
// whatever the configuration says). Prints the problem and sets `exit_code` on failure.
std::unique_ptr<Node> open_node(const char* command, const std::string& config_path, int& exit_code);

}  // namespace kvs::server
