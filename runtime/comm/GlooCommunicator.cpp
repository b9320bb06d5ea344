//===- GlooCommunicator.cpp - CPU collectives through Gloo ----------------===//
#include "runtime/comm/GlooCommunicator.h"

#include <gloo/allgatherv.h>
#include <gloo/allreduce.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/math.h>
#include <gloo/reduce_scatter.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/hash_store.h>
#include <gloo/transport/tcp/device.h>

#include <algorithm>
#include <csignal>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>

using namespace tpc::comm;

namespace {
/// Runs one Gloo call, turning its exceptions into runtime_errors that name
/// the operation and the rank.
template <typename Fn> void guarded(const char *op, int rank, Fn &&fn) {
  try {
    fn();
  } catch (const std::exception &e) {
    throw CollectiveError(std::string(op) + " on rank " + std::to_string(rank) +
                          " failed: " + e.what());
  }
}
} // namespace

GlooCommunicator::GlooCommunicator(std::shared_ptr<gloo::Context> context)
    : context(std::move(context)) {}

std::unique_ptr<GlooCommunicator>
GlooCommunicator::connect(gloo::rendezvous::Store &store, int rank, int size,
                          std::chrono::milliseconds timeout) {
  // A write to a peer that has failed and closed its socket must be an
  // error on this rank, not a SIGPIPE that kills the process.
  static std::once_flag ignorePipe;
  std::call_once(ignorePipe, [] { std::signal(SIGPIPE, SIG_IGN); });
  gloo::transport::tcp::attr attr;
  attr.hostname = "127.0.0.1";
  auto device = gloo::transport::tcp::CreateDevice(attr);
  auto context = std::make_shared<gloo::rendezvous::Context>(rank, size);
  context->setTimeout(timeout);
  guarded("connect", rank, [&] { context->connectFullMesh(store, device); });
  return std::unique_ptr<GlooCommunicator>(
      new GlooCommunicator(std::move(context)));
}

int GlooCommunicator::rank() const { return context->rank; }
int GlooCommunicator::size() const { return context->size; }

void GlooCommunicator::allReduceSum(float *data, size_t count) {
  if (size() == 1 || count == 0)
    return;
  guarded("all_reduce", rank(), [&] {
    gloo::AllreduceOptions opts(context);
    opts.setOutput(data, count);
    opts.setReduceFunction(
        static_cast<void (*)(void *, const void *, const void *, size_t)>(
            &gloo::sum<float>));
    gloo::allreduce(opts);
  });
}

void GlooCommunicator::allGather(const float *in, float *out,
                                 const std::vector<size_t> &counts) {
  if (size() == 1) {
    std::copy(in, in + counts[0], out);
    return;
  }
  guarded("all_gather", rank(), [&] {
    gloo::AllgathervOptions opts(context);
    opts.setInput(const_cast<float *>(in), counts[rank()]);
    opts.setOutput(out, counts);
    gloo::allgatherv(opts);
  });
}

void GlooCommunicator::reduceScatterSum(const float *data, float *out,
                                        const std::vector<size_t> &counts) {
  size_t total = std::accumulate(counts.begin(), counts.end(), size_t(0));
  if (size() == 1) {
    std::copy(data, data + total, out);
    return;
  }
  // Gloo's reduce-scatter works in place on a full-size buffer and leaves
  // each rank's part of the sum at the start of the buffer.
  std::vector<float> buffer(data, data + total);
  guarded("reduce_scatter", rank(), [&] {
    std::vector<int> recvElems(counts.begin(), counts.end());
    gloo::ReduceScatterHalvingDoubling<float> algorithm(
        context, {buffer.data()}, static_cast<int>(total), recvElems);
    algorithm.run();
  });
  std::copy(buffer.begin(), buffer.begin() + counts[rank()], out);
}

void GlooCommunicator::broadcast(float *data, size_t count, int root) {
  if (size() == 1)
    return;
  guarded("broadcast", rank(), [&] {
    gloo::BroadcastOptions opts(context);
    opts.setOutput(data, count);
    opts.setRoot(root);
    gloo::broadcast(opts);
  });
}

void GlooCommunicator::barrier() {
  if (size() == 1)
    return;
  guarded("barrier", rank(), [&] {
    gloo::BarrierOptions opts(context);
    gloo::barrier(opts);
  });
}

void tpc::comm::runThreadRanks(
    int size, std::chrono::milliseconds timeout,
    const std::function<void(Communicator &)> &body) {
  gloo::rendezvous::HashStore store;
  std::mutex mutex;
  // The first failure that is not a collective failing because of a peer is
  // the cause; collective failures are reported only if nothing else failed.
  int causeRank = -1, consequenceRank = -1;
  std::string cause, consequence;
  auto record = [&](int rank, const std::exception &e, bool isConsequence) {
    std::lock_guard<std::mutex> lock(mutex);
    int &slot = isConsequence ? consequenceRank : causeRank;
    if (slot < 0) {
      slot = rank;
      (isConsequence ? consequence : cause) = e.what();
    }
  };
  std::vector<std::thread> threads;
  for (int rank = 0; rank < size; ++rank)
    threads.emplace_back([&, rank] {
      try {
        auto comm = GlooCommunicator::connect(store, rank, size, timeout);
        body(*comm);
        // No rank tears its connections down while a peer still uses them.
        comm->barrier();
      } catch (const CollectiveError &e) {
        record(rank, e, /*isConsequence=*/true);
      } catch (const std::exception &e) {
        record(rank, e, /*isConsequence=*/false);
      }
    });
  for (std::thread &t : threads)
    t.join();
  if (causeRank >= 0)
    throw std::runtime_error("rank " + std::to_string(causeRank) + ": " +
                             cause);
  if (consequenceRank >= 0)
    throw std::runtime_error("rank " + std::to_string(consequenceRank) + ": " +
                             consequence);
}
