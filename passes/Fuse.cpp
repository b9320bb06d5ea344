//===- Fuse.cpp - fuse the ops of a partitioned program -------------------===//
//
// Rewrites pairs of ops that each read and write a whole activation into
// one op that does both in one pass over memory (one kernel on every
// backend):
//   - tpc.silu whose only reader is a tpc.mul (SwiGLU's gating):
//     tpc.silu_mul, silu(gate) * up in one pass (preferred to the next:
//     it saves the whole pass over the gate that an epilogue still makes);
//   - tpc.linear followed by tpc.gelu / tpc.silu (its only user), when the
//     linear's result is not a partial sum: the activation becomes the
//     linear's epilogue (`activation = gelu`);
//   - tpc.add whose sum feeds a tpc.layer_norm / tpc.rms_norm:
//     tpc.add_layer_norm / tpc.add_rms_norm, which return the sum (the
//     residual stream) and its normalization;
//   - tpc.embedding_grad (cut to the rank's rows by a tpc.all_slice or
//     not) whose table only a tpc.accumulate_grad reads:
//     tpc.accumulate_embedding_grad, the rows scatter-added into the
//     gradient buffer (a step's tokens name a few rows of a 50K-row
//     table: no dense table is zero-filled and added);
//   - tpc.linear_weight_grad that only a tpc.accumulate_grad reads:
//     tpc.accumulate_linear_weight_grad, whose GEMM adds into the
//     gradient buffer (no dW written and added in another pass).
// Runs after tpc-partition: only then is it known which results are
// partial sums, and the fused ops have no sharding rules of their own.
//
//===----------------------------------------------------------------------===//
#include "passes/Passes.h"

#include "dialects/tpc/TpcDialect.h"
#include "dialects/tpc/TpcOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

namespace mlir::tpc {
#define GEN_PASS_DEF_FUSE
#include "passes/Passes.h.inc"
} // namespace mlir::tpc

using namespace mlir;
using namespace mlir::tpc;

