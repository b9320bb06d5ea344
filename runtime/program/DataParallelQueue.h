//===- DataParallelQueue.h - dp collectives beside the rank's passes -*- C++ -*-===//
//
// A training step's collectives over the data-parallel replicas run on a
// thread of their own, in the order they are queued, while the rank's
// thread computes:
// - tpc.reduce_gradients hands it a bucket of complete gradients during the
//   backward pass (PyTorch DDP's overlap): an all-reduce, or with ZeRO-1 a
//   reduce-scatter that leaves each replica the sum of its part of the
//   bucket (PyTorch FSDP's reduce-scatter during the backward pass);
// - after a ZeRO-1 optimizer step, the all-gathers of the updated weights,
//   bucket by bucket in the order the next forward pass reads them (FSDP's
//   prefetch): the forward pass waits only for the bucket of the weight it
//   is about to read (awaitWeight), not for the whole model.
// Every replica runs the same program, so all queue the same collectives in
// the same order and they pair up.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_PROGRAM_DATAPARALLELQUEUE_H
#define TPC_RUNTIME_PROGRAM_DATAPARALLELQUEUE_H

#include "runtime/comm/Communicator.h"
#include "runtime/core/Tensor.h"
#include "runtime/program/Optimizer.h"

#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace tpc::program {

class DataParallelQueue {
public:
  enum class Reduction { AllReduce, ReduceScatter };

  /// Runs collectives over `dp`, which no other thread uses until wait()
  /// returns.
  DataParallelQueue(comm::Communicator &dp, Reduction reduction);
  /// Drops collectives not started yet and joins the thread.
  ~DataParallelQueue();
  DataParallelQueue(const DataParallelQueue &) = delete;
  DataParallelQueue &operator=(const DataParallelQueue &) = delete;

  Reduction reduction() const { return how; }
  /// ReduceScatter (ZeRO-2): frees each bucket's gradient buffers once it
  /// is reduce-scattered (tpc.accumulate_grad makes them anew next step).
  /// Set between steps.
  void setReleaseGradients(bool release) { releaseGradients = release; }
  /// Starts summing the gradients `names` (f32 host tensors that nothing
  /// writes until wait() returns) over the replicas: in place
  /// (AllReduce), or into a ScatteredBucket (ReduceScatter).
  void start(std::vector<std::string_view> names, std::vector<Tensor *> grads);
  /// Queues `gather`, which writes the weights `weights`: until it has
  /// run, awaitWeight of any of them blocks.
  void startWeightGather(WeightGather gather);
  /// Returns once no queued gather writes weight `name` any more;
  /// rethrows a failure of the queue's collectives.
  void awaitWeight(std::string_view name);
  /// The seconds awaitWeight spent blocked since the last call.
  double takeWeightWaitSeconds();
  /// Waits for every collective queued; rethrows the first failure.
  void wait();
  /// The names of the gradients started since the last takeStarted().
  std::set<std::string, std::less<>> takeStarted();
  /// ReduceScatter: this replica's sums of the buckets finished since the
  /// last takeScattered(), in the order they were started.
  std::vector<ScatteredBucket> takeScattered();

private:
  /// A gradient bucket to reduce, or (`gather` set) weights to gather.
  struct Job {
    std::vector<std::string> names;
    std::vector<Tensor *> grads;
    bool release = false;
    std::function<void(comm::Communicator &)> gather;
    /// The phase of the rank thread that queued it, for errors.
    std::string phase;
  };
  void run();
  void push(Job job);

  comm::Communicator &dp;
  const Reduction how;
  bool releaseGradients = false;
  std::mutex mutex;
  std::condition_variable changed;
  std::deque<Job> queue;
  std::vector<ScatteredBucket> scattered;
  int inFlight = 0;
  bool stopping = false;
  std::exception_ptr failure;
  std::set<std::string, std::less<>> started;
  /// The weights queued gathers have still to write.
  std::multiset<std::string, std::less<>> gathering;
  double weightWaitSeconds = 0;
  std::thread worker;
};

} // namespace tpc::program

#endif // TPC_RUNTIME_PROGRAM_DATAPARALLELQUEUE_H
