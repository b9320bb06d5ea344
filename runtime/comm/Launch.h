//===- Launch.h - ranks as threads or as mpirun processes -------*- C++ -*-===//
//
// A program runs its ranks as threads of one process by default, or as the
// processes of an `mpirun` job (one rank each, on one or more nodes that
// share the rendezvous directory). mpirun only launches: ranks and sizes
// come from its environment, and the processes meet through a Gloo file
// store in $TPC_RENDEZVOUS_DIR or /tmp/tpc-rendezvous-<job id>.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_COMM_LAUNCH_H
#define TPC_RUNTIME_COMM_LAUNCH_H

#include "runtime/comm/Communicator.h"

#include <chrono>
#include <functional>
#include <string>

namespace tpc::comm {

/// How this process was started.
struct ProcessGroup {
  int rank = 0;
  int size = 1;
  /// This process's place among the job's processes on this node (which
  /// GPU it takes).
  int localRank = 0;
  int localSize = 1;
  std::string jobId;
  bool underMpirun = false;
};

/// Reads OpenMPI's (OMPI_COMM_WORLD_RANK/SIZE/LOCAL_RANK/LOCAL_SIZE,
/// PMIX_NAMESPACE) or PMI's (PMI_RANK/PMI_SIZE, MPI_LOCALRANKID/NRANKS)
/// environment.
ProcessGroup detectProcessGroup();

/// Runs `body` on every rank: on `threads` thread ranks when this process is
/// not part of an mpirun job, else on this process's rank. Failures throw a
/// std::runtime_error naming the rank, as runThreadRanks does.
void runRanks(int threads, std::chrono::milliseconds timeout,
              const std::function<void(Communicator &)> &body);

} // namespace tpc::comm

#endif // TPC_RUNTIME_COMM_LAUNCH_H
