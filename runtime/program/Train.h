//===- Train.h - the training loop of one rank ------------------*- C++ -*-===//
//
// Runs a compiled training step (tpc-compile --train) over windows of a
// token file: every rank takes the same batch, the step's collectives keep
// the ranks together, and the optimizer updates each rank's shards. The
// loss is the mean next-token cross-entropy over the batch's tokens.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_PROGRAM_TRAIN_H
#define TPC_RUNTIME_PROGRAM_TRAIN_H

#include "runtime/comm/Communicator.h"
#include "runtime/program/Optimizer.h"
#include "runtime/program/TrainingData.h"

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace tpc::program {

/// ids, next-token targets [batch, seq], the loss's gradient per position
/// -> per-position losses.
using TrainingProgram = Tensor (*)(RankContext &, Ids, Ids, Tensor);

struct TrainingRequest {
  const std::vector<int32_t> *tokens = nullptr;
  /// `batch` is the global batch: data-parallel replica d of `dpSize`
  /// takes its d-th part.
  int64_t steps = 1, batch = 1, seqLen = 1;
  comm::Communicator *dp = nullptr;
  int dpRank = 0, dpSize = 1;
  /// ZeRO's stage: 1, optimizer state sharded over the dp replicas; 2, and
  /// each gradient bucket's buffers freed once it is reduce-scattered.
  int zeroStage = 0;
  /// Sequences per pass of the program (gradient accumulation over the
  /// replica's part of the batch); 0: all of them in one pass.
  int64_t microBatch = 0;
  /// Take the windows in a random order drawn from `seed` (else in order).
  bool shuffle = false;
  uint64_t seed = 0;
  OptimizerOptions optimizer;
  /// Keep the first step's gradients and the final weights, gathered whole.
  bool keepFirstGrads = false, keepWeights = false;
  /// Called on rank 0 after each step: its seconds in all, in the
  /// optimizer (gradient norm and update), and spent by its passes waiting
  /// for ZeRO-1's weight all-gathers (-1 when they do not overlap them).
  std::function<void(int64_t step, double loss, double gradNorm, double lr,
                     double seconds, double optimizerSeconds,
                     double gatherWaitSeconds)>
      onStep;
};

struct TrainingResult {
  std::vector<double> losses;
  /// The most bytes of activations this rank held during a pass (forward
  /// and backward), over every step: tensors the program allocates,
  /// gradient buffers, weights and optimizer state excluded. The plan
  /// report's training activation peak is the compiler's figure for it.
  int64_t activationPeak = 0;
  /// Whole tensors by checkpoint name, with their shapes (rank 0).
  std::map<std::string, std::vector<float>> firstGrads, weights;
  std::map<std::string, std::vector<int64_t>> shapes;
};

/// Trains on this rank (a tp rank of data-parallel replica
/// request.dpRank). Throws std::runtime_error when the loss is not finite,
/// naming the step.
TrainingResult train(RankContext &ctx, TrainingProgram step,
                     const TrainingRequest &request);

} // namespace tpc::program

#endif // TPC_RUNTIME_PROGRAM_TRAIN_H
