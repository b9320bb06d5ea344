//===- NcclCommunicator.h - GPU collectives through NCCL --------*- C++ -*-===//
//
// Collectives on device buffers (f32). NCCL for ranks on distinct GPUs; a
// host-staged wrapper around a host communicator for virtual ranks sharing
// one GPU (verification only: NCCL refuses two ranks on one device).
// While a collective runs, NCCL's asynchronous errors are polled; an error
// or a timeout aborts the communicator and throws CollectiveError, so a
// failed peer never hangs the others.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_COMM_NCCLCOMMUNICATOR_H
#define TPC_RUNTIME_COMM_NCCLCOMMUNICATOR_H

#include "runtime/comm/Communicator.h"

#include <chrono>
#include <memory>

namespace gloo::rendezvous {
class Store;
} // namespace gloo::rendezvous

namespace tpc::comm {

class NcclCommunicator : public Communicator {
public:
  /// Joins the group as `rank` of `size` on CUDA device `device`. Rank 0
  /// makes the NCCL unique id and publishes it through `store` (shared by
  /// thread ranks, or a file store under mpirun).
  static std::unique_ptr<NcclCommunicator>
  connect(gloo::rendezvous::Store &store, int rank, int size, int device,
          std::chrono::milliseconds timeout);
  /// Joins the group of `bootstrap`'s ranks (same rank and size) on CUDA
  /// device `device`; the unique id travels by `bootstrap`'s broadcast, so
  /// thread ranks and mpirun processes connect alike.
  static std::unique_ptr<NcclCommunicator>
  connect(Communicator &bootstrap, int device,
          std::chrono::milliseconds timeout);
  ~NcclCommunicator() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void allReduceSum(float *data, size_t count) override;
  void allGather(const float *in, float *out,
                 const std::vector<size_t> &counts) override;
  void reduceScatterSum(const float *data, float *out,
                        const std::vector<size_t> &counts) override;
  void broadcast(float *data, size_t count, int root) override;
  void barrier() override;

private:
  struct Impl;
  NcclCommunicator(int rank, int size, std::unique_ptr<Impl> impl);
  /// Joins the group whose ncclUniqueId is `uniqueId`.
  static std::unique_ptr<NcclCommunicator>
  join(const void *uniqueId, int rank, int size,
       std::chrono::milliseconds timeout);
  /// Waits for the queued collective, polling for NCCL errors.
  void wait(const char *op);

  int rank_, size_;
  std::unique_ptr<Impl> impl;
};

/// Device-buffer collectives for virtual ranks on one GPU: copies to the
/// host, runs `host`'s collective, copies back.
class HostStagedCommunicator : public Communicator {
public:
  explicit HostStagedCommunicator(Communicator &host) : host(host) {}

  int rank() const override { return host.rank(); }
  int size() const override { return host.size(); }
  void allReduceSum(float *data, size_t count) override;
  void allGather(const float *in, float *out,
                 const std::vector<size_t> &counts) override;
  void reduceScatterSum(const float *data, float *out,
                        const std::vector<size_t> &counts) override;
  void broadcast(float *data, size_t count, int root) override;
  void barrier() override { host.barrier(); }

private:
  Communicator &host;
};

} // namespace tpc::comm

#endif // TPC_RUNTIME_COMM_NCCLCOMMUNICATOR_H
