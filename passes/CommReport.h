//===- CommReport.h - what a partitioned plan costs -------------*- C++ -*-===//
//
// Reads a partitioned program and summarizes its plan per block and in
// total: collectives by kind with the bytes each rank sends, weight and
// activation bytes per rank, FLOPs per rank, and the forward time the
// alpha-beta model estimates over NVLink and over PCIe, with warnings where
// communication would dominate.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_PASSES_COMMREPORT_H
#define TPC_PASSES_COMMREPORT_H

#include "passes/MemoryPlan.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/raw_ostream.h"

#include <map>
#include <string>
#include <vector>

namespace mlir::tpc {

/// One interconnect the report estimates time for.
struct Link {
  std::string name;
  double bandwidth; ///< Bytes per second per direction.
  double latency;   ///< Seconds per collective.
};

struct ReportOptions {
  /// The partitioned function to report on; empty: @forward when the
  /// module has one partitioned, else its only partitioned function.
  std::string function;
  int64_t tokens = 4096;     ///< batch x sequence of the estimated pass.
  double peakFlops = 400e12; ///< Per rank.
  std::vector<Link> links = {{"NVLink", 450e9, 5e-6}, {"PCIe", 64e9, 10e-6}};

  // Decode programs (one token per sequence) are priced per generated
  // token: weights and KV cache read from memory, collectives by latency.
  int64_t decodeBatch = 1;       ///< Sequences decoding together.
  int64_t contextLength = 0;     ///< Positions cached; 0: the model's maximum.
  double hbmBandwidth = 3.35e12; ///< Bytes per second (H100 SXM).
  double memoryPerRank = 80.0 * (1ull << 30); ///< For the capacity figure.

  // Training steps: data-parallel replicas of the tp ranks.
  int64_t dp = 1;
  /// 1: optimizer state sharded over dp (ZeRO-1); 2: gradients too once
  /// reduced (ZeRO-2).
  int zeroStage = 0;
};

/// Collectives of one kind.
struct CollectiveStats {
  int64_t count = 0;
  double bytesPerToken = 0; ///< Sent by each rank, summed over the count.
  double staticBytes = 0;   ///< For tensors without a token dimension.
};

struct BlockReport {
  std::map<std::string, CollectiveStats> collectives; ///< By op name.
  double flopsPerToken = 0;                           ///< Per rank.
};

struct PlanReport {
  std::string function;
  std::string modelType;
  /// "f32", "bf16" or "f16".
  std::string elementType;
  int64_t ranks = 1;
  ReportOptions options;
  std::map<std::string, BlockReport> blocks; ///< By block scope.
  std::vector<std::string> blockOrder;       ///< Blocks in program order.
  BlockReport total;
  double weightBytesMax = 0, weightBytesMin = 0, weightBytesGlobal = 0;
  /// Every activation of the largest rank, as if none were freed.
  LiveBytes activationsKept;
  /// The largest rank's live activations at the program's peaks, with
  /// buffers freed at their last use (MemoryPlan::peaks).
  std::vector<LiveBytes> activationPeaks;
  /// KV-cache bytes per position of one sequence: the largest rank's, the
  /// smallest rank's, and the model's (all ranks' shards counted once).
  double kvBytesPerPositionMax = 0, kvBytesPerPositionMin = 0,
         kvBytesPerPositionGlobal = 0;
  /// Summed over the ranks: more than the model's when ranks share KV heads.
  double kvBytesPerPositionAllRanks = 0;
  /// A decode program: one token per sequence (ids [batch, 1]).
  bool decode = false;
  /// A training step (tpc-derive-training): its collectives before the
  /// loss (forward) and after it (backward), by kind.
  bool training = false;
  std::map<std::string, CollectiveStats> forwardCollectives,
      backwardCollectives;
  /// Gradients left as partial sums by the partitioner
  /// (`tpc.accumulate_grad ... partial`), summed by the runtime in one
  /// all-reduce after the backward pass (counted among the backward
  /// collectives), and their bytes per rank.
  int64_t partialGradients = 0;
  double partialGradientBytes = 0;
  /// tpc.reduce_gradients in the step (tpc-bucket-gradients): the dp
  /// all-reduces that start during the backward pass.
  int64_t gradientBuckets = 0;
  /// Training memory per rank beside the weights: f32 gradients laid out
  /// like the weights, and AdamW's two f32 moments.
  double gradientBytesMax = 0, optimizerBytesMax = 0;
  /// Bytes each rank sends per step reducing its gradients over the dp
  /// replicas (ring all-reduce of all of them).
  double dpGradientBytesSent() const;
  /// The model's maximum positions (tpc.max_positions), or 0.
  int64_t maxPositions = 0;
  std::vector<std::string> warnings;

  /// Estimated seconds of communication over `link` for one pass.
  double commTime(const Link &link) const;
  /// Estimated seconds of compute per rank for one pass.
  double computeTime() const;
  /// The largest rank's activation peak for the costed pass (options.tokens
  /// in one sequence; decode: one token for each of decodeBatch).
  double activationPeak() const;
  /// activationsKept for the costed pass.
  double activationKept() const;
  /// The batch and sequence length of the costed pass.
  std::pair<int64_t, int64_t> costedShape() const;
  /// Collectives that communicate (all but local slices) in one pass.
  int64_t collectiveCount() const;

  // Decode estimates, per generated token at options.decodeBatch sequences
  // with options.contextLength (or maxPositions) cached positions each.
  int64_t contextLength() const;
  /// Seconds a rank spends reading its weights and KV cache (or computing,
  /// when that takes longer) per step.
  double decodeComputeTime() const;
  /// Seconds of collectives per step over `link`.
  double decodeCommTime(const Link &link) const;
  /// The most cached tokens (batch x context) that fit in memoryPerRank
  /// beside the largest rank's weights.
  int64_t maxCachedTokens() const;
};

/// Summarizes the partitioned function `func` (a func.func marked
/// tpc.partitioned) of `module`; fails with a diagnostic otherwise.
FailureOr<PlanReport> buildPlanReport(ModuleOp module,
                                      const ReportOptions &options);

void printPlanReportText(const PlanReport &report, llvm::raw_ostream &os);
void printPlanReportJson(const PlanReport &report, llvm::raw_ostream &os);

} // namespace mlir::tpc

#endif // TPC_PASSES_COMMREPORT_H
