//===- HostThreads.h - one-off host loops over all cores --------*- C++ -*-===//
//
// For work done once per weight while a program loads (random weights,
// element-type conversion of whole tensors): plain threads over contiguous
// chunks. Kernels use their rank's pool (runtime/cpu/Threads.h) instead.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_CORE_HOSTTHREADS_H
#define TPC_RUNTIME_CORE_HOSTTHREADS_H

#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

namespace tpc {

/// fn(begin, end) over [0, count) in chunks on up to all hardware threads;
/// inline below `grain` items per thread (small tensors, the common case
/// of tiny test models).
template <typename Fn>
void forChunksOnAllCores(int64_t count, int64_t grain, Fn &&fn) {
  int64_t threads = std::min<int64_t>(
      std::max(1u, std::thread::hardware_concurrency()), count / grain);
  if (threads <= 1) {
    fn(int64_t(0), count);
    return;
  }
  std::vector<std::thread> workers;
  int64_t chunk = (count + threads - 1) / threads;
  for (int64_t begin = chunk; begin < count; begin += chunk)
    workers.emplace_back(fn, begin, std::min(count, begin + chunk));
  fn(int64_t(0), std::min(count, chunk));
  for (std::thread &w : workers)
    w.join();
}

} // namespace tpc

#endif // TPC_RUNTIME_CORE_HOSTTHREADS_H
