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
  Differentiator(func::FuncOp func, int64_t ignoreIndex)
      : func(func), ignoreIndex(ignoreIndex) {}
  LogicalResult run();

private:
  /// Records `grad` as (another) gradient of `v`.
  void accumulate(Value v, Value grad, OpBuilder &b);

  func::FuncOp func;
  int64_t ignoreIndex;
  DenseMap<Value, Value> grads;
  /// Every contribution to each weight's gradient.
  DenseMap<Value, SmallVector<Value>> weightGrads;
};
} // namespace

void Differentiator::accumulate(Value v, Value grad, OpBuilder &b) {
  // A weight's contributions each go into its gradient buffer (the
  // runtime adds in place): no summed copy of a tied embedding table.
  if (v.getDefiningOp<WeightOp>()) {
    weightGrads[v].push_back(grad);
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

  for (Operation *op : llvm::reverse(forwardOps)) {
    if (auto weight = dyn_cast<WeightOp>(op)) {
      for (Value grad : weightGrads.lookup(weight.getResult()))
        AccumulateGradOp::create(b, weight.getLoc(), weight, grad);
      continue;
    }
    SmallVector<Value> resultGrads;
    for (Value result : op->getResults())
      resultGrads.push_back(grads.lookup(result));
    if (llvm::all_of(resultGrads, [](Value g) { return !g; }))
      continue; // Nothing the loss depends on (positions, unused values).
    auto rule = dyn_cast<DifferentiableOpInterface>(op);
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
    if (failed(Differentiator(func, ignoreIndex).run()))
      return signalPassFailure();
  }
};
} // namespace
