#include "util/completion.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>

namespace kvs::util {
namespace {

long futex(std::atomic<std::uint32_t>* word, int op, std::uint32_t value) noexcept {
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
  return ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), op, value, nullptr, nullptr, 0);
}

}  // namespace

void Completion::set() noexcept {
  if (state_.exchange(kSet, std::memory_order_acq_rel) == kSleeping) {
    futex(&state_, FUTEX_WAKE_PRIVATE, INT_MAX);
  }
}

void Completion::wait() noexcept {
  std::uint32_t seen = state_.load(std::memory_order_acquire);
  while (seen != kSet) {
    // Announce the sleep; a set() in between makes the exchange fail with kSet.
    if (seen == kSleeping || state_.compare_exchange_weak(seen, kSleeping, std::memory_order_acquire)) {
      // Sleeps only while the word still says kSleeping: a set() before the kernel looks makes
      // this return at once (EAGAIN). Signals and spurious wakes come back round the loop.
      futex(&state_, FUTEX_WAIT_PRIVATE, kSleeping);
    }
    seen = state_.load(std::memory_order_acquire);
  }
}

}  // namespace kvs::util
