#pragma once

// The audit log over REST (SPEC section 2, "Operations"), registered only when
// tamper_logging_enabled, so that the routes are absent (404) otherwise:
//   GET /audit?since=SEQ&limit=N  admin: entries with seq >= SEQ (default 1), at most N
//                                 (default 100, 1..10000), in seq order:
//                                 {"entries":[{"seq","timestamp","actor","action","path",
//                                   "value_hash" (null for a delete),"prev_hash","hash"}],
//                                  "next_since": SEQ to ask for next, or null}
//   GET /audit/verify             admin: {"ok":true,"entries":N} or {"ok":false,"first_bad_seq":S}
// Both need a bearer token when auth is on (403 without the admin scope). Each handler is one
// call into kvs::Node, which reads the chain from one storage snapshot.

#include "http_server.hpp"
#include "kvs/node.hpp"

namespace kvs::server {

// Registers the routes above. `node` must outlive `server`.
void register_audit_routes(HttpServer& server, Node& node);

}  // namespace kvs::server
