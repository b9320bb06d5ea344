//===- Strategy.h - layouts over the tp axis and op strategies --*- C++ -*-===//
//
// The vocabulary shared by auto-sharding and partitioning for a 1-D mesh
// axis "tp": a value's Layout (whole, split along one dimension, or a
// partial sum) and an op's Strategy (replicate, split one factor of its
// sharding rule, or pass partial sums through), with the layouts a strategy
// asks of operands and gives to results.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_PASSES_STRATEGY_H
#define TPC_PASSES_STRATEGY_H

#include "dialects/tpc/TpcOps.h"
#include "passes/Granularity.h"
#include "passes/ShardingRules.h"
#include "runtime/sharding/Split.h"

namespace mlir::tpc {

/// The name of the mesh and of its one axis that tp programs use.
inline constexpr llvm::StringLiteral kMeshName = "mesh";
inline constexpr llvm::StringLiteral kTpAxis = "tp";

/// A value's layout over the tp axis.
struct Layout {
  int dim = -1;         ///< The split dimension, -1 when none.
  bool partial = false; ///< Each rank holds a partial sum.

  bool isReplicated() const { return dim < 0 && !partial; }
  bool operator==(const Layout &o) const {
    return dim == o.dim && partial == o.partial;
  }
  bool operator!=(const Layout &o) const { return !(*this == o); }
};

struct Strategy {
  enum Kind { Replicate, PassPartial, SplitFactor } kind = Replicate;
  int factor = -1; ///< For SplitFactor.

  bool operator==(const Strategy &o) const {
    return kind == o.kind && factor == o.factor;
  }
};

/// The layout `strategy` needs for operand `index`.
Layout requiredOperandLayout(const ShardingRule &rule, Strategy strategy,
                             unsigned index);
/// The layout `strategy` gives result `index`.
Layout resultLayout(const ShardingRule &rule, Strategy strategy,
                    unsigned index);
/// The strategy that gives `results` their layouts, or failure.
FailureOr<Strategy> inferStrategy(const ShardingRule &rule,
                                  ArrayRef<Layout> results);

/// `layout` of a value of `type` as an attribute on mesh @mesh, with the
/// split dimension's granularity.
ShardingAttr toShardingAttr(MLIRContext *context, Layout layout,
                            RankedTensorType type, Granularity granularity);
/// The layout `sharding` describes, or failure when it uses another mesh or
/// axis than @mesh / "tp" or splits more than one dimension.
FailureOr<Layout> toLayout(ShardingAttr sharding);

/// How dimension `dim` of a value of `type` with `sharding` is dealt out
/// over `ranks` (size is 0 when the dimension is dynamic).
::tpc::sharding::DimSplit dimSplit(ShardingAttr sharding, RankedTensorType type,
                                   unsigned dim, int64_t ranks);

/// The size of axis "tp" of the module's mesh @mesh, or nullopt when the
/// module has no such mesh.
std::optional<int64_t> lookupTpSize(ModuleOp module);

/// The sharding attribute on result `index` of `op`, or null.
ShardingAttr getResultSharding(Operation *op, unsigned index);
/// The sharding its producer gives `v`, or null (block arguments, values
/// without one).
ShardingAttr getSharding(Value v);
/// Sets the sharding attribute of all of `op`'s results.
void setResultShardings(Operation *op, ArrayRef<ShardingAttr> shardings);

/// The largest rank's shape of result `v` (tpc.max_local_shape: one array
/// for an op's single result, one per result for several), -1 where the
/// size is the run's; null where the op has none (the ranks' shapes agree).
DenseI64ArrayAttr getMaxLocalShape(Value v);

} // namespace mlir::tpc

#endif // TPC_PASSES_STRATEGY_H
