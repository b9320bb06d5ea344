//===- GradientReducer.h - dp gradient buckets during the backward pass -*- C++ -*-===//
//
// tpc.reduce_gradients hands a bucket of complete gradients to the rank's
// GradientReducer, which sums it over the data-parallel replicas on a
// thread of its own while the rank's thread goes on with the backward
// pass (PyTorch DDP's overlap): an all-reduce, or with ZeRO-1 a
// reduce-scatter that leaves each replica the sum of its part of the
// bucket (as PyTorch FSDP's reduce-scatter during the backward pass).
// Buckets are reduced in the order they are started: every replica runs
// the same program, so all start the same buckets in the same order and
// their collectives pair up.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_PROGRAM_GRADIENTREDUCER_H
#define TPC_RUNTIME_PROGRAM_GRADIENTREDUCER_H

#include "runtime/comm/Communicator.h"
#include "runtime/core/Tensor.h"
#include "runtime/program/Optimizer.h"

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace tpc::program {

class GradientReducer {
public:
  enum class Reduction { AllReduce, ReduceScatter };

  /// Reduces over `dp`, which no other thread uses until wait() returns.
  GradientReducer(comm::Communicator &dp, Reduction reduction);
  /// Drops buckets not started yet and joins the thread.
  ~GradientReducer();
  GradientReducer(const GradientReducer &) = delete;
  GradientReducer &operator=(const GradientReducer &) = delete;

  Reduction reduction() const { return how; }
  /// ReduceScatter (ZeRO-2): frees each bucket's gradient buffers once it
  /// is reduce-scattered (tpc.accumulate_grad makes them anew next step).
  /// Set between steps.
  void setReleaseGradients(bool release) { releaseGradients = release; }
  /// Starts summing the gradients `names` (f32 host tensors that nothing
  /// writes until wait() returns) over the replicas: in place
  /// (AllReduce), or into a ScatteredBucket (ReduceScatter).
  void start(std::vector<std::string_view> names, std::vector<Tensor *> grads);
  /// Waits for every bucket started; rethrows the first failure.
  void wait();
  /// The names of the gradients started since the last takeStarted().
  std::set<std::string, std::less<>> takeStarted();
  /// ReduceScatter: this replica's sums of the buckets finished since the
  /// last takeScattered(), in the order they were started.
  std::vector<ScatteredBucket> takeScattered();

private:
  struct Bucket {
    std::vector<std::string> names;
    std::vector<Tensor *> grads;
    bool release = false;
  };
  void run();

  comm::Communicator &dp;
  const Reduction how;
  bool releaseGradients = false;
  std::mutex mutex;
  std::condition_variable changed;
  std::deque<Bucket> queue;
  std::vector<ScatteredBucket> scattered;
  int inFlight = 0;
  bool stopping = false;
  std::exception_ptr failure;
  std::set<std::string, std::less<>> started;
  /// The phase of the rank thread that started the bucket, for errors.
  std::string phase;
  std::thread worker;
};

} // namespace tpc::program

#endif // TPC_RUNTIME_PROGRAM_GRADIENTREDUCER_H
