//===- Train.cpp - the training loop of one rank --------------------------===//
#include "runtime/program/Train.h"

#include "runtime/comm/Faults.h"
#include "runtime/core/MemoryMeter.h"
#include "runtime/program/DataParallelQueue.h"

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <set>
#include <stdexcept>

using namespace tpc;
using namespace tpc::program;

namespace {
/// Sums every gradient over the data-parallel replicas (one bucket), but
/// those in `done` (already summed during the backward pass).
void reduceOverReplicas(RankContext &ctx, comm::Communicator &dp,
                        const std::set<std::string, std::less<>> &done = {}) {
  std::vector<Tensor *> grads;
  for (auto &[name, grad] : ctx.grads)
    if (!done.count(name))
      grads.push_back(&grad);
  if (!grads.empty())
    allReduceTogether(dp, grads);
}

/// TPC_DP_OVERLAP=0 reduces every gradient after the backward pass
/// instead of bucket by bucket during it (for comparison).
bool overlapEnabled() {
  const char *value = std::getenv("TPC_DP_OVERLAP");
  return !value || std::strcmp(value, "0") != 0;
}

/// Points ctx's `field` at a queue while in scope.
struct Attached {
  Attached(RankContext &ctx, DataParallelQueue *RankContext::*field,
           DataParallelQueue *queue)
      : ctx(ctx), field(field) {
    ctx.*field = queue;
  }
  ~Attached() { ctx.*field = nullptr; }
  RankContext &ctx;
  DataParallelQueue *RankContext::*field;
};

/// Puts ZeRO-1's weight gathers in the order a pass first reads their
/// weights (ctx.loadOrder, the same on every replica), so that the next
/// forward pass waits on the first bucket only, not the whole model.
void orderByFirstUse(const RankContext &ctx,
                     std::vector<WeightGather> &gathers) {
  std::map<std::string_view, size_t> position;
  for (size_t i = 0; i < ctx.loadOrder.size(); ++i)
    position.emplace(ctx.loadOrder[i], i);
  auto first = [&](const WeightGather &gather) {
    size_t earliest = ctx.loadOrder.size();
    for (const std::string &name : gather.weights)
      if (auto it = position.find(name); it != position.end())
        earliest = std::min(earliest, it->second);
    return earliest;
  };
  std::stable_sort(gathers.begin(), gathers.end(),
                   [&](const WeightGather &a, const WeightGather &b) {
                     return first(a) < first(b);
                   });
}

/// Whole tensors from every rank's shards laid out as the weights are.
void gatherWhole(RankContext &ctx, const std::map<std::string, Tensor, std::less<>> &shards,
                 std::map<std::string, std::vector<float>> &out,
                 std::map<std::string, std::vector<int64_t>> &shapes) {
  for (auto &[name, shard] : shards) {
    const RankContext::WeightInfo &info = ctx.weightInfo.at(name);
    Tensor whole = info.layout.dim >= 0 && ctx.size > 1
                       ? allGather(ctx, shard, info.layout,
                                   info.globalShape[info.layout.dim])
                       : shard;
    if (ctx.rank == 0) {
      out[name] = whole.toFloats();
      shapes[name] = info.globalShape;
    }
  }
}
} // namespace

