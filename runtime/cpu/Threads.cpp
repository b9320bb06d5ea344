//===- Threads.cpp - the threads of one rank's CPU kernels ----------------===//
#include "runtime/cpu/Threads.h"

#include "runtime/cpu/BlasCore.h"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

using namespace tpc;

namespace {
std::atomic<int> perRank{1};

/// Workers that sleep until the rank thread hands them chunks.
class Pool {
public:
  explicit Pool(int workers) {
    for (int i = 0; i < workers; ++i)
      threads.emplace_back([this] { work(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      stopping = true;
    }
    wake.notify_all();
    for (std::thread &t : threads)
      t.join();
  }
  int size() const { return int(threads.size()); }

  /// Runs chunks 1..n-1 on workers and chunk 0 here.
  void run(int chunks, const std::function<void(int)> &chunk) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      job = &chunk;
      next = 1;
      total = chunks;
      pending = chunks - 1;
      ++generation;
    }
    wake.notify_all();
    chunk(0);
    // Help with chunks no worker has taken, then wait for the rest.
    for (;;) {
      int index;
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (next >= total)
          break;
        index = next++;
      }
      chunk(index);
      std::lock_guard<std::mutex> lock(mutex);
      --pending;
    }
    std::unique_lock<std::mutex> lock(mutex);
    done.wait(lock, [&] { return pending == 0; });
    job = nullptr;
  }

private:
  void work() {
    // OpenBLAS calls made from a worker stay on it.
    openblas_set_num_threads(1);
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mutex);
    for (;;) {
      wake.wait(lock, [&] { return stopping || generation != seen; });
      if (stopping)
        return;
      seen = generation;
      while (job && next < total) {
        int index = next++;
        const std::function<void(int)> *fn = job;
        lock.unlock();
        (*fn)(index);
        lock.lock();
        if (--pending == 0)
          done.notify_all();
      }
    }
  }

  std::vector<std::thread> threads;
  std::mutex mutex;
  std::condition_variable wake, done;
  const std::function<void(int)> *job = nullptr;
  int next = 0, total = 0, pending = 0;
  uint64_t generation = 0;
  bool stopping = false;
};

thread_local std::unique_ptr<Pool> pool;
thread_local bool insideParallel = false;
} // namespace

void cpu::shareCores(int ranks) {
  int cores = int(std::max(1u, std::thread::hardware_concurrency()));
  int threads = std::max(1, cores / std::max(1, ranks));
  if (const char *user = std::getenv("TPC_THREADS"))
    if (int n = std::atoi(user); n > 0)
      threads = n;
  perRank = threads;
  chooseBlasCore();
  // BLAS runs inside the ranks' pools, one thread per call.
  openblas_set_num_threads(1);
}

int cpu::threadsPerRank() { return perRank; }

void cpu::parallelFor(int64_t count, int64_t grain,
                      const std::function<void(int64_t, int64_t)> &fn) {
  if (count <= 0)
    return;
  int64_t chunks = std::min<int64_t>(perRank, (count + grain - 1) /
                                                  std::max<int64_t>(grain, 1));
  if (chunks <= 1 || insideParallel) {
    fn(0, count);
    return;
  }
  if (!pool || pool->size() != perRank - 1)
    pool = std::make_unique<Pool>(perRank - 1);
  auto chunk = [&](int index) {
    int64_t begin = count * index / chunks, end = count * (index + 1) / chunks;
    bool outer = insideParallel;
    insideParallel = true;
    fn(begin, end);
    insideParallel = outer;
  };
  pool->run(int(chunks), chunk);
}
