//===- Planner.h - the layout search behind auto-sharding -------*- C++ -*-===//
//
// Every op with a sharding rule picks a strategy (replicate, split one
// factor, or pass partial sums through); every weight picks a layout. The
// plan minimizes, lexicographically, per-rank bytes of weight matrices,
// (with sequence parallelism) per-rank activation bytes, and the estimated
// forward time (compute + the collectives that mismatched layouts force).
// A greedy pass in program order gives a start; local search then moves
// ops, with their weights, their elementwise followers and tied users,
// while the total falls; restarts cover the layouts of shared weights.
//
// Used by tpc-auto-shard and tpc-sequence-parallel.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_PASSES_PLANNER_H
#define TPC_PASSES_PLANNER_H

#include "passes/CostModel.h"
#include "passes/Granularity.h"
#include "passes/ShardingRules.h"
#include "passes/Strategy.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/DenseSet.h"

namespace mlir::tpc::planning {

/// Per-rank bytes of weight matrices, then seconds, compared
/// lexicographically: splitting a matrix always wins, while vectors (biases,
/// norm scales) are split only where that costs no time.
/// With sequence parallelism, per-rank activation bytes come between the
/// two: token-wise values then prefer sequence shards.
struct Cost {
  double memory = 0, activations = 0, time = 0;
  Cost &operator+=(const Cost &o) {
    memory += o.memory;
    activations += o.activations;
    time += o.time;
    return *this;
  }
  bool lessThan(const Cost &o, double memoryTolerance) const {
    if (memory < o.memory - memoryTolerance)
      return true;
    if (memory > o.memory + memoryTolerance)
      return false;
    if (activations < o.activations - memoryTolerance)
      return true;
    if (activations > o.activations + memoryTolerance)
      return false;
    return time < o.time * (1 - 1e-9) - 1e-15;
  }
};

inline constexpr double kInfinity = 1e30;
inline constexpr double kHbmBandwidth = 3.35e12; // bytes/s, for reading weights

/// Weight memory that the plan weighs first: matrices only.
inline bool countsForMemory(Value weight) {
  return cast<RankedTensorType>(weight.getType()).getRank() >= 2;
}

class LayoutPlanner {
public:
  LayoutPlanner(func::FuncOp func, const CostModel &model,
                bool sequenceParallel)
      : func(func), model(model), sequenceParallel(sequenceParallel),
        granularity(func) {}

  LogicalResult plan();
  void annotate();
  /// Warns where two pins force a collective between them.
  void reportPinConflicts();

private:
  struct Node {
    Operation *op;
    ShardingRule rule;
    SmallVector<Strategy> candidates;
    Strategy chosen;
  };

  bool dimSplittable(Value v, unsigned d, bool isSequence) const;
  std::string splittableDegrees(Value v, unsigned d) const;
  SmallVector<Strategy> candidatesOf(const ShardingRule &rule, Operation *op);
  SmallVector<Layout> weightCandidates(StateOpInterface weight) const;
  LogicalResult applyPins();

  Cost nodeCost(const Node &node) const;
  Cost weightCost(StateOpInterface weight) const;
  /// What converting `v` costs: once for each distinct layout its users
  /// need, as the partitioner converts a value once per layout.
  Cost valueCost(Value v) const;
  /// The layout `user` needs for its operand `index`.
  Layout requiredLayout(Operation *user, unsigned index) const;
  Cost reshard(Value v, Layout to) const;
  /// The memory held and the time taken converting `v` from `from` to `to`.
  Cost conversionCost(Value v, Layout from, Layout to) const;
  double computeTime(const Node &node) const;
  double perRankBytes(Value v, Layout layout) const;
  /// The memory a weight in `layout` counts for in the plan.
  double memoryCost(Value weight, Layout layout) const;

  void setStrategy(Node &node, Strategy s);
  /// Tries every node of `moves` with its strategy, and their weights laid
  /// out as the strategies ask; keeps the move when the total cost falls.
  bool tryMove(ArrayRef<std::pair<Node *, Strategy>> moves);
  bool tryWeightMove(StateOpInterface weight, Layout layout);
  /// `node` moved to `s`, with the elementwise ops downstream of it (up to
  /// a few steps) moved to the strategy that keeps their layout in step, so
  /// that a residual stream can change layout in one move.
  SmallVector<std::pair<Node *, Strategy>> withFollowers(Node &node,
                                                         Strategy s);
  Cost localCost(ArrayRef<Operation *> ops) const;
  /// The cost of the whole plan.
  Cost totalCost() const;
  /// Greedy start, then local search, from the current pins.
  void search();

  func::FuncOp func;
  const CostModel &model;
  bool sequenceParallel;
  GranularityAnalysis granularity;

  std::vector<Node> nodes;
  DenseMap<Operation *, size_t> nodeIndex;
  SmallVector<StateOpInterface> weights;
  DenseMap<Value, Layout> layouts;
  DenseSet<Operation *> pinned;
  DenseMap<Operation *, Layout> pinnedWeights;
  /// Bytes below which a memory difference is rounding.
  double memoryTolerance = 0.5;
};

inline int64_t dimSize(Value v, unsigned d) {
  return cast<RankedTensorType>(v.getType()).getDimSize(d);
}

inline RankedTensorType typeOf(Value v) {
  return cast<RankedTensorType>(v.getType());
}

} // namespace mlir::tpc::planning

#endif // TPC_PASSES_PLANNER_H
