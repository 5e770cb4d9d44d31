#pragma once

// Clang thread-safety annotations (-Wthread-safety); they expand to nothing elsewhere. They
// document which mutex guards a member even where the compiler cannot check it.

#if defined(__clang__)
#define KVS_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define KVS_THREAD_ANNOTATION(x)
#endif

#define KVS_GUARDED_BY(mutex) KVS_THREAD_ANNOTATION(guarded_by(mutex))
#define KVS_REQUIRES(...) KVS_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define KVS_EXCLUDES(...) KVS_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
