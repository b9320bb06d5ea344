//===- PlanMemory.cpp - free activations at their last use ----------------===//
//
// Inserts tpc.release after the last use of every activation of each
// partitioned function (see passes/MemoryPlan.h for what is live where).
//
//===----------------------------------------------------------------------===//
#include "passes/MemoryPlan.h"
#include "passes/Passes.h"

#include "dialects/tpc/TpcDialect.h"
#include "dialects/tpc/TpcOps.h"

#include "mlir/IR/Builders.h"

namespace mlir::tpc {
#define GEN_PASS_DEF_PLANMEMORY
#include "passes/Passes.h.inc"
} // namespace mlir::tpc

using namespace mlir;
using namespace mlir::tpc;

namespace {
struct PlanMemoryPass
    : public mlir::tpc::impl::PlanMemoryBase<PlanMemoryPass> {
  void runOnOperation() override {
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (func.isExternal() ||
          !func->hasAttr(TpcDialect::getPartitionedAttrName()))
        continue;
      if (!func.getBody().hasOneBlock()) {
        func.emitError() << "tpc-plan-memory needs a function of one block";
        return signalPassFailure();
      }
      // Planned again from scratch: earlier releases would read as uses.
      for (auto release :
           llvm::make_early_inc_range(func.getOps<ReleaseOp>()))
        release.erase();
      MemoryPlan plan = planMemory(func);
      for (auto &[op, dead] : plan.deaths) {
        OpBuilder b(op->getContext());
        b.setInsertionPointAfter(op);
        ReleaseOp::create(b, op->getLoc(), dead);
      }
    }
  }
};
} // namespace
