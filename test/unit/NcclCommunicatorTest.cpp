//===- NcclCommunicatorTest.cpp - collectives on device buffers -----------===//
//
// Host-staged virtual ranks on one GPU, and NCCL across GPUs, on device
// buffers with uneven counts. Skipped, saying why, without enough devices.
//
//===----------------------------------------------------------------------===//
#include "runtime/comm/NcclCommunicator.h"
#include "runtime/comm/GlooCommunicator.h"

#include <cuda_runtime.h>
#include <gloo/rendezvous/hash_store.h>

#include "gtest/gtest.h"

#include <numeric>
#include <thread>

using namespace tpc::comm;
using namespace std::chrono_literals;

namespace {
int deviceCount() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess)
    return 0;
  return count;
}

/// all_reduce, uneven all_gather and reduce_scatter on device buffers.
void exercise(Communicator &comm) {
  int rank = comm.rank(), size = comm.size();
  std::vector<size_t> counts;
  for (int r = 0; r < size; ++r)
    counts.push_back(3 + r);
  size_t total = std::accumulate(counts.begin(), counts.end(), size_t(0));
  float *d = nullptr;
  cudaMalloc(&d, total * sizeof(float) * 2);
  std::vector<float> host(total, float(rank + 1));
  cudaMemcpy(d, host.data(), total * sizeof(float), cudaMemcpyHostToDevice);
  comm.allReduceSum(d, total);
  cudaMemcpy(host.data(), d, total * sizeof(float), cudaMemcpyDeviceToHost);
  if (host[0] != float(size * (size + 1) / 2))
    throw std::runtime_error("all_reduce mismatch");
  comm.allGather(d, d + total, counts);
  comm.reduceScatterSum(d, d + total, counts);
  comm.barrier();
  cudaFree(d);
}

TEST(DeviceCollectives, HostStagedVirtualRanksOnOneGpu) {
  if (deviceCount() < 1)
    GTEST_SKIP() << "no CUDA device present";
  runThreadRanks(3, 30s, [](Communicator &host) {
    cudaSetDevice(0);
    HostStagedCommunicator staged(host);
    exercise(staged);
  });
}

TEST(DeviceCollectives, NcclAcrossGpus) {
  int devices = deviceCount();
  if (devices < 2)
    GTEST_SKIP() << "NCCL needs two CUDA devices, found " << devices;
  gloo::rendezvous::HashStore store;
  std::vector<std::thread> threads;
  std::vector<std::string> errors(devices);
  for (int r = 0; r < devices; ++r)
    threads.emplace_back([&, r] {
      try {
        auto comm = NcclCommunicator::connect(store, r, devices, r, 30s);
        exercise(*comm);
      } catch (const std::exception &e) {
        errors[r] = e.what();
      }
    });
  for (auto &t : threads)
    t.join();
  for (const std::string &e : errors)
    EXPECT_EQ(e, "");
}
} // namespace
