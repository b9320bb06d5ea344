//===- DataParallelQueue.cpp - dp collectives beside the rank's passes ----===//
#include "runtime/program/DataParallelQueue.h"

#include "runtime/comm/Faults.h"

#include <chrono>
#include <optional>
#include <utility>

using namespace tpc;
using namespace tpc::program;

DataParallelQueue::DataParallelQueue(comm::Communicator &dp,
                                     Reduction reduction)
    : dp(dp), how(reduction), worker([this] { run(); }) {}

DataParallelQueue::~DataParallelQueue() {
  {
    std::lock_guard<std::mutex> lock(mutex);
    stopping = true;
  }
  changed.notify_all();
  worker.join();
}

void DataParallelQueue::push(Job job) {
  {
    std::lock_guard<std::mutex> lock(mutex);
    job.phase = comm::phase();
    if (job.gather)
      gathering.insert(job.names.begin(), job.names.end());
    else
      started.insert(job.names.begin(), job.names.end());
    queue.push_back(std::move(job));
    ++inFlight;
  }
  changed.notify_all();
}

void DataParallelQueue::start(std::vector<std::string_view> names,
                              std::vector<Tensor *> grads) {
  Job job;
  job.names.assign(names.begin(), names.end());
  job.grads = std::move(grads);
  job.release = releaseGradients;
  push(std::move(job));
}

void DataParallelQueue::startWeightGather(WeightGather gather) {
  Job job;
  job.names = std::move(gather.weights);
  job.gather = std::move(gather.run);
  push(std::move(job));
}

void DataParallelQueue::awaitWeight(std::string_view name) {
  std::unique_lock<std::mutex> lock(mutex);
  if (gathering.count(name)) {
    auto start = std::chrono::steady_clock::now();
    changed.wait(lock, [&] { return !gathering.count(name); });
    weightWaitSeconds += std::chrono::duration<double>(
                             std::chrono::steady_clock::now() - start)
                             .count();
  }
  if (failure)
    std::rethrow_exception(failure);
}

double DataParallelQueue::takeWeightWaitSeconds() {
  std::lock_guard<std::mutex> lock(mutex);
  return std::exchange(weightWaitSeconds, 0.0);
}

void DataParallelQueue::wait() {
  std::unique_lock<std::mutex> lock(mutex);
  changed.wait(lock, [&] { return inFlight == 0; });
  if (failure)
    std::rethrow_exception(std::exchange(failure, nullptr));
}

std::set<std::string, std::less<>> DataParallelQueue::takeStarted() {
  std::lock_guard<std::mutex> lock(mutex);
  return std::exchange(started, {});
}

std::vector<ScatteredBucket> DataParallelQueue::takeScattered() {
  std::lock_guard<std::mutex> lock(mutex);
  return std::exchange(scattered, {});
}

void DataParallelQueue::run() {
  std::unique_lock<std::mutex> lock(mutex);
  while (true) {
    changed.wait(lock, [&] { return stopping || !queue.empty(); });
    if (stopping)
      return;
    Job job = std::move(queue.front());
    queue.pop_front();
    // After a failure the replicas' collectives no longer pair up: the
    // rest are dropped (their waiters see the failure).
    bool skip = failure != nullptr;
    comm::setPhase(job.phase + (job.gather
                                    ? ", gathering updated weights over dp"
                                    : ", reducing gradients over dp"));
    lock.unlock();
    std::exception_ptr error;
    std::optional<ScatteredBucket> mine;
    if (!skip) {
      try {
        if (job.gather)
          job.gather(dp);
        else if (how == Reduction::AllReduce)
          allReduceTogether(dp, job.grads);
        else
          mine = reduceScatterTogether(dp, std::move(job.names), job.grads);
        // No op of the step reads these gradients again; only their map
        // nodes' values change, which the rank thread does not touch.
        if (mine && job.release)
          for (Tensor *grad : job.grads)
            releaseGradient(*grad);
      } catch (...) {
        error = std::current_exception();
      }
    }
    lock.lock();
    if (mine)
      scattered.push_back(std::move(*mine));
    if (job.gather)
      for (const std::string &name : job.names)
        gathering.erase(gathering.find(name));
    if (error && !failure)
      failure = error;
    --inFlight;
    changed.notify_all();
  }
}
