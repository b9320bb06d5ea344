//===- DeriveTraining.cpp - the training step from @forward ---------------===//
//
// Reverse-mode differentiation of the forward graph. The step is the
// forward pass, the next-token cross-entropy and the backward pass in one
// function, so that the planner lays out forward and backward together and
// the partitioner inserts the backward collectives from the same rules: a
// hand-written table of conjugate collectives is what this replaces.
//
// Each op's rule (DifferentiableOpInterface, dialects/tpc/Derivatives.cpp)
// turns its results' gradients into its operands'; this pass only walks the
// graph backwards, sums the gradients of values used more than once and
// ends every contribution to a weight's gradient in a tpc.accumulate_grad
// (a tied embedding and LM head: two, added into one buffer).
//
//===----------------------------------------------------------------------===//
#include "passes/Passes.h"

#include "dialects/tpc/TpcOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"

namespace mlir::tpc {
#define GEN_PASS_DEF_DERIVETRAINING
#include "passes/Passes.h.inc"
} // namespace mlir::tpc

using namespace mlir;
using namespace mlir::tpc;

namespace {
/// Adds the backward pass to `func`, a copy of @forward.
class Differentiator {
public:
  Differentiator(func::FuncOp func, int64_t ignoreIndex, bool recompute)
      : func(func), ignoreIndex(ignoreIndex), recompute(recompute) {}
  LogicalResult run();

private:
  /// Records `grad` as (another) gradient of `v`.
  void accumulate(Value v, Value grad, OpBuilder &b);
  /// The layer of every forward op, for recomputation (-1: none).
  void assignLayers(ArrayRef<Operation *> forwardOps);
  /// Clones the forward ops of `layer` at `b`'s insertion point.
  void recomputeLayer(int64_t layer, ArrayRef<Operation *> forwardOps,
                      OpBuilder &b);

  func::FuncOp func;
  int64_t ignoreIndex;
  bool recompute;
  DenseMap<Value, Value> grads;
  DenseMap<Operation *, int64_t> layerOf;
  /// Each recomputed forward op's clone, in the order they were made.
  DenseMap<Operation *, Operation *> clones;
  SmallVector<Operation *> cloneOrder;
};

/// N of a weight named `<prefix>.<N>.<rest>` (a layer of a stack: Hugging
/// Face's model.layers.N, transformer.h.N); -1 for any other name.
int64_t layerIndexOfWeight(StringRef name) {
  SmallVector<StringRef> parts;
  name.split(parts, '.');
  for (size_t i = 1; i + 1 < parts.size(); ++i) {
    int64_t index;
    if (!parts[i].getAsInteger(10, index))
      return index;
  }
  return -1;
}
} // namespace

void Differentiator::assignLayers(ArrayRef<Operation *> forwardOps) {
  // An op that reads a layer's weights is in that layer; one that reads a
  // weight of no layer (embeddings, the final norm, the head) is in none;
  // a weightless op is in the latest layer of its operands (the residual
  // add that ends a layer is in it).
  for (Operation *op : forwardOps) {
    if (isa<WeightOp>(op))
      continue;
    std::optional<int64_t> byWeight;
    int64_t byOperands = -1;
    for (Value operand : op->getOperands()) {
      Operation *def = operand.getDefiningOp();
      if (!def)
        continue;
      if (auto weight = dyn_cast<WeightOp>(def)) {
        int64_t index = layerIndexOfWeight(weight.getName());
        byWeight = byWeight ? std::min(*byWeight, index) : index;
      } else {
        byOperands = std::max(byOperands, layerOf.lookup_or(def, -1));
      }
    }
    layerOf[op] = byWeight ? *byWeight : byOperands;
  }
}

void Differentiator::recomputeLayer(int64_t layer,
                                    ArrayRef<Operation *> forwardOps,
                                    OpBuilder &b) {
  // Operands from before the layer (its input, weights, positions) are
  // the originals: they are what stays alive for the backward pass.
  IRMapping mapping;
  for (Operation *op : forwardOps) {
    if (isa<WeightOp>(op) || layerOf.lookup_or(op, -1) != layer)
      continue;
    Operation *clone = b.clone(*op, mapping);
    clones[op] = clone;
    cloneOrder.push_back(clone);
  }
}

void Differentiator::accumulate(Value v, Value grad, OpBuilder &b) {
  // A weight's contributions each go into its gradient buffer (the
  // runtime adds in place) where they are made: no summed copy of a tied
  // embedding table, and none kept until the backward pass reaches the
  // weight (the LM head's gradient would live through all of it).
  if (v.getDefiningOp<WeightOp>()) {
    AccumulateGradOp::create(b, grad.getLoc(), v, grad);
    return;
  }
  Value &total = grads[v];
  total = total ? AddOp::create(b, grad.getLoc(), grad.getType(), total, grad)
                    .getResult()
                : grad;
}

