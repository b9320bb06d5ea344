//===- TpcTrainingOps.cpp - verifiers of the loss and gradient ops --------===//
#include "dialects/tpc/TpcOps.h"
#include "dialects/tpc/Verification.h"

#include "mlir/IR/TypeUtilities.h"

using namespace mlir;
using namespace mlir::tpc;
using namespace mlir::tpc::detail;
namespace rules = mlir::tpc::shape_rules;

namespace {
/// `shape` without its last dimension.
rules::Shape leading(ArrayRef<int64_t> shape) {
  return rules::Shape(shape.drop_back());
}

/// Checks that `v` has shape `expected`, naming it `what`.
LogicalResult expectShape(Operation *op, StringRef what, Value v,
                          ArrayRef<int64_t> expected) {
  if (rules::shapesCompatible(shapeOf(v), expected))
    return success();
  return op->emitOpError() << what << " shape must be "
                           << rules::format(expected) << ", got "
                           << rules::format(shapeOf(v));
}

LogicalResult expectRankAtLeast(Operation *op, StringRef what, Value v,
                                int64_t rank) {
  if (int64_t(shapeOf(v).size()) >= rank)
    return success();
  return op->emitOpError() << what << " must have rank >= " << rank
                           << ", got " << rules::format(shapeOf(v));
}

/// Per-position operands of the loss: the logits' shape without the
/// vocabulary, which is `vocab`.
LogicalResult verifyPerPosition(Operation *op, Value logits, int64_t vocab,
                                ArrayRef<std::pair<StringRef, Value>> values) {
  if (failed(expectRankAtLeast(op, "logits", logits, 2)))
    return failure();
  if (TpcDialect::isInPartitionedFunction(op))
    return success();
  if (!rules::dimsCompatible(shapeOf(logits).back(), vocab))
    return op->emitOpError() << "vocab must be the logits' last dimension "
                             << shapeOf(logits).back() << ", got " << vocab;
  rules::Shape positions = leading(shapeOf(logits));
  for (auto [what, v] : values)
    if (failed(expectShape(op, what, v, positions)))
      return failure();
  return success();
}
} // namespace

LogicalResult CrossEntropyOp::verify() {
  for (Value result : getResults())
    if (!getElementTypeOrSelf(result.getType()).isF32())
      return emitOpError() << "losses must be f32, got "
                           << getElementTypeOrSelf(result.getType());
  return verifyPerPosition(*this, getLogits(), getVocab(),
                           {{"targets", getTargets()},
                            {"loss", getLoss()},
                            {"lse", getLse()}});
}

LogicalResult CrossEntropyGradOp::verify() {
  if (getResult().getType() != getLogits().getType())
    return emitOpError() << "result type must be the logits' type "
                         << getLogits().getType() << ", got "
                         << getResult().getType();
  return verifyPerPosition(*this, getLogits(), getVocab(),
                           {{"targets", getTargets()},
                            {"lse", getLse()},
                            {"dloss", getDloss()}});
}

LogicalResult LinearWeightGradOp::verify() {
  if (failed(verifyElementTypes(*this)) ||
      failed(expectRankAtLeast(*this, "input", getInput(), 2)) ||
      failed(expectRankAtLeast(*this, "grad", getGrad(), 2)))
    return failure();
  if (TpcDialect::isInPartitionedFunction(*this))
    return success();
  if (failed(expectShape(*this, "grad leading", getGrad(),
                         [&] {
                           rules::Shape s = leading(shapeOf(getInput()));
                           s.push_back(shapeOf(getGrad()).back());
                           return s;
                         }())))
    return failure();
  int64_t in = shapeOf(getInput()).back(), out = shapeOf(getGrad()).back();
  rules::Shape expected = getLayout() == WeightLayout::InOut
                              ? rules::Shape{in, out}
                              : rules::Shape{out, in};
  return expectShape(*this, "result", getResult(), expected);
}

LogicalResult SumRowsOp::verify() {
  if (failed(verifyElementTypes(*this)) ||
      failed(expectRankAtLeast(*this, "input", getInput(), 1)))
    return failure();
  return verifyResultShape(*this, rules::Shape{shapeOf(getInput()).back()});
}

LogicalResult EmbeddingGradOp::verify() {
  if (failed(verifyElementTypes(*this)))
    return failure();
  if (shapeOf(getResult()).size() != 2)
    return emitOpError() << "result must be a [vocab, hidden] table, got "
                         << rules::format(shapeOf(getResult()));
  if (TpcDialect::isInPartitionedFunction(*this))
    return success();
  if (!rules::dimsCompatible(shapeOf(getResult())[0], getVocab()))
    return emitOpError() << "vocab must be the result's rows "
                         << shapeOf(getResult())[0] << ", got " << getVocab();
  rules::Shape grad(shapeOf(getIds()));
  grad.push_back(shapeOf(getResult())[1]);
  return expectShape(*this, "grad", getGrad(), grad);
}

