//===- SequenceParallel.cpp - norms and residuals on sequence shards ------===//
//
// Re-plans a sharded program with activations weighed before time: the
// weights keep their layouts (they act as pins) and every activation is
// chosen again, so that token-wise ops (norms, residual adds) move to
// sequence shards. Each all-reduce of the plan becomes a reduce-scatter
// along the sequence and an all-gather before the next op that needs the
// whole sequence.
//
//===----------------------------------------------------------------------===//
#include "passes/Passes.h"
#include "passes/Planner.h"

namespace mlir::tpc {
#define GEN_PASS_DEF_SEQUENCEPARALLEL
#include "passes/Passes.h.inc"
} // namespace mlir::tpc

using namespace mlir;
using namespace mlir::tpc;

namespace {
/// True when the function's token ids are [batch, 1].
bool isSingleTokenProgram(func::FuncOp func) {
  if (func.getNumArguments() == 0)
    return false;
  auto ids = dyn_cast<RankedTensorType>(func.getArgument(0).getType());
  return ids && ids.getRank() == 2 && ids.getDimSize(1) == 1;
}

struct SequenceParallelPass
    : public mlir::tpc::impl::SequenceParallelBase<SequenceParallelPass> {
  using SequenceParallelBase::SequenceParallelBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::optional<int64_t> ranks = lookupTpSize(module);
    if (!ranks) {
      module.emitError() << "tpc-sequence-parallel needs a sharded program "
                            "with mesh @mesh[\"tp\"]; run tpc-auto-shard first";
      return signalPassFailure();
    }
    CostModel model;
    model.ranks = *ranks;
    model.tokens = tokens;
    for (auto func : module.getOps<func::FuncOp>()) {
      if (func.isExternal())
        continue;
      if (func->hasAttr(TpcDialect::getPartitionedAttrName())) {
        func.emitError() << "tpc-sequence-parallel runs before tpc-partition";
        return signalPassFailure();
      }
      // Decode programs (one token per sequence) have no sequence to
      // split, and gain nothing from trading time for activation bytes.
      if (isSingleTokenProgram(func))
        continue;
      // Weights and caches keep their layouts; activations are chosen
      // again.
      func.walk([&](Operation *op) {
        if (!isa<StateOpInterface>(op))
          op->removeAttr(TpcDialect::getShardingAttrName());
      });
      planning::LayoutPlanner planner(func, model, /*sequenceParallel=*/true);
      if (failed(planner.plan()))
        return signalPassFailure();
      planner.annotate();
    }
  }
};
} // namespace
