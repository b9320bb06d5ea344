//===- NcclCommunicatorTest.cpp - collectives on device buffers -----------===//
//
// Host-staged virtual ranks on one GPU, and NCCL (joined through a store,
// or bootstrapped by a Gloo group as executables do), on device buffers
// with even and uneven counts, every result checked: one rank per GPU
// where there are several; on one GPU two ranks sharing it where NCCL
// allows that (2.30 or later, NCCL_MULTI_RANK_GPU_ENABLE), else one rank.
// Skipped, saying why, without a device.
//
//===----------------------------------------------------------------------===//
#include "runtime/comm/NcclCommunicator.h"
#include "runtime/comm/GlooCommunicator.h"
#include "runtime/cuda/Kernels.h"

#include <cuda_runtime.h>
#include <nccl.h>
#include <gloo/rendezvous/hash_store.h>

#include "gtest/gtest.h"

#include <cstdio>
#include <numeric>
#include <thread>

using namespace tpc::comm;
using namespace std::chrono_literals;

namespace {
std::vector<float> download(const float *device, size_t count) {
  std::vector<float> host(count);
  cudaMemcpy(host.data(), device, count * sizeof(float),
             cudaMemcpyDeviceToHost);
  return host;
}

float *upload(const std::vector<float> &host) {
  float *device = nullptr;
  if (cudaMalloc(&device, host.size() * sizeof(float)) != cudaSuccess)
    throw std::runtime_error("cudaMalloc failed");
  cudaMemcpy(device, host.data(), host.size() * sizeof(float),
             cudaMemcpyHostToDevice);
  return device;
}

void expectEqual(const std::vector<float> &got,
                 const std::vector<float> &expected, const char *what) {
  if (got != expected)
    throw std::runtime_error(std::string(what) + " gave wrong values");
}

/// all_reduce, all_gather and reduce_scatter on device buffers, with even
/// counts (NCCL's ring collectives) or uneven ones (rank r has 3 + r
/// elements: composed of broadcasts and reduces); every result checked.
void exercise(Communicator &comm, bool even) {
  int rank = comm.rank(), size = comm.size();
  std::vector<size_t> counts, offsets;
  size_t total = 0;
  for (int r = 0; r < size; ++r) {
    counts.push_back(even ? 4 : 3 + r);
    offsets.push_back(total);
    total += counts.back();
  }
  // all_reduce: rank r holds r + 1 everywhere.
  float *sum = upload(std::vector<float>(total, float(rank + 1)));
  comm.allReduceSum(sum, total);
  expectEqual(download(sum, total),
              std::vector<float>(total, float(size * (size + 1) / 2)),
              "all_reduce");
  // all_gather: rank r contributes 100 r + i.
  std::vector<float> mine(counts[rank]), all(total);
  for (size_t i = 0; i < mine.size(); ++i)
    mine[i] = float(100 * rank + i);
  for (int r = 0; r < size; ++r)
    for (size_t i = 0; i < counts[r]; ++i)
      all[offsets[r] + i] = float(100 * r + i);
  float *in = upload(mine), *gathered = upload(std::vector<float>(total));
  comm.allGather(in, gathered, counts);
  expectEqual(download(gathered, total), all, "all_gather");
  // reduce_scatter: rank r holds (r + 1) j at j; its part is the sum.
  std::vector<float> data(total), part(counts[rank]);
  for (size_t j = 0; j < total; ++j)
    data[j] = float((rank + 1) * j);
  for (size_t i = 0; i < part.size(); ++i)
    part[i] = float(size * (size + 1) / 2 * (offsets[rank] + i));
  float *full = upload(data), *out = upload(std::vector<float>(part.size()));
  comm.reduceScatterSum(full, out, counts);
  expectEqual(download(out, part.size()), part, "reduce_scatter");
  comm.barrier();
  for (float *p : {sum, in, gathered, full, out})
    cudaFree(p);
}

TEST(DeviceCollectives, HostStagedVirtualRanksOnOneGpu) {
  if (tpc::cuda::deviceCount() < 1)
    GTEST_SKIP() << "no CUDA device present";
  runThreadRanks(3, 30s, [](Communicator &host) {
    cudaSetDevice(0);
    HostStagedCommunicator staged(host);
    exercise(staged, /*even=*/false);
    exercise(staged, /*even=*/true);
  });
}

/// NCCL ranks the tests run: one per GPU, or two sharing the only GPU
/// where this NCCL allows it, else one.
int ncclRanks(int devices) {
  if (devices != 1)
    return devices;
  int version = 0;
  ncclGetVersion(&version);
  if (version < 23000)
    return 1;
  setenv("NCCL_MULTI_RANK_GPU_ENABLE", "1", /*overwrite=*/0);
  return 2;
}

TEST(DeviceCollectives, NcclRanks) {
  int devices = tpc::cuda::deviceCount();
  if (devices < 1)
    GTEST_SKIP() << "no CUDA device present";
  int ranks = ncclRanks(devices);
  int version = 0;
  ncclGetVersion(&version);
  std::printf("NCCL %d: %d rank(s) on %d GPU(s)\n", version, ranks, devices);
  gloo::rendezvous::HashStore store;
  std::vector<std::thread> threads;
  std::vector<std::string> errors(ranks);
  for (int r = 0; r < ranks; ++r)
    threads.emplace_back([&, r] {
      try {
        auto comm =
            NcclCommunicator::connect(store, r, ranks, r % devices, 30s);
        exercise(*comm, /*even=*/false);
        exercise(*comm, /*even=*/true);
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

TEST(DeviceCollectives, NcclBootstrappedByAHostGroup) {
  // How executables connect: the unique id travels by the Gloo group's
  // broadcast, one GPU per thread rank.
  int devices = tpc::cuda::deviceCount();
  if (devices < 1)
    GTEST_SKIP() << "no CUDA device present";
  runThreadRanks(ncclRanks(devices), 30s, [devices](Communicator &host) {
    auto comm = NcclCommunicator::connect(host, host.rank() % devices, 30s);
    exercise(*comm, /*even=*/false);
    exercise(*comm, /*even=*/true);
  });
}
