#pragma once

// KVS_EXPORT marks the symbols of the public API. libkvs is built static by default; a shared
// build compiles with -fvisibility=hidden and defines KVS_BUILDING_SHARED so that only these
// symbols are exported.
#if defined(KVS_BUILDING_SHARED)
#define KVS_EXPORT __attribute__((visibility("default")))
#else
#define KVS_EXPORT
#endif
