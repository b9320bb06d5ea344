//===- NcclCommunicator.cpp - GPU collectives through NCCL ----------------===//
#include "runtime/comm/NcclCommunicator.h"

#include <cuda_runtime.h>
#include <gloo/rendezvous/store.h>
#include <nccl.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

using namespace tpc::comm;

namespace {
void checkCuda(cudaError_t err, const char *what) {
  if (err != cudaSuccess)
    throw CollectiveError(std::string(what) + ": " + cudaGetErrorString(err));
}

void checkNccl(ncclResult_t result, const char *what) {
  if (result != ncclSuccess)
    throw CollectiveError(std::string(what) + ": " +
                          ncclGetErrorString(result));
}

/// Even splits take NCCL's ring collectives; uneven ones are composed.
bool allEqual(const std::vector<size_t> &counts) {
  return std::all_of(counts.begin(), counts.end(),
                     [&](size_t c) { return c == counts[0]; });
}

std::vector<size_t> offsetsOf(const std::vector<size_t> &counts) {
  std::vector<size_t> offsets(counts.size(), 0);
  std::partial_sum(counts.begin(), counts.end() - 1, offsets.begin() + 1);
  return offsets;
}
} // namespace

struct NcclCommunicator::Impl {
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;
  float *scratch = nullptr; ///< One float, for barriers.
  std::chrono::milliseconds timeout{0};
  bool aborted = false;
};

NcclCommunicator::NcclCommunicator(int rank, int size,
                                   std::unique_ptr<Impl> impl)
    : rank_(rank), size_(size), impl(std::move(impl)) {}

NcclCommunicator::~NcclCommunicator() {
  if (impl->comm && !impl->aborted)
    ncclCommDestroy(impl->comm);
  if (impl->scratch)
    cudaFree(impl->scratch);
  if (impl->stream)
    cudaStreamDestroy(impl->stream);
}

std::unique_ptr<NcclCommunicator>
NcclCommunicator::connect(gloo::rendezvous::Store &store, int rank, int size,
                          int device, std::chrono::milliseconds timeout) {
  checkCuda(cudaSetDevice(device), "cudaSetDevice");
  ncclUniqueId id;
  const std::string key = "tpc-nccl-unique-id";
  if (rank == 0) {
    checkNccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
    store.set(key,
              std::vector<char>(reinterpret_cast<char *>(&id),
                                reinterpret_cast<char *>(&id) + sizeof(id)));
  } else {
    store.wait({key}, timeout);
    std::vector<char> bytes = store.get(key);
    if (bytes.size() != sizeof(id))
      throw CollectiveError("NCCL unique id of the wrong size");
    std::memcpy(&id, bytes.data(), sizeof(id));
  }
  return join(&id, rank, size, timeout);
}

std::unique_ptr<NcclCommunicator>
NcclCommunicator::connect(Communicator &bootstrap, int device,
                          std::chrono::milliseconds timeout) {
  checkCuda(cudaSetDevice(device), "cudaSetDevice");
  ncclUniqueId id;
  // The id's bytes ride in floats: a broadcast copies bits, adds nothing.
  constexpr size_t kFloats = (sizeof(id) + sizeof(float) - 1) / sizeof(float);
  float words[kFloats] = {};
  if (bootstrap.rank() == 0) {
    checkNccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
    std::memcpy(words, &id, sizeof(id));
  }
  bootstrap.broadcast(words, kFloats, 0);
  std::memcpy(&id, words, sizeof(id));
  return join(&id, bootstrap.rank(), bootstrap.size(), timeout);
}

std::unique_ptr<NcclCommunicator>
NcclCommunicator::join(const void *uniqueId, int rank, int size,
                       std::chrono::milliseconds timeout) {
  ncclUniqueId id;
  std::memcpy(&id, uniqueId, sizeof(id));
  auto impl = std::make_unique<Impl>();
  impl->timeout = timeout;
  checkCuda(cudaStreamCreate(&impl->stream), "cudaStreamCreate");
  checkCuda(cudaMalloc(&impl->scratch, sizeof(float)), "cudaMalloc");
  checkNccl(ncclCommInitRank(&impl->comm, size, id, rank), "ncclCommInitRank");
  return std::unique_ptr<NcclCommunicator>(
      new NcclCommunicator(rank, size, std::move(impl)));
}

