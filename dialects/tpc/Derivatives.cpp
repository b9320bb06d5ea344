//===- Derivatives.cpp - each tpc op's reverse-mode derivative rule -------===//
//
// DifferentiableOpInterface for the forward ops: given the gradients of an
// op's results, the ops that compute the gradients of its operands. Rules
// only build tpc ops on global types; how they are split over ranks, and
// which collectives the split needs, is the planner's business (for
// example linear's input gradient is a linear with the weight read the
// other way round, so a column-split weight makes it a partial sum that
// the partitioner all-reduces: Megatron's conjugate collective).
//
//===----------------------------------------------------------------------===//
#include "dialects/tpc/TpcOps.h"

#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace mlir::tpc;

namespace {
WeightLayout transposed(WeightLayout layout) {
  return layout == WeightLayout::InOut ? WeightLayout::OutIn
                                       : WeightLayout::InOut;
}

/// The gradient of a result, or failure when the rules need one that is
/// missing (a caller passes null only for results nothing depends on).
FailureOr<Value> required(Operation *op, ArrayRef<Value> resultGrads,
                          unsigned index) {
  if (resultGrads[index])
    return resultGrads[index];
  return op->emitOpError() << "needs the gradient of result #" << index
                           << " to differentiate";
}
} // namespace

LogicalResult EmbeddingOp::buildGradients(OpBuilder &b,
                                          ArrayRef<Value> resultGrads,
                                          SmallVectorImpl<Value> &grads) {
  // d table = rows of the result's gradient scatter-added by id.
  RankedTensorType table = getTable().getType();
  grads.push_back(EmbeddingGradOp::create(b, getLoc(), table, resultGrads[0],
                                          getIds(), table.getDimSize(0)));
  grads.push_back(nullptr); // ids
  return success();
}

LogicalResult LinearOp::buildGradients(OpBuilder &b,
                                       ArrayRef<Value> resultGrads,
                                       SmallVectorImpl<Value> &grads) {
  if (getActivation())
    return emitOpError() << "with a fused activation has no derivative rule; "
                            "differentiate before tpc-fuse";
  Value dy = resultGrads[0];
  // dx = dy W^T: a linear reading the same weight the other way round.
  grads.push_back(LinearOp::create(b, getLoc(), getInput().getType(), dy,
                                   getWeight(), Value(),
                                   transposed(getLayout()), nullptr));
  grads.push_back(LinearWeightGradOp::create(
      b, getLoc(), getWeight().getType(), getInput(), dy, getLayout()));
  if (getBias())
    grads.push_back(
        SumRowsOp::create(b, getLoc(), getBias().getType(), dy));
  return success();
}

LogicalResult SplitOp::buildGradients(OpBuilder &b, ArrayRef<Value> resultGrads,
                                      SmallVectorImpl<Value> &grads) {
  SmallVector<Value> pieces;
  for (unsigned i = 0; i < getNumResults(); ++i) {
    FailureOr<Value> piece = required(*this, resultGrads, i);
    if (failed(piece))
      return failure();
    pieces.push_back(*piece);
  }
  grads.push_back(
      ConcatOp::create(b, getLoc(), getInput().getType(), pieces));
  return success();
}

LogicalResult AddOp::buildGradients(OpBuilder &, ArrayRef<Value> resultGrads,
                                    SmallVectorImpl<Value> &grads) {
  grads.append({resultGrads[0], resultGrads[0]});
  return success();
}

LogicalResult MulOp::buildGradients(OpBuilder &b, ArrayRef<Value> resultGrads,
                                    SmallVectorImpl<Value> &grads) {
  Value dy = resultGrads[0];
  grads.push_back(MulOp::create(b, getLoc(), dy.getType(), dy, getRhs()));
  grads.push_back(MulOp::create(b, getLoc(), dy.getType(), dy, getLhs()));
  return success();
}

LogicalResult GeluOp::buildGradients(OpBuilder &b, ArrayRef<Value> resultGrads,
                                     SmallVectorImpl<Value> &grads) {
  grads.push_back(GeluGradOp::create(b, getLoc(), getType(), getInput(),
                                      resultGrads[0]));
  return success();
}

LogicalResult SiluOp::buildGradients(OpBuilder &b, ArrayRef<Value> resultGrads,
                                     SmallVectorImpl<Value> &grads) {
  grads.push_back(SiluGradOp::create(b, getLoc(), getType(), getInput(),
                                      resultGrads[0]));
  return success();
}

LogicalResult SiluMulOp::buildGradients(OpBuilder &b,
                                        ArrayRef<Value> resultGrads,
                                        SmallVectorImpl<Value> &grads) {
  // d gate = dy * up * silu'(gate), d up = dy * silu(gate).
  Value dy = resultGrads[0];
  Type t = dy.getType();
  Value gated = MulOp::create(b, getLoc(), t, dy, getUp());
  grads.push_back(SiluGradOp::create(b, getLoc(), t, getGate(), gated));
  Value silu = SiluOp::create(b, getLoc(), t, getGate());
  grads.push_back(MulOp::create(b, getLoc(), t, dy, silu));
  return success();
}

