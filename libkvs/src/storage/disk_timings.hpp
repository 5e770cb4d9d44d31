#pragma once

// storage::DiskTimings: how long the store's own threads wait for the disk, as histograms in
// seconds. The Store owns one; its writer, syncer and checkpointer observe into it, and the
// node copies it into /metrics before each render (kvs_disk_*_duration_seconds). What an
// operator reads from it: a log sync's latency is what every durable write waits for; a long
// commit stalls every write behind it; a long checkpoint sync slows the log syncs that share
// the disk with it.

#include <chrono>

#include "util/histogram.hpp"

namespace kvs::storage {

struct DiskTimings {
  // One sync of the redo log, through the last batch handed over (the syncer thread).
  util::Histogram log_sync{util::latency_bounds()};
  // One LMDB commit of a write transaction that is not nested: LMDB writes the transaction's
  // pages (with the redo log, without syncing them; without it, synced). The writer takes no
  // batch meanwhile.
  util::Histogram commit{util::latency_bounds()};
  // One sync of data.mdb for a checkpoint (the checkpointer thread; at open and close, the
  // thread opening or closing the store).
  util::Histogram checkpoint_sync{util::latency_bounds()};
};

// Runs `work` and returns what it returns; when `histogram` is set, observes how long it took,
// in seconds. Without one, no clock is read.
template <class Work>
auto timed(util::Histogram* histogram, Work&& work) {
  if (histogram == nullptr) return work();
  const auto start = std::chrono::steady_clock::now();
  auto result = work();
  histogram->observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return result;
}

}  // namespace kvs::storage
