//===- Optimizer.h - AdamW and SGD over one rank's weight shards -*- C++ -*-===//
//
// The optimizer works on what the rank holds: each weight's shard and its
// gradient (laid out alike, ctx.grads), and state of the same layout, so
// optimizer memory is divided by tp like the weights. The only collective
// is the global gradient norm for clipping, where a weight every rank holds
// whole counts once, not once per rank. Gradients and moments are f32; a
// 16-bit program's weights are updated as f32 master copies and rounded.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_PROGRAM_OPTIMIZER_H
#define TPC_RUNTIME_PROGRAM_OPTIMIZER_H

#include "runtime/program/Ops.h"

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace tpc::program {

struct OptimizerOptions {
  bool adamw = true; ///< Else plain SGD.
  double lr = 1e-3, weightDecay = 0, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  /// Linear warm-up steps, then cosine decay to lr / 10 at `steps`.
  int64_t warmup = 0, steps = 1;
  /// Global gradient-norm clipping; 0 for none.
  double clip = 1.0;
};

/// What gradients are scaled by to clip their global `norm` to `clip`
/// (0: no clipping).
double clipScale(double clip, double norm);

/// The learning rate of step `step` (0-based).
double learningRate(const OptimizerOptions &options, int64_t step);

/// Sums f32 host tensors over `comm`'s ranks in one all-reduce of all of
/// them packed together (one bucket).
void allReduceTogether(comm::Communicator &comm,
                       const std::vector<Tensor *> &tensors);

/// ZeRO-1's unit: a bucket of gradients packed in `names` order, cut into
/// as many equal parts as there are dp replicas (the last padded with
/// zeros), and `mine`, the sum over the replicas of this replica's part.
struct ScatteredBucket {
  std::vector<std::string> names;
  std::vector<float> mine;
};

/// Reduce-scatters f32 host tensors `grads` (the gradients `names`) over
/// `dp` as one bucket.
ScatteredBucket reduceScatterTogether(comm::Communicator &dp,
                                      std::vector<std::string> names,
                                      const std::vector<Tensor *> &grads);

/// ZeRO-1: the all-gather over dp of one bucket's updated weights, which
/// writes them (`weights`, by name) into the weights the program reads.
struct WeightGather {
  std::vector<std::string> weights;
  std::function<void(comm::Communicator &dp)> run;
};

/// Frees a gradient's buffer (ZeRO-2): it holds zero elements until the
/// next tpc.accumulate_grad makes it anew.
void releaseGradient(Tensor &grad);

/// Whether the gradient of weight `name` is completed by a tp collective
/// after the backward pass (a partial sum under sequence parallelism, or
/// a weight some of whose elements several ranks hold; every tp rank
/// answers alike), so that it can only be reduce-scattered over dp after
/// that.
bool awaitsTpReduction(const RankContext &ctx, std::string_view name);

/// Sums the gradients that are partial sums over the ranks (norm scales
/// under sequence parallelism, RankContext::partialGrads) in one
/// all-reduce of all of them packed together.
void reducePartialGradients(RankContext &ctx);

/// Completes the gradients of weights whose shards overlap (KV heads
/// shared by several ranks when tp exceeds the KV heads): each sharing
/// rank computed its own query heads' part, and the gradient is their sum.
void sumSharedShards(RankContext &ctx);

/// The L2 norm of every weight's gradient over all ranks (a weight or a
/// KV head held by several ranks counts once).
double globalGradNorm(RankContext &ctx);

class Optimizer {
public:
  explicit Optimizer(OptimizerOptions options) : options(options) {}
  /// Updates every weight of `ctx` from its gradient, scaled by
  /// `gradScale` (clipping), at learning rate `lr`; zeroes the gradients.
  void step(RankContext &ctx, double lr, double gradScale);

  /// ZeRO-1 over the data-parallel replicas: `buckets` hold this
  /// replica's part of every gradient, summed over the replicas
  /// (reduceScatterTogether, every weight in one bucket exactly once).
  /// Computes the global gradient norm and updates the owned part with f32
  /// weights and moments held for it alone (optimizer memory and 16-bit
  /// programs' masters / dp). Clips to `clip` (0: none); returns the norm
  /// before clipping. A norm that is not finite is returned before
  /// anything is updated. The buckets must be the same every step.
  /// `gathers` receives the all-gathers of the updated weights, a bucket
  /// each: every replica runs them in the same order before the program
  /// reads those weights again (and before the next shardedStep).
  double shardedStep(RankContext &ctx, comm::Communicator &dp, int dpRank,
                     double lr, double clip,
                     const std::vector<ScatteredBucket> &buckets,
                     std::vector<WeightGather> &gathers);

private:
  /// The f32 values the optimizer updates for weight `name`: the weight's
  /// own storage when it is f32, else a master copy kept here (16-bit
  /// programs train f32 master weights and compute with rounded copies).
  float *masterOf(RankContext &ctx, const std::string &name);
  /// Rounds a 16-bit weight's master copy into the weight the program reads.
  void publish(RankContext &ctx, const std::string &name);
  /// One AdamW (or SGD) update of n values, decaying them by `decay`.
  void update(float *w, float *g, float *m1, float *m2, int64_t n,
              double lr, double gradScale, double decay);

  OptimizerOptions options;
  int64_t steps = 0;
  /// AdamW's first and second moments, per weight, laid out like it.
  std::map<std::string, std::vector<float>> m, v;
  /// f32 master weights of 16-bit programs.
  std::map<std::string, std::vector<float>> master;
  /// ZeRO-1: this replica's part of every bucket's f32 weights (a 16-bit
  /// program's masters: no whole master copy is kept) and their moments,
  /// bucket after bucket, and the buckets' weight names.
  std::vector<float> shardMaster, shardM, shardV;
  std::vector<std::vector<std::string>> shardBuckets;
};

} // namespace tpc::program

#endif // TPC_RUNTIME_PROGRAM_OPTIMIZER_H
