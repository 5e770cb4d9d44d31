#pragma once

// KVS_EXPORT marks the public API that a shared libkvs exports. A shared build compiles every
// source with -fvisibility=hidden -fvisibility-inlines-hidden, so a symbol without the mark stays
// inside the library; a static build hides nothing and the mark changes nothing. Consumers need
// no define: the attribute matters only where the symbol is defined.
//
// What a public header declares and the library defines out of line carries the mark:
//   class KVS_EXPORT Clock { ... };                     // a class with out-of-line members or a vtable
//   KVS_EXPORT Status validate_json(std::string_view);  // a free function
// Aggregates, enums, templates and inline functions need none. A class nested in an exported
// class is exported with it: an internal one (a pimpl) carries KVS_NO_EXPORT instead.
//   struct KVS_NO_EXPORT Impl;
#if defined(__GNUC__) || defined(__clang__)
#define KVS_EXPORT [[gnu::visibility("default")]]
#define KVS_NO_EXPORT [[gnu::visibility("hidden")]]
#else
#define KVS_EXPORT
#define KVS_NO_EXPORT
#endif
