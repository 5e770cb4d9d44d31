#pragma once

// util::BackgroundThread: the thread of a component that loops in the background (the cluster
// loop, the push sender, the anti-entropy driver, the TTL sweeper), with the start/stop and the
// interruptible sleep they all need written once.
//
// The body is the owner's loop; it sleeps through wait_until()/wait_for(), which end at the
// deadline, at wake() or at stop(), and return false once stop() was called: the body then
// returns. A wake() is remembered until the next wait, so one that comes while the body is busy
// (between checking the owner's state and going to sleep) is never lost: the owner changes its
// own state under its own mutex, then calls wake(), and the body looks at that state again
// after every wait. A stale wake only costs one more look.
//
// Threading: every method may be called from any thread, and none calls out while holding the
// internal mutex, so an owner may call them with its own mutex held. stop() joins the body, so
// it must not be called from the body itself. The owner stops the thread (or lets the
// destructor do it) before destroying what the body touches.

#include <chrono>
#include <condition_variable>
#include <thread>
#include <utility>

#include "util/thread_annotations.hpp"

namespace kvs::util {

class BackgroundThread {
 public:
  BackgroundThread() = default;
  ~BackgroundThread() { stop(); }
  BackgroundThread(const BackgroundThread&) = delete;
  BackgroundThread& operator=(const BackgroundThread&) = delete;

  // Runs `body` on a thread of its own. Once only: false, and `body` is dropped unrun, when the
  // thread was started before or stop() has been called.
  template <class Body>
  bool start(Body&& body) KVS_EXCLUDES(mutex_) {
    MutexLock lock(mutex_);
    if (started_ || stopping_) return false;
    started_ = true;
    thread_ = std::thread(std::forward<Body>(body));
    return true;
  }

  // Makes every wait return false from now on, wakes the body and waits for it to return.
  // Idempotent (a later call returns at once); a thread not started by then never starts.
  void stop() KVS_EXCLUDES(mutex_) {
    {
      MutexLock lock(mutex_);
      if (stopping_) return;
      stopping_ = true;
    }
    wakeup_.notify_all();
    // Only the first caller gets here, and start() no longer writes thread_: no lock needed.
    if (thread_.joinable()) thread_.join();
  }

  // Ends the body's current wait, or its next one if it is not waiting.
  void wake() KVS_EXCLUDES(mutex_) {
    {
      MutexLock lock(mutex_);
      woken_ = true;
    }
    wakeup_.notify_all();
  }

  // Whether stop() has been called.
  bool stopping() const KVS_EXCLUDES(mutex_) {
    MutexLock lock(mutex_);
    return stopping_;
  }

  // Whether start() ran and stop() has not.
  bool running() const KVS_EXCLUDES(mutex_) {
    MutexLock lock(mutex_);
    return started_ && !stopping_;
  }

  // Sleeps until `deadline`, a wake() or stop(). False when stopping (at once if stop() came
  // first), true otherwise. For the body only.
  template <class Clock, class Duration>
  bool wait_until(const std::chrono::time_point<Clock, Duration>& deadline) KVS_EXCLUDES(mutex_) {
    MutexLock lock(mutex_);
    while (!stopping_ && !woken_) {
      if (lock.wait_until(wakeup_, deadline) == std::cv_status::timeout) break;
    }
    woken_ = false;
    return !stopping_;
  }

  // As wait_until(now + timeout).
  template <class Rep, class Period>
  bool wait_for(const std::chrono::duration<Rep, Period>& timeout) KVS_EXCLUDES(mutex_) {
    return wait_until(std::chrono::steady_clock::now() + timeout);
  }

 private:
  mutable Mutex mutex_;
  std::condition_variable wakeup_;
  bool started_ KVS_GUARDED_BY(mutex_) = false;
  bool stopping_ KVS_GUARDED_BY(mutex_) = false;
  bool woken_ KVS_GUARDED_BY(mutex_) = false;  // a wake() not yet consumed by a wait
  std::thread thread_;
};

}  // namespace kvs::util