void NcclCommunicator::wait(const char *op) {
  auto deadline = std::chrono::steady_clock::now() + impl->timeout;
  while (true) {
    cudaError_t done = cudaStreamQuery(impl->stream);
    if (done == cudaSuccess)
      return;
    if (done != cudaErrorNotReady)
      checkCuda(done, op);
    ncclResult_t async = ncclSuccess;
    ncclCommGetAsyncError(impl->comm, &async);
    bool late = std::chrono::steady_clock::now() > deadline;
    if (async != ncclSuccess || late) {
      ncclCommAbort(impl->comm);
      impl->aborted = true;
      throw CollectiveError(
          std::string(op) + " on rank " + std::to_string(rank_) +
          " failed: " + (late ? "timed out" : ncclGetErrorString(async)) +
          "; the communicator was aborted");
    }
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

void NcclCommunicator::allReduceSum(float *data, size_t count) {
  checkNccl(ncclAllReduce(data, data, count, ncclFloat, ncclSum, impl->comm,
                          impl->stream),
            "ncclAllReduce");
  wait("all_reduce");
}

void NcclCommunicator::allGather(const float *in, float *out,
                                 const std::vector<size_t> &counts) {
  if (allEqual(counts)) {
    checkNccl(
        ncclAllGather(in, out, counts[0], ncclFloat, impl->comm, impl->stream),
        "ncclAllGather");
    wait("all_gather");
    return;
  }
  // Uneven counts: one broadcast per rank into its place, as one group.
  std::vector<size_t> offsets = offsetsOf(counts);
  checkNccl(ncclGroupStart(), "ncclGroupStart");
  for (int r = 0; r < size_; ++r)
    checkNccl(ncclBroadcast(r == rank_ ? in : out + offsets[r],
                            out + offsets[r], counts[r], ncclFloat, r,
                            impl->comm, impl->stream),
              "ncclBroadcast");
  checkNccl(ncclGroupEnd(), "ncclGroupEnd");
  wait("all_gather");
}

void NcclCommunicator::reduceScatterSum(const float *data, float *out,
                                        const std::vector<size_t> &counts) {
  if (allEqual(counts)) {
    checkNccl(ncclReduceScatter(data, out, counts[0], ncclFloat, ncclSum,
                                impl->comm, impl->stream),
              "ncclReduceScatter");
    wait("reduce_scatter");
    return;
  }
  // Uneven counts: one reduce per rank onto its part, as one group.
  std::vector<size_t> offsets = offsetsOf(counts);
  checkNccl(ncclGroupStart(), "ncclGroupStart");
  for (int r = 0; r < size_; ++r)
    checkNccl(ncclReduce(data + offsets[r], out, counts[r], ncclFloat, ncclSum,
                         r, impl->comm, impl->stream),
              "ncclReduce");
  checkNccl(ncclGroupEnd(), "ncclGroupEnd");
  wait("reduce_scatter");
}

void NcclCommunicator::broadcast(float *data, size_t count, int root) {
  checkNccl(ncclBroadcast(data, data, count, ncclFloat, root, impl->comm,
                          impl->stream),
            "ncclBroadcast");
  wait("broadcast");
}

void NcclCommunicator::barrier() { allReduceSum(impl->scratch, 1); }

//===----------------------------------------------------------------------===//
// HostStagedCommunicator
//===----------------------------------------------------------------------===//

namespace {
std::vector<float> toHost(const float *device, size_t count) {
  std::vector<float> host(count);
  checkCuda(cudaMemcpy(host.data(), device, count * sizeof(float),
                       cudaMemcpyDeviceToHost),
            "copy to host");
  return host;
}

void toDevice(const std::vector<float> &host, float *device) {
  checkCuda(cudaMemcpy(device, host.data(), host.size() * sizeof(float),
                       cudaMemcpyHostToDevice),
            "copy to device");
}
} // namespace

void HostStagedCommunicator::allReduceSum(float *data, size_t count) {
  std::vector<float> host = toHost(data, count);
  this->host.allReduceSum(host.data(), count);
  toDevice(host, data);
}

void HostStagedCommunicator::allGather(const float *in, float *out,
                                       const std::vector<size_t> &counts) {
  std::vector<float> mine = toHost(in, counts[rank()]);
  std::vector<float> all(
      std::accumulate(counts.begin(), counts.end(), size_t(0)));
  host.allGather(mine.data(), all.data(), counts);
  toDevice(all, out);
}

void HostStagedCommunicator::reduceScatterSum(
    const float *data, float *out, const std::vector<size_t> &counts) {
  std::vector<float> full =
      toHost(data, std::accumulate(counts.begin(), counts.end(), size_t(0)));
  std::vector<float> part(counts[rank()]);
  host.reduceScatterSum(full.data(), part.data(), counts);
  toDevice(part, out);
}

void HostStagedCommunicator::broadcast(float *data, size_t count, int root) {
  std::vector<float> host = toHost(data, count);
  this->host.broadcast(host.data(), count, root);
  toDevice(host, data);
}
