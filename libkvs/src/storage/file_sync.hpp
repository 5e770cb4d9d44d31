#pragma once

// The syncs that make the store's files durable: the redo log's, its checkpoint file's, and
// the directory entries of both. data.mdb's own syncs are lmdb::Env's (sync, write_back).
//
// Each is fdatasync(2) or fsync(2), except in a build configured with KVS_BENCH_UNSAFE_NOSYNC,
// made only to measure what the syncs cost (bench/kvs_ab.sh --nosync): there each returns 0 at
// once, and lmdb::Env skips its syncs too, so that build runs the durable build's code (redo
// log, held transaction, checkpoints) with nothing made durable. In that build alone, the
// environment variable KVS_BENCH_SYNC_DELAY_US makes each data sync sleep that long instead:
// the durable build's throughput on a device whose syncs took that long.

namespace kvs::storage {

// fdatasync(fd): 0, or -1 with errno set.
int sync_data(int fd) noexcept;
// fsync(fd), for a directory's entries: 0, or -1 with errno set.
int sync_all(int fd) noexcept;

}  // namespace kvs::storage
