//===- Launch.cpp - ranks as threads or as mpirun processes ---------------===//
#include "runtime/comm/Launch.h"
#include "runtime/comm/Faults.h"
#include "runtime/comm/GlooCommunicator.h"
#include "runtime/comm/PunctualFileStore.h"


#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <unistd.h>
#include <stdexcept>
#include <thread>
#include <vector>

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

namespace {
/// This host's name, to tell its processes from other hosts'.
std::string hostName() {
  char name[256] = {};
  ::gethostname(name, sizeof(name) - 1);
  return name;
}

/// Records this process in the job's rendezvous directory, so that a rank
/// that fails can stop its peers on the same host at once.
void recordProcess(const std::filesystem::path &dir, int rank) {
  std::ofstream(dir / ("process." + std::to_string(rank)))
      << hostName() << " " << ::getpid() << "\n";
}

/// How long this process may still wait to connect: `timeout` from when
/// the job's first process recorded itself, so that a process that started
/// late (loading the executable takes a while on a busy host) gives up
/// together with the others, not a timeout after its own start.
std::chrono::milliseconds connectTimeout(const std::filesystem::path &dir,
                                         std::chrono::milliseconds timeout) {
  auto now = std::filesystem::file_time_type::clock::now();
  auto earliest = now;
  std::error_code ec;
  for (const auto &entry : std::filesystem::directory_iterator(dir, ec))
    if (entry.path().filename().string().rfind("process.", 0) == 0)
      earliest = std::min(earliest, entry.last_write_time(ec));
  auto waited =
      std::chrono::duration_cast<std::chrono::milliseconds>(now - earliest);
  return std::max(timeout - waited, std::chrono::milliseconds(100));
}

/// The job's other processes on this host, from their process files.
std::vector<pid_t> peersOnThisHost(const std::filesystem::path &dir,
                                   int rank, int size) {
  std::string host = hostName();
  std::vector<pid_t> peers;
  for (int peer = 0; peer < size; ++peer) {
    if (peer == rank)
      continue;
    std::ifstream in(dir / ("process." + std::to_string(peer)));
    std::string peerHost;
    pid_t pid = 0;
    if (in >> peerHost >> pid && peerHost == host && pid > 1 &&
        pid != ::getpid())
      peers.push_back(pid);
  }
  return peers;
}
/// Removes the rendezvous directory; again while peers still write to it
/// (a rank can fail while others are still connecting through the store:
/// their files appear during the removal, which then stops short).
void removeRendezvous(const std::filesystem::path &dir) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
    if (!std::filesystem::exists(dir, ignored))
      return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

/// Ends the job this process failed in. Its rendezvous files go at once
/// (mpirun kills the job's processes as soon as one of them ends, so a
/// cleanup left for exit may never run), and again at exit, after the
/// job's other processes on this host are killed: a peer that hangs, or
/// waits on a collective that can never complete, would otherwise live
/// until mpirun tears the job down (a second or more after this process
/// exits), and a peer still connecting writes new files.
void endJob(const std::filesystem::path &dir, int rank, int size) {
  static std::filesystem::path failedDir;
  static std::vector<pid_t> peers;
  static bool registered = false;
  failedDir = dir;
  peers = peersOnThisHost(dir, rank, size);
  removeRendezvous(dir);
  if (!registered)
    std::atexit([] {
      for (pid_t pid : peers)
        ::kill(pid, SIGKILL);
      removeRendezvous(failedDir);
    });
  registered = true;
}
} // namespace

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
  recordProcess(dir, group.rank);
  try {
    PunctualFileStore store(dir.string());
    setPhase("connecting");
    injectFault("join", group.rank);
    auto comm = GlooCommunicator::connect(store, group.rank, group.size,
                                          timeout, connectTimeout(dir, timeout));
    setPhase("running");
    body(*comm);
    setPhase("finishing");
    comm->barrier();
  } catch (const std::exception &e) {
    // The job ends: its rendezvous files go now; its processes on this
    // host stop when this one exits, after it has said why (mpirun stops
    // the rest when this one exits with an error).
    endJob(dir, group.rank, group.size);
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
