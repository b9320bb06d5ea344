//===- GlooCommunicator.cpp - CPU collectives through Gloo ----------------===//
#include "runtime/comm/GlooCommunicator.h"

#include <gloo/allgatherv.h>
#include <gloo/allreduce.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/math.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/hash_store.h>
#include <gloo/rendezvous/prefix_store.h>
#include <gloo/transport/tcp/device.h>

#include "runtime/comm/Faults.h"

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

#include <algorithm>
#include <csignal>
#include <mutex>
#include <optional>
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

GlooCommunicator::GlooCommunicator(std::shared_ptr<gloo::Context> context,
                                   gloo::rendezvous::Store &store,
                                   std::chrono::milliseconds timeout)
    : context(std::move(context)), store(store), timeout(timeout) {}

std::unique_ptr<Communicator>
GlooCommunicator::split(int color, int rankInGroup, int groupSize) {
  // Every rank splits in the same order: the count names this split.
  gloo::rendezvous::PrefixStore prefixed(
      "split." + std::to_string(splits++) + "." + std::to_string(color),
      store);
  return connect(prefixed, rankInGroup, groupSize, timeout);
}

std::unique_ptr<GlooCommunicator>
GlooCommunicator::connect(gloo::rendezvous::Store &store, int rank, int size,
                          std::chrono::milliseconds timeout,
                          std::chrono::milliseconds connectTimeout) {
  // A write to a peer that has failed and closed its socket must be an
  // error on this rank, not a SIGPIPE that kills the process.
  static std::once_flag ignorePipe;
  std::call_once(ignorePipe, [] { std::signal(SIGPIPE, SIG_IGN); });
  gloo::transport::tcp::attr attr;
  attr.hostname = "127.0.0.1";
  auto device = gloo::transport::tcp::CreateDevice(attr);
  auto context = std::make_shared<gloo::rendezvous::Context>(rank, size);
  context->setTimeout(connectTimeout.count() > 0 ? connectTimeout : timeout);
  guarded("connect", rank, [&] { context->connectFullMesh(store, device); });
  context->setTimeout(timeout);
  return std::unique_ptr<GlooCommunicator>(
      new GlooCommunicator(std::move(context), store, timeout));
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
  // The sum of the whole buffer, then this rank's part. Gloo's
  // ReduceScatterHalvingDoubling would send half the bytes, but it moves a
  // rank's part to the front of its buffer with an overlapping memcpy
  // (undefined behaviour that ASan reports for uneven counts), so it is
  // not used; NCCL's reduce-scatter on GPUs is unaffected.
  std::vector<float> buffer(data, data + total);
  guarded("reduce_scatter", rank(), [&] {
    gloo::AllreduceOptions opts(context);
    opts.setOutput(buffer.data(), total);
    opts.setReduceFunction(
        static_cast<void (*)(void *, const void *, const void *, size_t)>(
            &gloo::sum<float>));
    gloo::allreduce(opts);
  });
  size_t offset =
      std::accumulate(counts.begin(), counts.begin() + rank(), size_t(0));
  std::copy(buffer.begin() + offset, buffer.begin() + offset + counts[rank()],
            out);
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

namespace {
/// What the rank threads of one run share. Held by every thread, so that a
/// thread abandoned because it never returns (a hung rank) keeps it alive.
struct ThreadRun {
  gloo::rendezvous::HashStore store;
  absl::Mutex mutex;
  int finished ABSL_GUARDED_BY(mutex) = 0;
  std::vector<bool> done ABSL_GUARDED_BY(mutex);
  std::vector<std::string> phases ABSL_GUARDED_BY(mutex);
  /// When the first rank failed.
  std::optional<absl::Time> firstFailure ABSL_GUARDED_BY(mutex);
  // The first failure that is not a collective failing because of a peer
  // is the cause; collective failures are reported only if nothing else
  // failed.
  int causeRank ABSL_GUARDED_BY(mutex) = -1;
  int consequenceRank ABSL_GUARDED_BY(mutex) = -1;
  std::string cause ABSL_GUARDED_BY(mutex), consequence ABSL_GUARDED_BY(mutex);
};
} // namespace

void tpc::comm::runThreadRanks(
    int size, std::chrono::milliseconds timeout,
    const std::function<void(Communicator &)> &body) {
  auto run = std::make_shared<ThreadRun>();
  {
    absl::MutexLock lock(&run->mutex);
    run->done.assign(size, false);
    run->phases.assign(size, "starting");
  }
  std::vector<std::thread> threads;
  for (int rank = 0; rank < size; ++rank)
    threads.emplace_back([run, &body, rank, size, timeout] {
      auto record = [&](const std::exception &e, bool isConsequence) {
        absl::MutexLock lock(&run->mutex);
        if (!run->firstFailure)
          run->firstFailure = absl::Now();
        int &slot = isConsequence ? run->consequenceRank : run->causeRank;
        if (slot < 0) {
          slot = rank;
          (isConsequence ? run->consequence : run->cause) =
              "rank " + std::to_string(rank) + " (" + phase() +
              "): " + e.what();
        }
      };
      observePhase([run, rank](const std::string &phase) {
        absl::MutexLock lock(&run->mutex);
        run->phases[rank] = phase;
      });
      // Outside the try: a failing rank records its error before its
      // connections close, so the cause is known by the time its peers'
      // collectives fail because of it.
      std::unique_ptr<GlooCommunicator> comm;
      try {
        setPhase("connecting");
        injectFault("join", rank);
        comm = GlooCommunicator::connect(run->store, rank, size, timeout);
        setPhase("running");
        body(*comm);
        // No rank tears its connections down while a peer still uses them.
        setPhase("finishing");
        comm->barrier();
      } catch (const CollectiveError &e) {
        record(e, /*isConsequence=*/true);
      } catch (const std::exception &e) {
        record(e, /*isConsequence=*/false);
      }
      comm.reset();
      observePhase(nullptr);
      absl::MutexLock lock(&run->mutex);
      run->done[rank] = true;
      ++run->finished;
    });

  // Wait for every rank. Once one has failed, the others get a second to
  // fail in turn (a peer closing its connections fails their collectives
  // at once; a rank waiting on a hung peer has already timed out): a rank
  // still running then hangs, and is left behind, named with what it was
  // doing.
  std::vector<int> hung;
  {
    absl::MutexLock lock(&run->mutex);
    auto allDone = [&]() ABSL_SHARED_LOCKS_REQUIRED(run->mutex) {
      return run->finished == size;
    };
    auto allDoneOrFailed = [&]() ABSL_SHARED_LOCKS_REQUIRED(run->mutex) {
      return run->finished == size || run->firstFailure.has_value();
    };
    run->mutex.Await(absl::Condition(&allDoneOrFailed));
    if (!allDone()) {
      // Half a second for the others to notice: the run ends within the
      // timeout plus one second of a fault, exit included.
      absl::Time deadline = *run->firstFailure + absl::Milliseconds(500);
      run->mutex.AwaitWithDeadline(absl::Condition(&allDone), deadline);
    }
    for (int rank = 0; rank < size; ++rank)
      if (!run->done[rank])
        hung.push_back(rank);
  }
  for (int rank = 0; rank < size; ++rank) {
    if (std::find(hung.begin(), hung.end(), rank) != hung.end())
      threads[rank].detach();
    else
      threads[rank].join();
  }
  absl::MutexLock lock(&run->mutex);
  std::string message = run->causeRank >= 0       ? run->cause
                        : run->consequenceRank >= 0 ? run->consequence
                                                    : "";
  if (!hung.empty()) {
    std::string names;
    for (int rank : hung)
      names += (names.empty() ? "rank " : ", rank ") + std::to_string(rank) +
               " (" + run->phases[rank] + ")";
    message += (message.empty() ? "" : "; ") + names + " did not stop " +
               "within half a second of the failure and " +
               (hung.size() > 1 ? "were" : "was") + " abandoned";
    throw AbandonedRanks(message);
  }
  if (!message.empty())
    throw std::runtime_error(message);
}
