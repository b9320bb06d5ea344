//===- CostModel.h - alpha-beta communication and compute times -*- C++ -*-===//
//
// Times of collectives and compute for one forward pass, by the model of
// DESIGN.md section 1: a collective costs `latency + bytes / bandwidth`,
// where a ring all-reduce of B bytes over n ranks moves 2(n-1)/n * B per
// rank and all-gather / reduce-scatter move (n-1)/n * B. Compute runs at
// `peakFlops`. Dynamic dimensions (batch and sequence) are costed at an
// assumed number of tokens.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_PASSES_COSTMODEL_H
#define TPC_PASSES_COSTMODEL_H

#include "mlir/IR/BuiltinTypes.h"

namespace mlir::tpc {

enum class CollectiveKind { AllReduce, AllGather, ReduceScatter };

struct CostModel {
  int64_t ranks = 1;
  double linkBandwidth = 450e9; ///< Bytes per second per direction.
  double linkLatency = 5e-6;    ///< Seconds per collective.
  double peakFlops = 400e12;    ///< Per rank.
  int64_t tokens = 4096;        ///< batch x sequence assumed for costing.

  /// Bytes each rank sends for a collective over a tensor of `bytes`.
  double bytesPerRank(CollectiveKind kind, double bytes) const;
  /// Seconds for a collective over a tensor of `bytes`.
  double collectiveTime(CollectiveKind kind, double bytes) const;
  /// Bytes of a value of type `type`, dynamic dimensions counted as one,
  /// except that a tensor with any dynamic dimension holds `tokens` rows.
  double bytes(RankedTensorType type) const;
  /// Elements of `type` per token (static dimensions only).
  static int64_t elementsPerToken(RankedTensorType type);
};

/// Bytes of one element of `type`.
int64_t elementBytes(Type type);

} // namespace mlir::tpc

#endif // TPC_PASSES_COSTMODEL_H
