#pragma once

// The worker pool of the accept loop (HttpServer::serve). One job serves one connection for its
// whole keep-alive life, so a fixed pool smaller than the number of connections would leave the
// extra ones waiting for a free worker. This pool starts `min_threads` workers and adds one
// whenever a job arrives with no idle worker, up to `max_threads`; past that, jobs queue.
// Workers above the minimum exit after a minute without work.
//
// Threading: enqueue and shutdown from any thread. Workers are detached: a worker's last touch
// of the pool is under mutex_ (decrementing live_ and notifying), and shutdown() waits for
// live_ == 0 under the same mutex, so the pool may be destroyed once shutdown() returns.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>

#include <httplib.h>

namespace kvs::server {

class WorkerPool final : public httplib::TaskQueue {
 public:
  WorkerPool(std::size_t min_threads, std::size_t max_threads);
  ~WorkerPool() override { shutdown(); }
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void enqueue(std::function<void()> job) override;
  // Lets queued jobs finish, then waits for every worker to exit.
  void shutdown() override;

 private:
  // Requires: mutex_ held.
  void spawn_locked();
  void run();

  const std::size_t min_threads_;
  const std::size_t max_threads_;
  std::mutex mutex_;
  std::condition_variable wakeup_;
  std::condition_variable exited_;
  // Guarded by mutex_.
  std::deque<std::function<void()>> jobs_;
  std::size_t live_ = 0;
  std::size_t idle_ = 0;
  bool shutting_down_ = false;
};

}  // namespace kvs::server