LogicalResult Differentiator::run() {
  Block &body = func.getBody().front();
  auto ret = cast<func::ReturnOp>(body.getTerminator());
  if (func.getNumArguments() != 1 || ret.getNumOperands() != 1)
    return func.emitError() << "tpc-derive-training needs @forward to take "
                               "token ids and return logits";
  Value ids = func.getArgument(0);
  Value logits = ret.getOperand(0);
  auto idsType = dyn_cast<RankedTensorType>(ids.getType());
  auto logitsType = cast<RankedTensorType>(logits.getType());
  if (!idsType || idsType.getRank() != 2 || logitsType.getRank() != 3)
    return func.emitError() << "tpc-derive-training needs ids [batch, seq] "
                               "and logits [batch, seq, vocab], got "
                            << ids.getType() << " and " << logits.getType();

  SmallVector<Operation *> forwardOps;
  for (Operation &op : body.without_terminator())
    forwardOps.push_back(&op);

  // The step's extra inputs: next-token targets and the loss's gradient
  // per position.
  MLIRContext *ctx = func.getContext();
  Location loc = ret.getLoc();
  auto lossType =
      RankedTensorType::get(idsType.getShape(), Float32Type::get(ctx));
  Value targets = body.addArgument(idsType, loc);
  Value dloss = body.addArgument(lossType, loc);

  OpBuilder b(ret);
  if (logitsType.isDynamicDim(2))
    return func.emitError() << "tpc-derive-training needs a static "
                               "vocabulary, got logits "
                            << logitsType;
  IntegerAttr vocab = b.getI64IntegerAttr(logitsType.getDimSize(2));
  IntegerAttr ignore = b.getI64IntegerAttr(ignoreIndex);
  auto loss = CrossEntropyOp::create(b, loc, lossType, lossType, logits,
                                     targets, vocab, ignore);
  grads[logits] =
      CrossEntropyGradOp::create(b, loc, logitsType, logits, targets,
                                 loss.getLse(), dloss, vocab, ignore);

  if (recompute)
    assignLayers(forwardOps);
  for (Operation *op : llvm::reverse(forwardOps)) {
    if (isa<WeightOp>(op))
      continue; // Its gradients were accumulated as they were made.
    SmallVector<Value> resultGrads;
    for (Value result : op->getResults())
      resultGrads.push_back(grads.lookup(result));
    if (llvm::all_of(resultGrads, [](Value g) { return !g; }))
      continue; // Nothing the loss depends on (positions, unused values).
    // With recomputation the rule reads the layer's recomputed values (the
    // clone's operands and results); gradients still belong to the
    // original values.
    Operation *source = op;
    if (recompute && layerOf.lookup_or(op, -1) >= 0) {
      if (!clones.count(op))
        recomputeLayer(layerOf[op], forwardOps, b);
      source = clones[op];
    }
    auto rule = dyn_cast<DifferentiableOpInterface>(source);
    if (!rule)
      return op->emitOpError() << "has no derivative rule: tpc-derive-training "
                                  "differentiates forward graphs before "
                                  "tpc-fuse and without KV caches";
    SmallVector<Value> operandGrads;
    if (failed(rule.buildGradients(b, resultGrads, operandGrads)))
      return failure();
    for (auto [operand, grad] : llvm::zip(op->getOperands(), operandGrads))
      if (grad)
        accumulate(operand, grad, b);
  }

  // Recomputed values no gradient read (a layer's output, attention's
  // result when only its inputs are needed) are not recomputed.
  for (Operation *clone : llvm::reverse(cloneOrder))
    if (clone->use_empty())
      clone->erase();

  ret->setOperands(loss.getLoss());
  func.setFunctionType(
      FunctionType::get(ctx, body.getArgumentTypes(), {lossType}));
  return success();
}

namespace {
struct DeriveTrainingPass
    : public mlir::tpc::impl::DeriveTrainingBase<DeriveTrainingPass> {
  using DeriveTrainingBase::DeriveTrainingBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto forward = module.lookupSymbol<func::FuncOp>(kForwardFuncName);
    if (!forward || forward.isExternal()) {
      module.emitError() << "tpc-derive-training needs a @" << kForwardFuncName
                         << " function to derive from";
      return signalPassFailure();
    }
    if (forward->hasAttr(TpcDialect::getPartitionedAttrName())) {
      forward.emitError() << "tpc-derive-training runs before tpc-partition";
      return signalPassFailure();
    }
    if (module.lookupSymbol(kTrainStepFuncName)) {
      module.emitError() << "tpc-derive-training: the module already has a "
                            "symbol @"
                         << kTrainStepFuncName;
      return signalPassFailure();
    }
    // First in the module: the step's plan decides the weights' layouts.
    OpBuilder b(forward);
    auto func = cast<func::FuncOp>(b.clone(*forward));
    func.setSymName(kTrainStepFuncName);
    if (failed(Differentiator(func, ignoreIndex, recompute).run()))
      return signalPassFailure();
  }
};
} // namespace
