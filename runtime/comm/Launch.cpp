//===- Launch.cpp - ranks as threads or as mpirun processes ---------------===//
#include "runtime/comm/Launch.h"
#include "runtime/comm/Faults.h"
#include "runtime/comm/GlooCommunicator.h"

#include <gloo/rendezvous/file_store.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <thread>

using namespace tpc::comm;

namespace {
const char *env(const char *name) {
  const char *value = std::getenv(name);
  return value && *value ? value : nullptr;
}

int envInt(const char *name) {
  try {
    return std::stoi(env(name));
  } catch (const std::exception &) {
    throw std::runtime_error(std::string("environment variable ") + name +
                             " must be an integer, got '" + env(name) + "'");
  }
}
} // namespace

ProcessGroup tpc::comm::detectProcessGroup() {
  ProcessGroup group;
  if (env("OMPI_COMM_WORLD_RANK") && env("OMPI_COMM_WORLD_SIZE")) {
    group.rank = envInt("OMPI_COMM_WORLD_RANK");
    group.size = envInt("OMPI_COMM_WORLD_SIZE");
    group.jobId = env("PMIX_NAMESPACE") ? env("PMIX_NAMESPACE")
                  : env("OMPI_MCA_ess_base_jobid")
                      ? env("OMPI_MCA_ess_base_jobid")
                      : "ompi";
    group.underMpirun = true;
    group.localRank = env("OMPI_COMM_WORLD_LOCAL_RANK")
                          ? envInt("OMPI_COMM_WORLD_LOCAL_RANK")
                          : group.rank;
    group.localSize = env("OMPI_COMM_WORLD_LOCAL_SIZE")
                          ? envInt("OMPI_COMM_WORLD_LOCAL_SIZE")
                          : group.size;
  } else if (env("PMI_RANK") && env("PMI_SIZE")) {
    group.rank = envInt("PMI_RANK");
    group.size = envInt("PMI_SIZE");
    group.jobId = env("PMI_JOBID") ? env("PMI_JOBID") : "pmi";
    group.underMpirun = true;
    group.localRank =
        env("MPI_LOCALRANKID") ? envInt("MPI_LOCALRANKID") : group.rank;
    group.localSize =
        env("MPI_LOCALNRANKS") ? envInt("MPI_LOCALNRANKS") : group.size;
  }
  return group;
}

void tpc::comm::runRanks(int threads, std::chrono::milliseconds timeout,
                         const std::function<void(Communicator &)> &body) {
  ProcessGroup group = detectProcessGroup();
  if (!group.underMpirun) {
    runThreadRanks(threads, timeout, body);
    return;
  }
  std::filesystem::path dir =
      env("TPC_RENDEZVOUS_DIR")
          ? std::filesystem::path(env("TPC_RENDEZVOUS_DIR"))
          : std::filesystem::temp_directory_path() /
                ("tpc-rendezvous-" + group.jobId);
  std::filesystem::create_directories(dir);
  try {
    gloo::rendezvous::FileStore store(dir.string());
    setPhase("connecting");
    injectFault("join", group.rank);
    auto comm =
        GlooCommunicator::connect(store, group.rank, group.size, timeout);
    setPhase("running");
    body(*comm);
    setPhase("finishing");
    comm->barrier();
  } catch (const std::exception &e) {
    // The job ends (mpirun stops the other processes when this one exits
    // with an error): its rendezvous files go with it.
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
    // A collective that failed because a peer did: let that peer, which
    // exits at once, report its own error before this one ends the job.
    if (dynamic_cast<const CollectiveError *>(&e))
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    throw std::runtime_error("rank " + std::to_string(group.rank) + " (" +
                             phase() + "): " + e.what());
  }
  // Every rank has passed the barrier: the rendezvous files are done with.
  if (group.rank == 0) {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
}
