//===- TrainingDataTest.cpp - batches of training windows -----------------===//
#include "runtime/program/TrainingData.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <numeric>
#include <set>
#include <vector>

using namespace tpc::program;

namespace {
/// The window each sequence of `steps` batches starts at (tokens are their
/// own positions, so a sequence's first id is its window x seqLen).
std::vector<int64_t> windowsRead(const std::vector<int32_t> &tokens,
                                 int64_t steps, int64_t batch, int64_t seqLen,
                                 ShuffledWindows *shuffled) {
  std::vector<int64_t> read;
  for (int64_t step = 0; step < steps; ++step) {
    Ids ids, targets;
    trainingBatch(tokens, step, batch, seqLen, ids, targets, 0, -1, shuffled);
    for (int64_t b = 0; b < batch; ++b) {
      EXPECT_EQ(targets.values[b * seqLen], ids.values[b * seqLen] + 1);
      read.push_back(ids.values[b * seqLen] / seqLen);
    }
  }
  return read;
}
} // namespace

TEST(TrainingData, ShuffleDrawsAFreshPermutationEachEpoch) {
  // 10 windows of 4 tokens, batches of 3 (epochs end inside a batch): each
  // epoch reads every window once, epochs differ, and another rank with
  // the same seed reads the same order.
  const int64_t windows = 10, seqLen = 4, batch = 3;
  std::vector<int32_t> tokens(windows * seqLen + 1);
  std::iota(tokens.begin(), tokens.end(), 0);
  ShuffledWindows mine(windows, 7), other(windows, 7), reseeded(windows, 8);
  std::vector<int64_t> read = windowsRead(tokens, 10, batch, seqLen, &mine);
  ASSERT_EQ(read.size(), 30u);
  std::vector<std::vector<int64_t>> epochs;
  for (int64_t e = 0; e < 3; ++e) {
    std::vector<int64_t> epoch(read.begin() + e * windows,
                               read.begin() + (e + 1) * windows);
    std::set<int64_t> distinct(epoch.begin(), epoch.end());
    EXPECT_EQ(distinct.size(), size_t(windows)) << "epoch " << e;
    epochs.push_back(epoch);
  }
  EXPECT_NE(epochs[0], epochs[1]);
  EXPECT_NE(epochs[1], epochs[2]);
  std::vector<int64_t> inOrder(windows);
  std::iota(inOrder.begin(), inOrder.end(), 0);
  EXPECT_NE(epochs[0], inOrder);
  EXPECT_EQ(windowsRead(tokens, 10, batch, seqLen, &other), read);
  EXPECT_NE(windowsRead(tokens, 10, batch, seqLen, &reseeded), read);
  // Without shuffling: in order, wrapping around.
  std::vector<int64_t> plain = windowsRead(tokens, 4, batch, seqLen, nullptr);
  for (size_t i = 0; i < plain.size(); ++i)
    EXPECT_EQ(plain[i], int64_t(i) % windows);
}
