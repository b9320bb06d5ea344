//===- GradientReducer.cpp - dp gradient buckets during the backward pass -===//
#include "runtime/program/GradientReducer.h"

#include "runtime/comm/Faults.h"

#include <optional>
#include <utility>

using namespace tpc;
using namespace tpc::program;

GradientReducer::GradientReducer(comm::Communicator &dp, Reduction reduction)
    : dp(dp), how(reduction), worker([this] { run(); }) {}

GradientReducer::~GradientReducer() {
  {
    std::lock_guard<std::mutex> lock(mutex);
    stopping = true;
  }
  changed.notify_all();
  worker.join();
}

void GradientReducer::start(std::vector<std::string_view> names,
                            std::vector<Tensor *> grads) {
  {
    std::lock_guard<std::mutex> lock(mutex);
    Bucket bucket;
    for (std::string_view name : names) {
      started.emplace(name);
      bucket.names.emplace_back(name);
    }
    bucket.grads = std::move(grads);
    bucket.release = releaseGradients;
    phase = comm::phase();
    queue.push_back(std::move(bucket));
    ++inFlight;
  }
  changed.notify_all();
}

void GradientReducer::wait() {
  std::unique_lock<std::mutex> lock(mutex);
  changed.wait(lock, [&] { return inFlight == 0; });
  if (failure)
    std::rethrow_exception(std::exchange(failure, nullptr));
}

std::set<std::string, std::less<>> GradientReducer::takeStarted() {
  std::lock_guard<std::mutex> lock(mutex);
  return std::exchange(started, {});
}

std::vector<ScatteredBucket> GradientReducer::takeScattered() {
  std::lock_guard<std::mutex> lock(mutex);
  return std::exchange(scattered, {});
}

void GradientReducer::run() {
  std::unique_lock<std::mutex> lock(mutex);
  while (true) {
    changed.wait(lock, [&] { return stopping || !queue.empty(); });
    if (stopping)
      return;
    Bucket bucket = std::move(queue.front());
    queue.pop_front();
    bool skip = failure != nullptr;
    comm::setPhase(phase + ", reducing gradients over dp");
    lock.unlock();
    std::exception_ptr error;
    std::optional<ScatteredBucket> mine;
    if (!skip) {
      try {
        if (how == Reduction::AllReduce)
          allReduceTogether(dp, bucket.grads);
        else
          mine = reduceScatterTogether(dp, std::move(bucket.names),
                                       bucket.grads);
        // No op of the step reads these gradients again; only their map
        // nodes' values change, which the rank thread does not touch.
        if (mine && bucket.release)
          for (Tensor *grad : bucket.grads)
            releaseGradient(*grad);
      } catch (...) {
        error = std::current_exception();
      }
    }
    lock.lock();
    if (mine)
      scattered.push_back(std::move(*mine));
    if (error && !failure)
      failure = error;
    --inFlight;
    changed.notify_all();
  }
}
