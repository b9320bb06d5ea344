//===- GlooCommunicator.h - CPU collectives through Gloo --------*- C++ -*-===//
#ifndef TPC_RUNTIME_COMM_GLOOCOMMUNICATOR_H
#define TPC_RUNTIME_COMM_GLOOCOMMUNICATOR_H

#include "runtime/comm/Communicator.h"

#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>

namespace gloo {
class Context;
namespace rendezvous {
class Store;
} // namespace rendezvous
} // namespace gloo

namespace tpc::comm {

class GlooCommunicator : public Communicator {
public:
  /// Joins the group of `size` ranks as `rank`, meeting the others through
  /// `store`, over TCP on the loopback interface. Every collective fails
  /// after `timeout` without progress; connecting fails after
  /// `connectTimeout` (when positive, else `timeout`).
  static std::unique_ptr<GlooCommunicator>
  connect(gloo::rendezvous::Store &store, int rank, int size,
          std::chrono::milliseconds timeout,
          std::chrono::milliseconds connectTimeout = {});

  int rank() const override;
  int size() const override;
  void allReduceSum(float *data, size_t count) override;
  void allGather(const float *in, float *out,
                 const std::vector<size_t> &counts) override;
  void reduceScatterSum(const float *data, float *out,
                        const std::vector<size_t> &counts) override;
  void broadcast(float *data, size_t count, int root) override;
  void barrier() override;
  /// Connects the group through the store this communicator met its peers
  /// in, under a prefix of its own (which must still exist: the thread
  /// ranks' and mpirun's stores live as long as the ranks run).
  std::unique_ptr<Communicator> split(int color, int rankInGroup,
                                      int groupSize) override;

private:
  GlooCommunicator(std::shared_ptr<gloo::Context> context,
                   gloo::rendezvous::Store &store,
                   std::chrono::milliseconds timeout);
  std::shared_ptr<gloo::Context> context;
  gloo::rendezvous::Store &store;
  std::chrono::milliseconds timeout;
  int splits = 0;
};

/// Rank threads that never returned after a failure: the process must
/// exit without waiting for them (std::_Exit), its state is theirs.
struct AbandonedRanks : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Runs `body` on `size` ranks, each a thread with its own Gloo
/// communicator, all sharing one in-memory rendezvous store. Returns when
/// every rank is done (the ranks meet in a final barrier before they tear
/// their connections down). When ranks fail, throws a std::runtime_error
/// naming the rank whose own error came first and what it was doing
/// (Faults.h), in preference to the collectives that failed because of it;
/// a rank blocked in a collective with a failed peer fails itself within
/// `timeout` of starting to wait. A rank still running a second after the
/// first failure is taken to hang: it is named with what it was doing and
/// left behind (AbandonedRanks).
void runThreadRanks(int size, std::chrono::milliseconds timeout,
                    const std::function<void(Communicator &)> &body);

} // namespace tpc::comm

#endif // TPC_RUNTIME_COMM_GLOOCOMMUNICATOR_H
