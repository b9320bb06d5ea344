//===- Granularity.h - how finely each dimension may be split ---*- C++ -*-===//
//
// A split must respect every op a dimension flows through: attention splits
// whole heads, a fused [q|k|v] projection splits section by section, grouped
// KV heads follow their query heads. This analysis carries those
// constraints along the sharding rules' factors to a fixed point, so that
// the weight feeding a fused projection learns it has 3 sections of whole
// heads.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_PASSES_GRANULARITY_H
#define TPC_PASSES_GRANULARITY_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/DenseMap.h"

namespace mlir::tpc {

/// The granularity of one tensor dimension (see #tpc.dim).
struct Granularity {
  int64_t unit = 1;
  int64_t sections = 1;
  int64_t groups = 1;
  /// False when two ops demand incompatible sections or groups.
  bool consistent = true;

  bool operator==(const Granularity &o) const {
    return unit == o.unit && sections == o.sections && groups == o.groups &&
           consistent == o.consistent;
  }
};

class GranularityAnalysis {
public:
  explicit GranularityAnalysis(func::FuncOp func);

  /// The granularity of dimension `dim` of `value`.
  Granularity get(Value value, unsigned dim) const;

private:
  /// Sections and groups are 0 while unknown, 1 once known to be plain.
  llvm::DenseMap<std::pair<Value, unsigned>, Granularity> dims;
};

} // namespace mlir::tpc

#endif // TPC_PASSES_GRANULARITY_H
