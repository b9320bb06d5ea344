//===- comm_selftest.cpp - collectives on however the ranks were launched -===//
//
//   tpc-comm-selftest [--threads N] [--fail-rank R]
//   mpirun -np N tpc-comm-selftest [--fail-rank R]
//
// Runs every collective with uneven counts and checks the results; with
// --fail-rank, that rank fails before its first collective. Prints one line
// per rank; exits 1 with the failing rank named on error.
//
//===----------------------------------------------------------------------===//
#include "runtime/comm/Launch.h"

#include <cstdio>
#include <cstring>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

using namespace tpc::comm;

namespace {
void check(bool ok, const char *what) {
  if (!ok)
    throw std::runtime_error(std::string(what) + " gave a wrong result");
}

void exercise(Communicator &comm, int failRank) {
  int rank = comm.rank(), size = comm.size();
  if (rank == failRank)
    throw std::runtime_error("injected failure");
  std::vector<float> data(10, float(rank + 1));
  comm.allReduceSum(data.data(), data.size());
  check(data[9] == float(size * (size + 1) / 2), "all_reduce");

  std::vector<size_t> counts;
  for (int r = 0; r < size; ++r)
    counts.push_back(3 + r);
  size_t total = std::accumulate(counts.begin(), counts.end(), size_t(0));
  std::vector<float> mine(counts[rank], float(rank)), all(total);
  comm.allGather(mine.data(), all.data(), counts);
  check(all.back() == float(size - 1) && all.front() == 0.0f, "all_gather");

  std::vector<float> full(total, 1.0f), part(counts[rank]);
  comm.reduceScatterSum(full.data(), part.data(), counts);
  check(part[0] == float(size), "reduce_scatter");

  std::vector<float> b(4, float(rank));
  comm.broadcast(b.data(), b.size(), 0);
  check(b[3] == 0.0f, "broadcast");
  std::printf("rank %d of %d: all collectives correct\n", rank, size);
  std::fflush(stdout);
}
} // namespace

int main(int argc, char **argv) {
  int threads = 2, failRank = -1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--threads"))
      threads = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--fail-rank"))
      failRank = std::atoi(argv[i + 1]);
  }
  try {
    runRanks(threads, std::chrono::seconds(10),
             [&](Communicator &comm) { exercise(comm, failRank); });
  } catch (const std::exception &e) {
    std::fprintf(stderr, "tpc-comm-selftest: %s\n", e.what());
    return 1;
  }
  return 0;
}