namespace {
/// The input and scale gradients of a norm: LayerNorm (`centered`) or
/// RMSNorm.
void normGradients(OpBuilder &b, Location loc, Value input, Value scale,
                   APFloat epsilon, bool centered, Value dy,
                   SmallVectorImpl<Value> &grads) {
  grads.push_back(NormGradOp::create(b, loc, input.getType(), input, dy, scale,
                                     epsilon, centered));
  grads.push_back(NormScaleGradOp::create(b, loc, scale.getType(), input, dy,
                                          epsilon, centered));
}
} // namespace

LogicalResult LayerNormOp::buildGradients(OpBuilder &b,
                                          ArrayRef<Value> resultGrads,
                                          SmallVectorImpl<Value> &grads) {
  normGradients(b, getLoc(), getInput(), getScale(), getEpsilon(),
                /*centered=*/true, resultGrads[0], grads);
  grads.push_back(
      SumRowsOp::create(b, getLoc(), getShift().getType(), resultGrads[0]));
  return success();
}

LogicalResult RmsNormOp::buildGradients(OpBuilder &b,
                                        ArrayRef<Value> resultGrads,
                                        SmallVectorImpl<Value> &grads) {
  normGradients(b, getLoc(), getInput(), getScale(), getEpsilon(),
                /*centered=*/false, resultGrads[0], grads);
  return success();
}

namespace {
/// The gradients of a residual add fused with a norm (tpc-fuse): the sum's
/// gradient is its own plus the norm's input gradient, and it flows to both
/// addends. `shift` is null for RMSNorm.
void addNormGradients(OpBuilder &b, Location loc, Value sum, Value scale,
                      Value shift, APFloat epsilon, ArrayRef<Value> resultGrads,
                      SmallVectorImpl<Value> &grads) {
  Value dSum = resultGrads[0], dNorm = resultGrads[1];
  SmallVector<Value> norm;
  if (dNorm) {
    normGradients(b, loc, sum, scale, epsilon, /*centered=*/bool(shift),
                  dNorm, norm);
    dSum = dSum ? AddOp::create(b, loc, dSum.getType(), dSum, norm[0])
                      .getResult()
                : norm[0];
  }
  grads.append({dSum, dSum, dNorm ? norm[1] : Value()});
  if (shift)
    grads.push_back(
        dNorm ? SumRowsOp::create(b, loc, shift.getType(), dNorm).getResult()
              : Value());
}
} // namespace

LogicalResult AddLayerNormOp::buildGradients(OpBuilder &b,
                                             ArrayRef<Value> resultGrads,
                                             SmallVectorImpl<Value> &grads) {
  addNormGradients(b, getLoc(), getSum(), getScale(), getShift(),
                   getEpsilon(), resultGrads, grads);
  return success();
}

LogicalResult AddRmsNormOp::buildGradients(OpBuilder &b,
                                           ArrayRef<Value> resultGrads,
                                           SmallVectorImpl<Value> &grads) {
  addNormGradients(b, getLoc(), getSum(), getScale(), Value(), getEpsilon(),
                   resultGrads, grads);
  return success();
}

LogicalResult RopeOp::buildGradients(OpBuilder &b, ArrayRef<Value> resultGrads,
                                     SmallVectorImpl<Value> &grads) {
  if (getOffsets())
    return emitOpError() << "from offsets (a generation program) has no "
                            "derivative rule";
  grads.push_back(RopeGradOp::create(b, getLoc(), getType(), resultGrads[0],
                                     getHeadDim(), getTheta()));
  return success();
}

LogicalResult AttentionOp::buildGradients(OpBuilder &b,
                                          ArrayRef<Value> resultGrads,
                                          SmallVectorImpl<Value> &grads) {
  if (getOffsets())
    return emitOpError() << "over a KV cache has no derivative rule";
  auto grad = AttentionGradOp::create(
      b, getLoc(), getQ().getType(), getK().getType(), getV().getType(),
      getQ(), getK(), getV(), resultGrads[0], getNumHeads(), getNumKvHeads(),
      getWindowAttr());
  grads.append({grad.getDq(), grad.getDk(), grad.getDv()});
  return success();
}

LogicalResult LmHeadOp::buildGradients(OpBuilder &b,
                                       ArrayRef<Value> resultGrads,
                                       SmallVectorImpl<Value> &grads) {
  // logits = x W^T with W [vocab, hidden]: dx = dlogits W, a linear with W
  // read [in = vocab, out = hidden]; dW = dlogits^T x.
  Value dlogits = resultGrads[0];
  grads.push_back(LinearOp::create(b, getLoc(), getInput().getType(), dlogits,
                                   getWeight(), Value(), WeightLayout::InOut,
                                   nullptr));
  grads.push_back(LinearWeightGradOp::create(b, getLoc(),
                                             getWeight().getType(), getInput(),
                                             dlogits, WeightLayout::OutIn));
  return success();
}