namespace {
bool isPartial(Operation *op) {
  auto sharding =
      op->getAttrOfType<ShardingAttr>(TpcDialect::getShardingAttrName());
  return sharding && !sharding.getPartial().empty();
}

/// The tpc.mul that is `silu`'s only reader, if any.
MulOp gatingMul(SiluOp silu) {
  if (!silu->hasOneUse())
    return nullptr;
  return dyn_cast<MulOp>(*silu->user_begin());
}

/// mul(silu(gate), up) (either order) -> silu_mul(gate, up).
bool fuseSiluMul(Operation *op) {
  auto mul = dyn_cast<MulOp>(op);
  if (!mul || isPartial(mul))
    return false;
  for (unsigned i = 0; i < 2; ++i) {
    auto silu = mul->getOperand(i).getDefiningOp<SiluOp>();
    if (!silu || gatingMul(silu) != mul || isPartial(silu) ||
        silu.getType() != mul.getType())
      continue;
    OpBuilder b(mul);
    Value fused = SiluMulOp::create(b, mul.getLoc(), mul.getType(),
                                    silu.getInput(), mul->getOperand(1 - i));
    if (Attribute sharding =
            mul->getAttr(TpcDialect::getShardingAttrName()))
      fused.getDefiningOp()->setAttr(TpcDialect::getShardingAttrName(),
                                     sharding);
    mul.getResult().replaceAllUsesWith(fused);
    mul->erase();
    silu->erase();
    return true;
  }
  return false;
}

/// linear -> gelu/silu: the linear applies the activation itself.
bool fuseActivation(Operation *act) {
  std::optional<Activation> kind;
  if (isa<GeluOp>(act))
    kind = Activation::Gelu;
  else if (auto silu = dyn_cast<SiluOp>(act)) {
    if (gatingMul(silu) && !isPartial(gatingMul(silu)))
      return false; // tpc.silu_mul takes it
    kind = Activation::Silu;
  }
  else
    return false;
  auto linear = act->getOperand(0).getDefiningOp<LinearOp>();
  if (!linear || !linear->hasOneUse() || linear.getActivation() ||
      isPartial(linear) || isPartial(act) ||
      linear.getType() != act->getResult(0).getType())
    return false;
  linear.setActivationAttr(ActivationAttr::get(act->getContext(), *kind));
  act->getResult(0).replaceAllUsesWith(linear.getResult());
  act->erase();
  return true;
}

/// add -> norm: one op returns the sum and its normalization.
bool fuseAddNorm(Operation *norm) {
  if (!isa<LayerNormOp, RmsNormOp>(norm))
    return false;
  auto add = norm->getOperand(0).getDefiningOp<AddOp>();
  if (!add || isPartial(add) || isPartial(norm) ||
      add.getType() != norm->getResult(0).getType() ||
      add->getBlock() != norm->getBlock())
    return false;
  // The fused op stands where the norm stood: the sum's other readers
  // must come after it.
  for (Operation *user : add->getUsers())
    if (user != norm && !norm->isBeforeInBlock(user))
      return false;
  OpBuilder b(norm);
  Operation *fused;
  if (auto layer = dyn_cast<LayerNormOp>(norm))
    fused = AddLayerNormOp::create(b, norm->getLoc(), add.getType(),
                                   add.getType(), add.getLhs(), add.getRhs(),
                                   layer.getScale(), layer.getShift(),
                                   layer.getEpsilonAttr());
  else
    fused = AddRmsNormOp::create(
        b, norm->getLoc(), add.getType(), add.getType(), add.getLhs(),
        add.getRhs(), cast<RmsNormOp>(norm).getScale(),
        cast<RmsNormOp>(norm).getEpsilonAttr());
  Attribute addSharding = add->getAttr(TpcDialect::getShardingAttrName());
  Attribute normSharding = norm->getAttr(TpcDialect::getShardingAttrName());
  if (addSharding && normSharding)
    fused->setAttr(TpcDialect::getShardingAttrName(),
                   b.getArrayAttr({addSharding, normSharding}));
  norm->getResult(0).replaceAllUsesWith(fused->getResult(1));
  add->getResult(0).replaceAllUsesWith(fused->getResult(0));
  norm->erase();
  add->erase();
  return true;
}

/// accumulate_grad(table, embedding_grad(grad, ids)), the table's rows
/// possibly cut to the rank's by an all_slice: the rows are added into the
/// gradient buffer where they belong, with no dense table in between.
bool fuseEmbeddingGrad(Operation *op) {
  auto accumulate = dyn_cast<AccumulateGradOp>(op);
  if (!accumulate)
    return false;
  Value table = accumulate.getGrad();
  auto slice = table.getDefiningOp<AllSliceOp>();
  if (slice) {
    if (slice.getDim() != 0 || !slice->hasOneUse())
      return false;
    table = slice.getInput();
  }
  auto grad = table.getDefiningOp<EmbeddingGradOp>();
  if (!grad || !grad->hasOneUse() || (slice && isPartial(grad)))
    return false;
  OpBuilder b(accumulate);
  AccumulateEmbeddingGradOp::create(
      b, accumulate.getLoc(), accumulate.getWeight(), grad.getGrad(),
      grad.getIds(), grad.getVocabAttr(), accumulate.getPartialAttr());
  accumulate->erase();
  if (slice)
    slice->erase();
  grad->erase();
  return true;
}

/// accumulate_grad(w, linear_weight_grad(x, dy)): the GEMM adds into the
/// gradient buffer.
bool fuseLinearWeightGrad(Operation *op) {
  auto accumulate = dyn_cast<AccumulateGradOp>(op);
  if (!accumulate)
    return false;
  auto grad = accumulate.getGrad().getDefiningOp<LinearWeightGradOp>();
  if (!grad || !grad->hasOneUse())
    return false;
  OpBuilder b(accumulate);
  AccumulateLinearWeightGradOp::create(
      b, accumulate.getLoc(), accumulate.getWeight(), grad.getInput(),
      grad.getGrad(), grad.getLayoutAttr(), accumulate.getPartialAttr());
  accumulate->erase();
  grad->erase();
  return true;
}

struct FusePass : public mlir::tpc::impl::FuseBase<FusePass> {
  void runOnOperation() override {
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (func.isExternal() ||
          !func->hasAttr(TpcDialect::getPartitionedAttrName()))
        continue;
      for (Operation &op :
           llvm::make_early_inc_range(func.getBody().front()))
        if (!fuseSiluMul(&op) && !fuseActivation(&op) && !fuseAddNorm(&op) &&
            !fuseEmbeddingGrad(&op))
          fuseLinearWeightGrad(&op);
    }
  }
};
} // namespace
