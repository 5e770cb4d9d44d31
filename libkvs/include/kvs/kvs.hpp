#pragma once

// The umbrella header of libkvs: include this and link kvs::kvs.

#include "kvs/clock.hpp"
#include "kvs/config.hpp"
#include "kvs/export.hpp"
#include "kvs/log.hpp"
#include "kvs/node.hpp"
#include "kvs/status.hpp"
#include "kvs/version.hpp"
