//===- Faults.cpp - what each rank is doing, and injected faults ----------===//
#include "runtime/comm/Faults.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <stdexcept>
#include <unistd.h>
#include <vector>

using namespace tpc;

namespace {
thread_local std::string currentPhase = "starting";
thread_local std::function<void(const std::string &)> phaseObserver;

struct Fault {
  int rank = -1;
  std::string point, kind;
};

const Fault &configuredFault() {
  static const Fault fault = [] {
    Fault f;
    const char *spec = std::getenv("TPC_INJECT_FAULT");
    if (!spec || !*spec)
      return f;
    std::vector<std::string> parts = absl::StrSplit(spec, ':');
    if (parts.size() != 3 || !absl::SimpleAtoi(parts[0], &f.rank))
      throw std::runtime_error("TPC_INJECT_FAULT: expected RANK:POINT:KIND, "
                               "got '" +
                               std::string(spec) + "'");
    f.point = parts[1];
    f.kind = parts[2];
    return f;
  }();
  return fault;
}
} // namespace

void comm::setPhase(std::string phase) {
  currentPhase = std::move(phase);
  if (phaseObserver)
    phaseObserver(currentPhase);
}

void comm::observePhase(std::function<void(const std::string &)> observer) {
  phaseObserver = std::move(observer);
}

std::string comm::phase() { return currentPhase; }

void comm::injectFault(const char *point, int rank) {
  const Fault &fault = configuredFault();
  if (fault.rank != rank || fault.point != point)
    return;
  if (const char *stamp = std::getenv("TPC_FAULT_STAMP"))
    // Fixed, to the microsecond: the default 6 significant digits round
    // the epoch seconds to 100 s.
    std::ofstream(stamp) << std::fixed << std::setprecision(6)
                         << std::chrono::duration<double>(
                                std::chrono::system_clock::now()
                                    .time_since_epoch())
                                .count()
                         << "\n";
  if (fault.kind == "kill")
    ::kill(::getpid(), SIGKILL);
  if (fault.kind == "hang") {
    absl::Notification never;
    never.WaitForNotification();
  }
  throw std::runtime_error("injected failure");
}
