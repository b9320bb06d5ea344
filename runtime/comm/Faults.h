//===- Faults.h - what each rank is doing, and injected faults --*- C++ -*-===//
//
// A rank that fails, or a rank left waiting for a failed peer, says which
// rank it is and what it was doing ("rank 1 (loading weights): ..."): each
// rank thread records its phase as it goes, and the launchers put it into
// their messages.
//
// For the fault tests, TPC_INJECT_FAULT=RANK:POINT:KIND makes rank RANK
// fail at POINT (join: before it meets its peers; weights: loading its
// first weight; pass: starting a forward pass or a generation step) with
// KIND (throw: an exception; kill: SIGKILL to its own process; hang: it
// never returns). TPC_FAULT_STAMP=FILE records when the fault fired, so a
// test can time how fast the others stop.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_COMM_FAULTS_H
#define TPC_RUNTIME_COMM_FAULTS_H

#include <functional>
#include <string>

namespace tpc::comm {

/// Records what the calling rank thread does now ("loading weights").
void setPhase(std::string phase);
/// What the calling rank thread was last doing ("starting" before any).
std::string phase();
/// Also tells `observer` whenever the calling thread's phase changes (the
/// launcher of thread ranks follows every rank this way).
void observePhase(std::function<void(const std::string &)> observer);

/// Fails rank `rank` here when TPC_INJECT_FAULT names it and `point`.
void injectFault(const char *point, int rank);

} // namespace tpc::comm

#endif // TPC_RUNTIME_COMM_FAULTS_H
