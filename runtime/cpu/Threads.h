//===- Threads.h - the threads of one rank's CPU kernels --------*- C++ -*-===//
//
// Each rank computes with its share of the host's cores (cores / ranks on
// this host): the calling rank thread plus a pool of workers of its own.
// Every kernel, GEMMs included, runs its work through parallelFor on that
// pool; OpenBLAS runs single-threaded inside it, so that no other thread
// pool spins while this one works. Idle workers sleep on a condition
// variable: a rank that waits in a collective leaves the cores to others.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_CPU_THREADS_H
#define TPC_RUNTIME_CPU_THREADS_H

#include <cstdint>
#include <functional>

namespace tpc::cpu {

/// Sets how many threads each rank's kernels use: cores / ranks on this
/// host (at least one), or TPC_THREADS when set. Takes effect for rank
/// threads that have not run a kernel yet. The first call also fixes
/// OpenBLAS's choice of kernels (chooseBlasCore): call it before any BLAS
/// call is in flight.
void shareCores(int ranks);

/// Threads each rank's kernels use.
int threadsPerRank();

/// Runs fn(begin, end) over [0, count) split into at most threadsPerRank()
/// contiguous chunks of at least `grain` items, on the calling rank's pool
/// and the calling thread; returns when all are done. Nested calls run
/// inline.
void parallelFor(int64_t count, int64_t grain,
                 const std::function<void(int64_t, int64_t)> &fn);

} // namespace tpc::cpu

#endif // TPC_RUNTIME_CPU_THREADS_H
