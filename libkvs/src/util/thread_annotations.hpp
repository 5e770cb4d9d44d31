#pragma once

// Clang thread-safety annotations (-Wthread-safety; KVS_THREAD_SAFETY_ANALYSIS) and the mutex
// types the analysis can follow. They expand to nothing for other compilers. libstdc++'s
// std::mutex and std::lock_guard carry no annotations, so a member guarded by a std::mutex
// could not be checked: a KVS_GUARDED_BY member is guarded by a kvs::Mutex (or SharedMutex)
// and locked through MutexLock (or ReaderLock / WriterLock).
//
//   Mutex mutex_;
//   std::deque<Input> inbox_ KVS_GUARDED_BY(mutex_);
//   void drain() KVS_REQUIRES(mutex_);   // the caller holds mutex_
//   ...
//   MutexLock lock(mutex_);
//   while (inbox_.empty()) lock.wait(wakeup_);

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <shared_mutex>
#include <utility>

#if defined(__clang__)
#define KVS_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define KVS_THREAD_ANNOTATION(x)
#endif

#define KVS_CAPABILITY(name) KVS_THREAD_ANNOTATION(capability(name))
#define KVS_SCOPED_CAPABILITY KVS_THREAD_ANNOTATION(scoped_lockable)
#define KVS_GUARDED_BY(mutex) KVS_THREAD_ANNOTATION(guarded_by(mutex))
#define KVS_REQUIRES(...) KVS_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define KVS_REQUIRES_SHARED(...) KVS_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define KVS_ACQUIRE(...) KVS_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define KVS_ACQUIRE_SHARED(...) KVS_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define KVS_RELEASE(...) KVS_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define KVS_RELEASE_SHARED(...) KVS_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define KVS_TRY_ACQUIRE(...) KVS_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define KVS_EXCLUDES(...) KVS_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))

namespace kvs {

// A std::mutex the analysis knows as a capability.
class KVS_CAPABILITY("mutex") Mutex {
 public:
  void lock() KVS_ACQUIRE() { mutex_.lock(); }
  void unlock() KVS_RELEASE() { mutex_.unlock(); }
  bool try_lock() KVS_TRY_ACQUIRE(true) { return mutex_.try_lock(); }

 private:
  friend class MutexLock;
  std::mutex mutex_;
};

// Holds a Mutex for its scope, as std::unique_lock does. The analysis takes the mutex as held
// for the whole scope, waits included: a wait gives it up only while blocked and holds it again
// before it returns.
class KVS_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mutex) KVS_ACQUIRE(mutex) : lock_(mutex.mutex_) {}
  ~MutexLock() KVS_RELEASE() {}
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  // Blocks until `condition` is notified (or wakes spuriously: callers loop on their predicate).
  void wait(std::condition_variable& condition) { condition.wait(lock_); }
  // Blocks until `ready` holds. `ready` runs with the mutex held: annotate the lambda
  // [&]() KVS_REQUIRES(mutex_) { ... }.
  template <class Predicate>
  void wait(std::condition_variable& condition, Predicate ready) {
    condition.wait(lock_, std::move(ready));
  }
  // As std::condition_variable::wait_for: false when `ready` still fails at the timeout.
  template <class Rep, class Period, class Predicate>
  bool wait_for(std::condition_variable& condition, const std::chrono::duration<Rep, Period>& timeout,
                Predicate ready) {
    return condition.wait_for(lock_, timeout, std::move(ready));
  }
  template <class Clock, class Duration>
  std::cv_status wait_until(std::condition_variable& condition,
                            const std::chrono::time_point<Clock, Duration>& deadline) {
    return condition.wait_until(lock_, deadline);
  }

 private:
  std::unique_lock<std::mutex> lock_;
};

// A std::shared_mutex the analysis knows as a capability: many readers or one writer.
class KVS_CAPABILITY("shared mutex") SharedMutex {
 public:
  void lock() KVS_ACQUIRE() { mutex_.lock(); }
  void unlock() KVS_RELEASE() { mutex_.unlock(); }
  void lock_shared() KVS_ACQUIRE_SHARED() { mutex_.lock_shared(); }
  void unlock_shared() KVS_RELEASE_SHARED() { mutex_.unlock_shared(); }

 private:
  std::shared_mutex mutex_;
};

// Holds a SharedMutex exclusively for its scope.
class KVS_SCOPED_CAPABILITY WriterLock {
 public:
  explicit WriterLock(SharedMutex& mutex) KVS_ACQUIRE(mutex) : mutex_(mutex) { mutex_.lock(); }
  ~WriterLock() KVS_RELEASE() { mutex_.unlock(); }
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

 private:
  SharedMutex& mutex_;
};

// Holds a SharedMutex shared for its scope.
class KVS_SCOPED_CAPABILITY ReaderLock {
 public:
  explicit ReaderLock(SharedMutex& mutex) KVS_ACQUIRE_SHARED(mutex) : mutex_(mutex) { mutex_.lock_shared(); }
  ~ReaderLock() KVS_RELEASE() { mutex_.unlock_shared(); }
  ReaderLock(const ReaderLock&) = delete;
  ReaderLock& operator=(const ReaderLock&) = delete;

 private:
  SharedMutex& mutex_;
};

}  // namespace kvs
