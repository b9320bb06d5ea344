//===- AutoShard.cpp - choose a tensor-parallel layout for every value ----===//
//
// Adds the mesh @mesh ["tp" = N] and lets the layout planner choose a layout
// for every value of every function (see Planner.h).
//
//===----------------------------------------------------------------------===//
#include "passes/Passes.h"
#include "passes/Planner.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

namespace mlir::tpc {
#define GEN_PASS_DEF_AUTOSHARD
#include "passes/Passes.h.inc"
} // namespace mlir::tpc

using namespace mlir;
using namespace mlir::tpc;

//===----------------------------------------------------------------------===//
// The pass
//===----------------------------------------------------------------------===//

namespace {
struct AutoShardPass : public mlir::tpc::impl::AutoShardBase<AutoShardPass> {
  using AutoShardBase::AutoShardBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (tp < 1) {
      module.emitError() << "tp must be >= 1, got " << static_cast<int64_t>(tp);
      return signalPassFailure();
    }
    // One mesh @mesh with axis "tp": reuse the module's or add it.
    auto mesh = SymbolTable::lookupSymbolIn(module, kMeshName);
    if (auto meshOp = dyn_cast_or_null<MeshOp>(mesh)) {
      std::optional<int64_t> size = meshOp.getAxisSize(kTpAxis);
      if (!size || meshOp.getAxes().size() != 1 || *size != tp) {
        meshOp.emitError() << "auto-sharding needs mesh @mesh to be [\"tp\" = "
                           << static_cast<int64_t>(tp) << "]";
        return signalPassFailure();
      }
    } else if (mesh) {
      mesh->emitError() << "symbol @mesh must be a tpc.mesh";
      return signalPassFailure();
    } else {
      OpBuilder b = OpBuilder::atBlockBegin(module.getBody());
      MeshOp::create(b, module.getLoc(), b.getStringAttr(kMeshName),
                     b.getStrArrayAttr({kTpAxis}),
                     b.getDenseI64ArrayAttr({tp}));
    }

    CostModel model;
    model.ranks = tp;
    model.linkBandwidth = linkBandwidthGBps * 1e9;
    model.linkLatency = linkLatencyUs * 1e-6;
    model.peakFlops = peakTflops * 1e12;
    model.tokens = tokens;
    // State (weights, KV caches) is held once per rank for every function
    // of the module: a name laid out by an earlier function is pinned to
    // that layout in the later ones (prefill and decode share forward's
    // weights, decode reads the caches prefill filled).
    llvm::StringMap<ShardingAttr> stateLayouts;
    for (auto func : module.getOps<func::FuncOp>()) {
      if (func.isExternal())
        continue;
      func.walk([&](StateOpInterface state) {
        auto it = stateLayouts.find(state.getStateName());
        if (it != stateLayouts.end() && !getResultSharding(state, 0))
          setResultShardings(state, {it->second});
      });
      planning::LayoutPlanner planner(func, model, sequenceParallel);
      if (failed(planner.plan()))
        return signalPassFailure();
      planner.reportPinConflicts();
      planner.annotate();
      func.walk([&](StateOpInterface state) {
        stateLayouts.try_emplace(state.getStateName(),
                                 getResultSharding(state, 0));
      });
    }
  }
};
} // namespace
