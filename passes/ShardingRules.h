//===- ShardingRules.h - per-op sharding rules as data ----------*- C++ -*-===//
//
// Each tpc op's sharding rule, in the einsum-like factor form of Shardy: the
// op's iteration space is a set of factors, and every operand and result
// dimension is one factor (or none). A matmul `[b, s, k] x [k, n] ->
// [b, s, n]` has factors b, s, n (parallel) and k (reduction: splitting it
// leaves each rank a partial sum). Splitting one factor over the mesh axis
// splits every dimension mapped to it.
//
// Rules say nothing about layer names or block shapes; the auto-sharding
// pass finds layouts for any graph of these ops from the rules alone.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_PASSES_SHARDINGRULES_H
#define TPC_PASSES_SHARDINGRULES_H

#include "mlir/IR/Operation.h"
#include "mlir/Support/LLVM.h"
#include "llvm/ADT/SmallVector.h"

#include <string>

namespace mlir::tpc {

enum class FactorKind {
  /// Splitting it splits the work; every rank computes its own slice.
  Parallel,
  /// Contracted: splitting it leaves each rank a partial sum of the result.
  Reduction,
  /// Needed whole by the op (a norm's hidden size, attention's sequence).
  Local,
  /// Split, the op combines the ranks' parts itself (its results do not
  /// have it): the vocabulary of the vocab-parallel cross-entropy, whose
  /// collectives run inside the op.
  CombinedByOp,
};

struct Factor {
  std::string name;
  FactorKind kind;
  /// The token dimension of the sequence, which only sequence parallelism
  /// may split.
  bool isSequence = false;
};

/// How one operand or result dimension maps onto the rule's factors, with
/// the granularity the op itself imposes on it.
struct DimFactor {
  int factor = -1;      ///< Index into the factors, -1 for none.
  int64_t unit = 1;     ///< Split only between whole units (heads).
  int64_t sections = 1; ///< The dimension holds this many factor slices.
  int64_t groups = 1;   ///< Each unit serves this many factor units (GQA).
};

struct ShardingRule {
  llvm::SmallVector<Factor> factors;
  llvm::SmallVector<llvm::SmallVector<DimFactor>> operands, results;
  /// Partial-sum operands give a partial-sum result (a + b).
  bool linearInOperands = false;

  int addFactor(llvm::StringRef name, FactorKind kind, bool isSequence = false);
};

/// The rule of `op`, or failure for ops that have none (weights, returns,
/// collectives): their layout is decided by their producers and users.
FailureOr<ShardingRule> getShardingRule(Operation *op);

} // namespace mlir::tpc

#endif // TPC_PASSES_SHARDINGRULES_H
