//===- GradientReducer.cpp - dp gradient buckets during the backward pass -===//
#include "runtime/program/GradientReducer.h"

#include "runtime/comm/Faults.h"
#include "runtime/program/Optimizer.h"

#include <utility>

using namespace tpc;
using namespace tpc::program;

GradientReducer::GradientReducer(comm::Communicator &dp)
    : dp(dp), worker([this] { run(); }) {}

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
    for (std::string_view name : names)
      started.emplace(name);
    phase = comm::phase();
    queue.push_back(std::move(grads));
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

void GradientReducer::run() {
  std::unique_lock<std::mutex> lock(mutex);
  while (true) {
    changed.wait(lock, [&] { return stopping || !queue.empty(); });
    if (stopping)
      return;
    std::vector<Tensor *> bucket = std::move(queue.front());
    queue.pop_front();
    bool skip = failure != nullptr;
    comm::setPhase(phase + ", reducing gradients over dp");
    lock.unlock();
    std::exception_ptr error;
    if (!skip) {
      try {
        allReduceTogether(dp, bucket);
      } catch (...) {
        error = std::current_exception();
      }
    }
    lock.lock();
    if (error && !failure)
      failure = error;
    --inFlight;
    changed.notify_all();
  }
}
