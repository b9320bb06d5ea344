//===- GlooCommunicatorTest.cpp - CPU collectives on thread ranks ---------===//
#include "runtime/comm/GlooCommunicator.h"

#include "gtest/gtest.h"

#include <chrono>
#include <numeric>
#include <stdexcept>

using namespace tpc::comm;
using namespace std::chrono_literals;

namespace {
class Collectives : public ::testing::TestWithParam<int> {};

/// Rank r's value at index i: distinct across ranks and indices.
float value(int rank, size_t i) { return float(rank * 1000 + i); }

TEST_P(Collectives, AllReduceSums) {
  int size = GetParam();
  runThreadRanks(size, 10s, [&](Communicator &comm) {
    std::vector<float> data(37);
    for (size_t i = 0; i < data.size(); ++i)
      data[i] = value(comm.rank(), i);
    comm.allReduceSum(data.data(), data.size());
    for (size_t i = 0; i < data.size(); ++i) {
      float want = 0;
      for (int r = 0; r < size; ++r)
        want += value(r, i);
      if (data[i] != want)
        throw std::runtime_error("all_reduce mismatch");
    }
  });
}

TEST_P(Collectives, AllGatherUnevenCounts) {
  int size = GetParam();
  std::vector<size_t> counts;
  for (int r = 0; r < size; ++r)
    counts.push_back(11 - r); // 11/10/9/8: uneven like 11/11/10 heads
  size_t total = std::accumulate(counts.begin(), counts.end(), size_t(0));
  runThreadRanks(size, 10s, [&](Communicator &comm) {
    std::vector<float> in(counts[comm.rank()]), out(total);
    for (size_t i = 0; i < in.size(); ++i)
      in[i] = value(comm.rank(), i);
    comm.allGather(in.data(), out.data(), counts);
    size_t at = 0;
    for (int r = 0; r < size; ++r)
      for (size_t i = 0; i < counts[r]; ++i)
        if (out[at++] != value(r, i))
          throw std::runtime_error("all_gather mismatch");
  });
}

TEST_P(Collectives, ReduceScatterUnevenCounts) {
  int size = GetParam();
  std::vector<size_t> counts;
  for (int r = 0; r < size; ++r)
    counts.push_back(5 + 2 * r);
  size_t total = std::accumulate(counts.begin(), counts.end(), size_t(0));
  runThreadRanks(size, 10s, [&](Communicator &comm) {
    std::vector<float> data(total), out(counts[comm.rank()]);
    for (size_t i = 0; i < total; ++i)
      data[i] = value(comm.rank(), i);
    comm.reduceScatterSum(data.data(), out.data(), counts);
    size_t offset = std::accumulate(counts.begin(),
                                    counts.begin() + comm.rank(), size_t(0));
    for (size_t i = 0; i < out.size(); ++i) {
      float want = 0;
      for (int r = 0; r < size; ++r)
        want += value(r, offset + i);
      if (out[i] != want)
        throw std::runtime_error("reduce_scatter mismatch at " +
                                 std::to_string(i));
    }
  });
}

TEST_P(Collectives, BroadcastAndBarrier) {
  int size = GetParam();
  runThreadRanks(size, 10s, [&](Communicator &comm) {
    std::vector<float> data(9, float(comm.rank()));
    comm.broadcast(data.data(), data.size(), size - 1);
    comm.barrier();
    for (float v : data)
      if (v != float(size - 1))
        throw std::runtime_error("broadcast mismatch");
  });
}

INSTANTIATE_TEST_SUITE_P(Ranks, Collectives, ::testing::Values(1, 2, 3, 4));

TEST(Collectives, RankThatThrowsEndsTheRunWithinTheTimeout) {
  // Rank 1 fails before the all-reduce the others wait in: they time out,
  // every thread returns, and the error names rank 1.
  auto start = std::chrono::steady_clock::now();
  try {
    runThreadRanks(3, 1500ms, [](Communicator &comm) {
      if (comm.rank() == 1)
        throw std::runtime_error("weights file is missing");
      std::vector<float> data(4, 1.0f);
      comm.allReduceSum(data.data(), data.size());
    });
    FAIL() << "expected the run to fail";
  } catch (const std::runtime_error &e) {
    EXPECT_EQ(std::string(e.what()), "rank 1 (running): weights file is missing");
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
}
} // namespace