LogicalResult NormGradOp::verify() {
  if (failed(verifyElementTypes(*this)) ||
      failed(verifyPositive(*this, "epsilon", getEpsilon().convertToDouble())))
    return failure();
  return verifyResultShape(
      *this, rules::norm(shapeOf(getInput()), {shapeOf(getScale())}));
}

LogicalResult NormScaleGradOp::verify() {
  if (failed(verifyElementTypes(*this)) ||
      failed(verifyPositive(*this, "epsilon", getEpsilon().convertToDouble())) ||
      failed(expectRankAtLeast(*this, "input", getInput(), 1)))
    return failure();
  if (getInput().getType() != getGrad().getType())
    return emitOpError() << "grad type must be the input's "
                         << getInput().getType() << ", got "
                         << getGrad().getType();
  return verifyResultShape(*this, rules::Shape{shapeOf(getInput()).back()});
}

LogicalResult AttentionGradOp::verify() {
  if (failed(verifyElementTypes(*this)))
    return failure();
  if (getWindow() && *getWindow() < 1)
    return emitOpError() << "window must be >= 1, got " << *getWindow();
  for (auto [what, operand, result] :
       {std::tuple<StringRef, Value, Value>{"dq", getQ(), getDq()},
        {"dk", getK(), getDk()},
        {"dv", getV(), getDv()},
        {"grad", getQ(), getGrad()}})
    if (operand.getType() != result.getType())
      return emitOpError() << what << " type must be " << operand.getType()
                           << ", got " << result.getType();
  if (TpcDialect::isInPartitionedFunction(*this))
    return success();
  llvm::Expected<rules::Shape> forward =
      rules::attention(shapeOf(getQ()), shapeOf(getK()), shapeOf(getV()),
                       getNumHeads(), getNumKvHeads(), std::nullopt);
  if (!forward)
    return emitOpError() << llvm::toString(forward.takeError());
  return success();
}

LogicalResult ConcatOp::verify() {
  if (getInputs().empty())
    return emitOpError() << "needs at least one input";
  if (failed(verifyElementTypes(*this)))
    return failure();
  for (Value input : getInputs())
    if (failed(expectRankAtLeast(*this, "inputs", input, 1)))
      return failure();
  if (TpcDialect::isInPartitionedFunction(*this))
    return success();
  rules::Shape expected = leading(shapeOf(getInputs().front()));
  int64_t last = 0;
  for (Value input : getInputs()) {
    if (!rules::shapesCompatible(leading(shapeOf(input)),
                                 leading(shapeOf(getInputs().front()))))
      return emitOpError() << "inputs must agree in all but the last "
                              "dimension, got "
                           << rules::format(shapeOf(getInputs().front()))
                           << " and " << rules::format(shapeOf(input));
    int64_t size = shapeOf(input).back();
    last = ShapedType::isDynamic(size) || ShapedType::isDynamic(last)
               ? ShapedType::kDynamic
               : last + size;
  }
  expected.push_back(last);
  return expectShape(*this, "result", getResult(), expected);
}

LogicalResult AccumulateGradOp::verify() {
  if (!getWeight().getDefiningOp<WeightOp>())
    return emitOpError() << "weight must be a tpc.weight";
  return success();
}

LogicalResult AccumulateEmbeddingGradOp::verify() {
  if (!getWeight().getDefiningOp<WeightOp>())
    return emitOpError() << "weight must be a tpc.weight";
  auto table = cast<RankedTensorType>(getWeight().getType());
  auto grad = cast<RankedTensorType>(getGrad().getType());
  if (table.getRank() != 2 ||
      (!ShapedType::isDynamic(grad.getShape().back()) &&
       !table.isDynamicDim(1) &&
       grad.getShape().back() != table.getDimSize(1)))
    return emitOpError() << "expects a [rows, hidden] table and a gradient "
                            "of hidden features, got "
                         << table << " and " << grad;
  return success();
}

LogicalResult AccumulateLinearWeightGradOp::verify() {
  if (!getWeight().getDefiningOp<WeightOp>())
    return emitOpError() << "weight must be a tpc.weight";
  if (cast<RankedTensorType>(getWeight().getType()).getRank() != 2)
    return emitOpError() << "expects a 2-D weight, got "
                         << getWeight().getType();
  return success();
}

LogicalResult ReduceGradientsOp::verify() {
  if (getWeights().empty())
    return emitOpError() << "expects at least one weight";
  for (auto [i, weight] : llvm::enumerate(getWeights()))
    if (!weight.getDefiningOp<WeightOp>())
      return emitOpError() << "operand " << i << " must be a tpc.weight";
  return success();
}
