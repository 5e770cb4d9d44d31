// The accept loop's worker pool; the design is in worker_pool.hpp.

#include "worker_pool.hpp"

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>

namespace kvs::server {

WorkerPool::WorkerPool(std::size_t min_threads, std::size_t max_threads)
    : min_threads_(min_threads), max_threads_(std::max(min_threads, max_threads)) {
  std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < min_threads_; ++i) spawn_locked();
}

void WorkerPool::enqueue(std::function<void()> job) {
  std::lock_guard lock(mutex_);
  jobs_.push_back(std::move(job));
  if (idle_ < jobs_.size() && live_ < max_threads_) spawn_locked();
  wakeup_.notify_one();
}

void WorkerPool::shutdown() {
  std::unique_lock lock(mutex_);
  shutting_down_ = true;
  wakeup_.notify_all();
  exited_.wait(lock, [&] { return live_ == 0; });
}

void WorkerPool::spawn_locked() {
  ++live_;
  std::thread([this] { run(); }).detach();
}

void WorkerPool::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    ++idle_;
    bool woke = wakeup_.wait_for(lock, std::chrono::seconds(60), [&] { return !jobs_.empty() || shutting_down_; });
    --idle_;
    if (jobs_.empty()) {
      if (shutting_down_ || (!woke && live_ > min_threads_)) break;
      continue;
    }
    auto job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    job();
    lock.lock();
  }
  --live_;
  exited_.notify_all();
}

}  // namespace kvs::server
