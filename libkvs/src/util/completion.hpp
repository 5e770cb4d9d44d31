#pragma once

// util::Completion: a flag that one thread sets once and one other thread waits for, woken on
// its own. The storage writer completes a batch of intents whose callers each wait for their
// own; a condition variable shared by all the callers woke every one of them for every batch
// (64 callers, a batch of 20: 44 of them woken for nothing, each then taking the mutex in turn
// to find out). A Completion wakes exactly its waiter, and costs no system call at all when
// the waiter has not gone to sleep yet.
//
// It is a futex word (Linux): 0 unset, 1 set, 2 unset with the waiter asleep (or about to be).
// set() stores with release order and wait() loads with acquire order, so whatever the setter
// wrote before set() is visible to the waiter after wait() returns.
//
// Lifetime: the waiter may destroy the Completion as soon as wait() returns, which may be
// before set() has returned: set() touches the object only through the atomic exchange, and
// then hands the kernel its address, which the kernel uses as a number (a private futex is
// looked up by address, never read). A stray wake that address may cause to a later futex
// there is harmless: every futex wait here and in glibc rechecks its word and waits again.

#include <atomic>
#include <cstdint>

namespace kvs::util {

class Completion {
 public:
  Completion() = default;
  Completion(const Completion&) = delete;
  Completion& operator=(const Completion&) = delete;

  // Sets the flag and wakes the waiter. Once only.
  void set() noexcept;
  // Returns once set() has been called; at once when it has. One waiter at a time.
  void wait() noexcept;
  bool is_set() const noexcept { return state_.load(std::memory_order_acquire) == kSet; }

 private:
  static constexpr std::uint32_t kUnset = 0;
  static constexpr std::uint32_t kSet = 1;
  static constexpr std::uint32_t kSleeping = 2;
  std::atomic<std::uint32_t> state_{kUnset};
};

}  // namespace kvs::util
