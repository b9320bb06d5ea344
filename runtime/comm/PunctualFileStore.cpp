//===- PunctualFileStore.cpp - a rendezvous store that keeps its timeout -===//
#include "runtime/comm/PunctualFileStore.h"

#include <stdexcept>
#include <thread>

using namespace tpc::comm;

void PunctualFileStore::wait(const std::vector<std::string> &keys,
                             const std::chrono::milliseconds &timeout) {
  // Polls like Gloo's store, against a steady-clock deadline.
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!check(keys)) {
    if (std::chrono::steady_clock::now() >= deadline) {
      std::string names;
      for (const std::string &key : keys)
        names += (names.empty() ? "" : ", ") + key;
      throw std::runtime_error("Wait timeout for key(s): " + names);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}
