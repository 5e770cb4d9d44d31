#pragma once

// Operator subcommands (SPEC section 2, "Operator commands"). Each opens the data directory
// through kvs::Node::open, so it refuses to run while a server holds it. Each returns the
// process exit status: 0 done, 1 failed, 2 bad usage or configuration.

#include <string>
#include <vector>

namespace kvs::server {

// `kvs-server export|import|restore ...`: `args` are the words after the subcommand name.
int run_export(const std::vector<std::string>& args);
int run_import(const std::vector<std::string>& args);
int run_restore(const std::vector<std::string>& args);

}  // namespace kvs::server
