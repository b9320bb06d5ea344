//===- Regather.cpp - gather again in the backward pass -------------------===//
//
// A training step's backward pass reads forward values again; for an
// all-gather's result that means the whole gathered tensor lives across
// the step. Sharded copies are what sequence parallelism saves memory
// with, so the backward pass gathers them again (see Passes.td).
//
//===----------------------------------------------------------------------===//
#include "passes/Passes.h"

#include "dialects/tpc/TpcOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

namespace mlir::tpc {
#define GEN_PASS_DEF_REGATHER
#include "passes/Passes.h.inc"
} // namespace mlir::tpc

using namespace mlir;
using namespace mlir::tpc;

namespace {
struct RegatherPass : public mlir::tpc::impl::RegatherBase<RegatherPass> {
  void runOnOperation() override {
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (func.isExternal() || !func.getBody().hasOneBlock())
        continue;
      // Ops after the loss are the backward pass.
      Block &body = func.getBody().front();
      Operation *loss = nullptr;
      for (Operation &op : body)
        if (isa<CrossEntropyOp>(op)) {
          loss = &op;
          break;
        }
      if (!loss)
        continue;
      SmallVector<AllGatherOp> gathers;
      for (Operation &op : body) {
        if (&op == loss)
          break;
        if (auto gather = dyn_cast<AllGatherOp>(op))
          gathers.push_back(gather);
      }
      for (AllGatherOp gather : gathers) {
        SmallVector<OpOperand *> backwardUses;
        Operation *first = nullptr;
        for (OpOperand &use : gather.getResult().getUses()) {
          Operation *user = use.getOwner();
          if (!loss->isBeforeInBlock(user))
            continue;
          backwardUses.push_back(&use);
          if (!first || user->isBeforeInBlock(first))
            first = user;
        }
        // Gathered again only when the forward pass also reads it (else
        // the gather already sits where it is needed).
        if (backwardUses.empty() ||
            backwardUses.size() ==
                size_t(std::distance(gather.getResult().use_begin(),
                                     gather.getResult().use_end())))
          continue;
        OpBuilder b(first);
        Operation *again = b.clone(*gather.getOperation());
        for (OpOperand *use : backwardUses)
          use->set(again->getResult(0));
      }
    }
  }
};
} // namespace
