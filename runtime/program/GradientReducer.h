//===- GradientReducer.h - dp gradient buckets during the backward pass -*- C++ -*-===//
//
// tpc.reduce_gradients hands a bucket of complete gradients to the rank's
// GradientReducer, which sums it over the data-parallel replicas on a
// thread of its own while the rank's thread goes on with the backward
// pass (PyTorch DDP's overlap). Buckets are reduced in the order they are
// started: every replica runs the same program, so all start the same
// buckets in the same order and their all-reduces pair up.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_PROGRAM_GRADIENTREDUCER_H
#define TPC_RUNTIME_PROGRAM_GRADIENTREDUCER_H

#include "runtime/comm/Communicator.h"
#include "runtime/core/Tensor.h"

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
  /// Reduces over `dp`, which no other thread uses until wait() returns.
  explicit GradientReducer(comm::Communicator &dp);
  /// Drops buckets not started yet and joins the thread.
  ~GradientReducer();
  GradientReducer(const GradientReducer &) = delete;
  GradientReducer &operator=(const GradientReducer &) = delete;

  /// Starts summing the gradients `names` (f32 host tensors that nothing
  /// writes until wait() returns) over the replicas.
  void start(std::vector<std::string_view> names, std::vector<Tensor *> grads);
  /// Waits for every bucket started; rethrows the first failure.
  void wait();
  /// The names of the gradients started since the last takeStarted().
  std::set<std::string, std::less<>> takeStarted();

private:
  void run();

  comm::Communicator &dp;
  std::mutex mutex;
  std::condition_variable changed;
  std::deque<std::vector<Tensor *>> queue;
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