TrainingResult tpc::program::train(RankContext &ctx, TrainingProgram program,
                                   const TrainingRequest &request) {
  using Clock = std::chrono::steady_clock;
  TrainingResult result;
  Optimizer optimizer(request.optimizer);
  ctx.trainable = true;
  ctx.seq = request.seqLen;
  Backend &backend = backendOf(ctx);
  // The mean over the global batch's tokens: d loss / d loss[b, s] =
  // 1 / tokens, so that summing the replicas' gradients gives the mean's.
  int64_t tokens = request.batch * request.seqLen;
  int64_t replicaBatch = request.batch / request.dpSize;
  int64_t firstSequence = request.dpRank * replicaBatch;
  // Gradient accumulation: the replica's part in micro-batches, each a
  // pass of the program whose gradients add into the same buffers.
  int64_t micro = request.microBatch > 0 ? request.microBatch : replicaBatch;
  Tensor dloss = Tensor::fromFloats(
      std::vector<float>(size_t(micro * request.seqLen), 1.0f / float(tokens)),
      {micro, request.seqLen}, DType::F32, Device::Host);
  if (backend.device() != Device::Host)
    dloss = backend.convert(dloss, DType::F32);
  bool sharded = request.zeroStage > 0 && request.dp && request.dpSize > 1;
  // ZeRO-2: a gradient's buffer is freed once its bucket is
  // reduce-scattered (but the first step's whole sums are kept for
  // --grads and --verify).
  bool shardGradients = sharded && request.zeroStage >= 2;
  // Gradient buckets (tpc.reduce_gradients) are summed over dp during the
  // last micro-batch's backward pass: all-reduced, or reduce-scattered
  // with ZeRO-1.
  // With ZeRO-1 the updated weights are all-gathered on the same queue,
  // bucket by bucket, during the next step's forward pass.
  std::optional<DataParallelQueue> queue;
  if (request.dp && request.dpSize > 1 && overlapEnabled())
    queue.emplace(*request.dp,
                  sharded ? DataParallelQueue::Reduction::ReduceScatter
                          : DataParallelQueue::Reduction::AllReduce);
  Attached gathering(ctx, &RankContext::weightQueue,
                     sharded && queue ? &*queue : nullptr);
  std::optional<ShuffledWindows> shuffled;
  if (request.shuffle)
    shuffled.emplace((int64_t(request.tokens->size()) - 1) / request.seqLen,
                     request.seed);
  // Activations of the passes (gradient buffers are made unmetered).
  auto meter = std::make_shared<MemoryMeter>();
  for (int64_t step = 0; step < request.steps; ++step) {
    auto start = Clock::now();
    comm::setPhase("training step " + std::to_string(step + 1));
    bool releaseGradients =
        shardGradients && !(step == 0 && request.keepFirstGrads);
    if (queue)
      queue->setReleaseGradients(releaseGradients);
    // Faults are injected by world rank: replica-major, tp rank within.
    comm::injectFault("pass", request.dpRank * ctx.size + ctx.rank);
    double loss = 0;
    for (int64_t first = 0; first < replicaBatch; first += micro) {
      Ids ids, targets;
      trainingBatch(*request.tokens, step, request.batch, request.seqLen, ids,
                    targets, firstSequence + first, micro,
                    shuffled ? &*shuffled : nullptr);
      bool lastMicroBatch = first + micro >= replicaBatch;
      Attached reducing(ctx, &RankContext::gradientQueue,
                        lastMicroBatch && queue ? &*queue : nullptr);
      Tensor losses;
      {
        MemoryMeter::Scope metered(meter);
        losses = program(ctx, ids, targets, dloss);
      }
      for (float l : losses.toFloats())
        loss += l;
    }
    // Before anything else uses the dp communicator.
    std::set<std::string, std::less<>> reducedDuringBackward;
    std::vector<ScatteredBucket> scattered;
    if (queue) {
      queue->wait();
      reducedDuringBackward = queue->takeStarted();
      scattered = queue->takeScattered();
    }
    if (request.dp && request.dpSize > 1) {
      float sum = float(loss);
      request.dp->allReduceSum(&sum, 1);
      loss = sum;
    }
    loss /= double(tokens);
    if (!std::isfinite(loss))
      throw std::runtime_error("step " + std::to_string(step + 1) +
                               ": the loss is " + std::to_string(loss) +
                               "; training stopped (lower --lr, or --clip)");
    auto optimizerStart = Clock::now();
    const OptimizerOptions &o = request.optimizer;
    double lr = learningRate(o, step);
    double norm;
    reducePartialGradients(ctx);
    sumSharedShards(ctx);
    if (sharded) {
      // The first step's gradients, for --grads and --verify, are summed
      // whole once; training itself reduce-scatters.
      if (step == 0 && request.keepFirstGrads) {
        std::map<std::string, Tensor, std::less<>> summed;
        for (auto &[name, grad] : ctx.grads)
          summed[name] = grad.to(Device::Host, DType::F32);
        std::swap(summed, ctx.grads);
        reduceOverReplicas(ctx, *request.dp);
        gatherWhole(ctx, ctx.grads, result.firstGrads, result.shapes);
        std::swap(summed, ctx.grads);
      }
      // The gradients no bucket took during the backward pass, in one
      // more.
      std::vector<std::string> rest;
      std::vector<Tensor *> restGrads;
      for (auto &[name, grad] : ctx.grads)
        if (!reducedDuringBackward.count(name)) {
          rest.push_back(name);
          restGrads.push_back(&grad);
        }
      if (!rest.empty())
        scattered.push_back(
            reduceScatterTogether(*request.dp, std::move(rest), restGrads));
      if (shardGradients)
        for (Tensor *grad : restGrads)
          releaseGradient(*grad);
      std::vector<WeightGather> gathers;
      norm = optimizer.shardedStep(ctx, *request.dp, request.dpRank, lr,
                                   o.clip, scattered, gathers);
      orderByFirstUse(ctx, gathers);
      for (WeightGather &gather : gathers) {
        if (queue)
          queue->startWeightGather(std::move(gather));
        else
          gather.run(*request.dp);
      }
    } else {
      if (request.dp && request.dpSize > 1)
        reduceOverReplicas(ctx, *request.dp, reducedDuringBackward);
      if (step == 0 && request.keepFirstGrads)
        gatherWhole(ctx, ctx.grads, result.firstGrads, result.shapes);
      norm = globalGradNorm(ctx);
    }
    if (!std::isfinite(norm))
      throw std::runtime_error("step " + std::to_string(step + 1) +
                               ": the gradient norm is " +
                               std::to_string(norm) +
                               "; training stopped (lower --lr, or --clip)");
    if (!sharded) {
      optimizer.step(ctx, lr, clipScale(o.clip, norm));
    }
    result.losses.push_back(loss);
    auto since = [&](Clock::time_point t) {
      return std::chrono::duration<double>(Clock::now() - t).count();
    };
    if (ctx.rank == 0 && request.dpRank == 0 && request.onStep)
      request.onStep(step, loss, norm, lr, since(start),
                     since(optimizerStart),
                     sharded && queue ? queue->takeWeightWaitSeconds() : -1);
  }
  result.activationPeak = meter->peak();
  // The last step's weight gathers.
  if (queue)
    queue->wait();
  if (request.keepWeights)
    gatherWhole(ctx, ctx.weights, result.weights, result.shapes);
  return result;
}
