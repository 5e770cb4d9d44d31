#pragma once

// The umbrella header of libkvs: include this and link kvs::kvs.

#include "kvs/auth.hpp"
#include "kvs/clock.hpp"
#include "kvs/cluster.hpp"
#include "kvs/config.hpp"
#include "kvs/export.hpp"
#include "kvs/log.hpp"
#include "kvs/node.hpp"
#include "kvs/operations.hpp"
#include "kvs/status.hpp"
#include "kvs/types.hpp"
#include "kvs/version.hpp"
#include "kvs/watch.hpp"
