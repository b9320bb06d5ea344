//===- DataParallelQueueTest.cpp - dp collectives on thread ranks ---------===//
#include "runtime/program/DataParallelQueue.h"

#include "runtime/comm/GlooCommunicator.h"

#include "gtest/gtest.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

using namespace tpc;
using namespace tpc::program;
using namespace std::chrono_literals;

namespace {
class Queue : public ::testing::TestWithParam<int> {};

/// Replica r's gradient value at element i of tensor t: distinct everywhere.
float value(int replica, int tensor, int64_t i) {
  return float(replica * 1000 + tensor * 100 + i);
}

Tensor gradient(int replica, int tensor, int64_t n) {
  std::vector<float> v(size_t(n), 0.0f);
  for (int64_t i = 0; i < n; ++i)
    v[size_t(i)] = value(replica, tensor, i);
  return Tensor::fromFloats(v, {n}, DType::F32, Device::Host);
}

/// The sum over `replicas` of element i of tensor t.
float summed(int replicas, int tensor, int64_t i) {
  float sum = 0;
  for (int r = 0; r < replicas; ++r)
    sum += value(r, tensor, i);
  return sum;
}

void expect(bool ok, const std::string &what) {
  if (!ok)
    throw std::runtime_error(what);
}

TEST_P(Queue, AllReduceSumsBucketsInPlace) {
  int replicas = GetParam();
  comm::runThreadRanks(replicas, 10s, [&](comm::Communicator &dp) {
    Tensor a = gradient(dp.rank(), 0, 5), b = gradient(dp.rank(), 1, 7);
    DataParallelQueue queue(dp, DataParallelQueue::Reduction::AllReduce);
    queue.start({"a"}, {&a});
    queue.start({"b"}, {&b});
    queue.wait();
    expect(queue.takeStarted().size() == 2, "two names started");
    expect(queue.takeScattered().empty(), "an all-reduce scatters nothing");
    std::vector<float> av = a.toFloats(), bv = b.toFloats();
    for (int64_t i = 0; i < 5; ++i)
      expect(av[i] == summed(replicas, 0, i), "a not summed");
    for (int64_t i = 0; i < 7; ++i)
      expect(bv[i] == summed(replicas, 1, i), "b not summed");
  });
}

TEST_P(Queue, ReduceScatterKeepsEachReplicasPartOfEveryBucket) {
  int replicas = GetParam();
  comm::runThreadRanks(replicas, 10s, [&](comm::Communicator &dp) {
    int me = dp.rank();
    // Bucket 0 packs a (5) and b (7): 12 elements; bucket 1 is c (3),
    // fewer elements than some replicas' parts hold (padding).
    Tensor a = gradient(me, 0, 5), b = gradient(me, 1, 7),
           c = gradient(me, 2, 3);
    DataParallelQueue queue(dp, DataParallelQueue::Reduction::ReduceScatter);
    queue.start({"a", "b"}, {&a, &b});
    queue.start({"c"}, {&c});
    queue.wait();
    std::vector<ScatteredBucket> buckets = queue.takeScattered();
    expect(buckets.size() == 2, "two buckets");
    expect(buckets[0].names == std::vector<std::string>{"a", "b"} &&
               buckets[1].names == std::vector<std::string>{"c"},
           "bucket names in start order");
    // Element j of a bucket is in replica j / part's part.
    auto check = [&](const ScatteredBucket &bucket,
                     std::vector<std::pair<int, int64_t>> packed) {
      size_t part = (packed.size() + replicas - 1) / replicas;
      expect(bucket.mine.size() == part, "part size");
      for (size_t i = 0; i < part; ++i) {
        size_t j = size_t(me) * part + i;
        float want = j < packed.size()
                         ? summed(replicas, packed[j].first, packed[j].second)
                         : 0.0f;
        expect(bucket.mine[i] == want, "element " + std::to_string(j) +
                                           " of a bucket not summed");
      }
    };
    std::vector<std::pair<int, int64_t>> first, second;
    for (int64_t i = 0; i < 5; ++i)
      first.push_back({0, i});
    for (int64_t i = 0; i < 7; ++i)
      first.push_back({1, i});
    for (int64_t i = 0; i < 3; ++i)
      second.push_back({2, i});
    check(buckets[0], first);
    check(buckets[1], second);
    // The gradients themselves are left as they were.
    expect(a.toFloats()[4] == value(me, 0, 4), "a changed");
  });
}

// ZeRO-1's all-gather of updated weights: a weight's reader waits for the
// gather that writes it, and only for that one.
TEST_P(Queue, WeightGatherBlocksOnlyTheWeightsItWrites) {
  int replicas = GetParam();
  comm::runThreadRanks(replicas, 10s, [&](comm::Communicator &dp) {
    int me = dp.rank();
    std::vector<float> gathered(size_t(replicas), -1.0f);
    std::mutex mutex;
    std::condition_variable released;
    bool release = false;
    DataParallelQueue queue(dp, DataParallelQueue::Reduction::ReduceScatter);
    // The first gather holds the queue until the test releases it.
    queue.startWeightGather(
        {{"w"}, [&](comm::Communicator &comm) {
           std::unique_lock<std::mutex> lock(mutex);
           released.wait(lock, [&] { return release; });
           float mine = float(me + 1);
           comm.allGather(&mine, gathered.data(),
                          std::vector<size_t>(size_t(replicas), 1));
         }});
    // Not gathered: returns at once.
    queue.awaitWeight("other");
    std::thread releaser([&] {
      std::this_thread::sleep_for(50ms);
      std::lock_guard<std::mutex> lock(mutex);
      release = true;
      released.notify_all();
    });
    queue.awaitWeight("w");
    releaser.join();
    for (int r = 0; r < replicas; ++r)
      expect(gathered[size_t(r)] == float(r + 1),
             "w read before its gather wrote it");
    queue.wait();
  });
}

// A failed gather does not leave a reader waiting: it sees the failure.
TEST(QueueFailure, AwaitingAWeightWhoseGatherFailedThrows) {
  comm::runThreadRanks(1, 10s, [&](comm::Communicator &dp) {
    DataParallelQueue queue(dp, DataParallelQueue::Reduction::ReduceScatter);
    queue.startWeightGather({{"w"}, [](comm::Communicator &) {
                               throw std::runtime_error("link down");
                             }});
    queue.startWeightGather({{"v"}, [](comm::Communicator &) {}});
    EXPECT_THROW(queue.awaitWeight("v"), std::runtime_error);
    EXPECT_THROW(queue.wait(), std::runtime_error);
  });
}

INSTANTIATE_TEST_SUITE_P(Replicas, Queue, ::testing::Values(1, 2, 3));
} // namespace
