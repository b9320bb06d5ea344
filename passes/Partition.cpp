//===- Partition.cpp - the per-rank program with explicit collectives -----===//
//
// Walks the program in order. Where an op needs an operand in another layout
// than its producer gives, inserts the collective that converts it; then
// gives every value its local type. Layouts come from the `tpc.sharding`
// attributes; an op's strategy is the one its rule infers from its results'
// layouts, so hand-written shardings partition the same way as chosen ones.
//
//===----------------------------------------------------------------------===//
#include "passes/CostModel.h"
#include "passes/Passes.h"
#include "passes/Strategy.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "llvm/Support/Path.h"

namespace mlir::tpc {
#define GEN_PASS_DEF_PARTITION
#include "passes/Passes.h.inc"
} // namespace mlir::tpc

using namespace mlir;
using namespace mlir::tpc;

namespace {
class Partitioner {
public:
  Partitioner(func::FuncOp func, int64_t ranks)
      : func(func), ranks(ranks), granularity(func) {
    model.ranks = ranks;
  }

  LogicalResult run();

private:
  /// The layout and attribute of `v` as produced.
  FailureOr<Layout> layoutOf(Value v, Operation *user);
  /// `v` converted to layout `to` for `user`'s operand: the value itself or
  /// the collective that converts it.
  Value convert(Value v, Layout to, Operation *user, OpBuilder &b);
  RankedTensorType localType(RankedTensorType global, ShardingAttr sharding);
  /// Gives `result` its local type (and the largest rank's shape when the
  /// ranks' sizes differ).
  void setLocalType(Value result, RankedTensorType global,
                    ShardingAttr sharding);
  /// The largest rank's local shape (-1 for dimensions sized at run time).
  SmallVector<int64_t> maxLocalShape(RankedTensorType global,
                                     ShardingAttr sharding);
  ShardingAttr attrFor(Value v, Layout layout);
  std::string causeOf(Operation *op);
  /// Whether every tpc.accumulate_grad of `accumulate`'s weight (whole on
  /// every rank) adds a partial sum: then all of them stay partial and
  /// the runtime reduces them in one bucket. Decided once per weight.
  FailureOr<bool> onlyPartialGradients(AccumulateGradOp accumulate,
                                       Layout weight);
  /// The split of a CombinedByOp factor that `op`'s operands already have.
  std::optional<Strategy> combinedSplit(const ShardingRule &rule,
                                        Operation *op);

  func::FuncOp func;
  int64_t ranks;
  GranularityAnalysis granularity;
  CostModel model;
  DenseMap<Value, RankedTensorType> globalTypes;
  DenseMap<Value, ShardingAttr> shardings;
  /// Conversions to a whole or split layout made so far, reused by later
  /// users: (value, split dim or -1).
  DenseMap<std::pair<Value, int>, Value> converted;
  /// Set when a conversion was impossible (reported).
  bool failedConversion = false;
  DenseMap<Value, bool> partialGradientWeights;
};

} // namespace

ShardingAttr Partitioner::attrFor(Value v, Layout layout) {
  Granularity g =
      layout.dim >= 0 ? granularity.get(v, layout.dim) : Granularity{};
  return toShardingAttr(func.getContext(), layout, globalTypes.lookup(v), g);
}

FailureOr<Layout> Partitioner::layoutOf(Value v, Operation *user) {
  ShardingAttr sharding = shardings.lookup(v);
  if (!sharding)
    return Layout{}; // Function arguments are whole on every rank.
  FailureOr<Layout> layout = toLayout(sharding);
  if (failed(layout))
    return user->emitError()
           << "tpc-partition supports shardings over @mesh[\"tp\"] that "
              "split at most one dimension, got "
           << sharding;
  return layout;
}

FailureOr<bool> Partitioner::onlyPartialGradients(AccumulateGradOp accumulate,
                                                  Layout weight) {
  Value w = accumulate.getWeight();
  auto known = partialGradientWeights.find(w);
  if (known != partialGradientWeights.end())
    return known->second;
  bool partial = weight.isReplicated();
  for (Operation *user : w.getUsers()) {
    auto other = dyn_cast<AccumulateGradOp>(user);
    if (!other)
      continue;
    FailureOr<Layout> grad = layoutOf(other.getGrad(), other);
    if (failed(grad))
      return failure();
    partial = partial && grad->partial && grad->dim < 0;
  }
  partialGradientWeights[w] = partial;
  return partial;
}

std::optional<Strategy> Partitioner::combinedSplit(const ShardingRule &rule,
                                                   Operation *op) {
  for (auto [f, factor] : llvm::enumerate(rule.factors)) {
    if (factor.kind != FactorKind::CombinedByOp)
      continue;
    for (auto [operand, dims] : llvm::zip(op->getOperands(), rule.operands))
      for (auto [d, df] : llvm::enumerate(dims)) {
        if (df.factor != int(f))
          continue;
        FailureOr<Layout> have = layoutOf(operand, op);
        if (succeeded(have) && !have->partial && have->dim == int(d))
          return Strategy{Strategy::SplitFactor, int(f)};
      }
  }
  return std::nullopt;
}

std::string Partitioner::causeOf(Operation *op) {
  // "tpc.add at model.layers.3.self_attn" (an imported layer) or
  // "tpc.add at block.mlir:16:9" (a hand-written file).
  std::string where;
  Location loc = op->getLoc();
  if (auto name = dyn_cast<NameLoc>(loc))
    where = name.getName().str();
  else if (auto file = dyn_cast<FileLineColLoc>(loc))
    where = (llvm::sys::path::filename(file.getFilename().getValue()) + ":" +
             llvm::Twine(file.getLine()) + ":" + llvm::Twine(file.getColumn()))
                .str();
  std::string cause = op->getName().getStringRef().str();
  return where.empty() ? cause : cause + " at " + where;
}

RankedTensorType Partitioner::localType(RankedTensorType global,
                                        ShardingAttr sharding) {
  if (!sharding)
    return global;
  SmallVector<int64_t> shape(global.getShape());
  for (int64_t d = 0; d < global.getRank(); ++d) {
    if (!sharding.getDims()[d].isSplit() || ShapedType::isDynamic(shape[d]))
      continue;
    ::tpc::sharding::DimSplit split = dimSplit(sharding, global, d, ranks);
    shape[d] = ::tpc::sharding::isEven(split)
                   ? ::tpc::sharding::localSize(split, 0)
                   : ShapedType::kDynamic;
  }
  return RankedTensorType::get(shape, global.getElementType());
}

SmallVector<int64_t> Partitioner::maxLocalShape(RankedTensorType global,
                                                ShardingAttr sharding) {
  SmallVector<int64_t> shape;
  for (int64_t d = 0; d < global.getRank(); ++d) {
    int64_t size = global.getDimSize(d);
    if (ShapedType::isDynamic(size)) {
      shape.push_back(-1);
      continue;
    }
    if (sharding && sharding.getDims()[d].isSplit()) {
      ::tpc::sharding::DimSplit split = dimSplit(sharding, global, d, ranks);
      int64_t largest = 0;
      for (int64_t r = 0; r < ranks; ++r)
        largest = std::max(largest, ::tpc::sharding::localSize(split, r));
      size = largest;
    }
    shape.push_back(size);
  }
  return shape;
}

void Partitioner::setLocalType(Value result, RankedTensorType global,
                               ShardingAttr sharding) {
  RankedTensorType local = localType(global, sharding);
  result.setType(local);
  // Memory planning needs the largest rank's size of a dimension the
  // ranks hold unevenly.
  if (local.getNumDynamicDims() <= global.getNumDynamicDims())
    return;
  Operation *op = result.getDefiningOp();
  StringRef name = TpcDialect::getMaxLocalShapeAttrName();
  auto largest = DenseI64ArrayAttr::get(op->getContext(),
                                        maxLocalShape(global, sharding));
  if (op->getNumResults() == 1) {
    op->setAttr(name, largest);
    return;
  }
  // One array per result; -1 (the result's own type) for the even ones.
  SmallVector<Attribute> shapes;
  if (auto existing = op->getAttrOfType<ArrayAttr>(name))
    llvm::append_range(shapes, existing.getValue());
  else
    for (Value r : op->getResults())
      shapes.push_back(DenseI64ArrayAttr::get(
          op->getContext(),
          SmallVector<int64_t>(
              cast<RankedTensorType>(r.getType()).getRank(), -1)));
  shapes[cast<OpResult>(result).getResultNumber()] = largest;
  op->setAttr(name, ArrayAttr::get(op->getContext(), shapes));
}

Value Partitioner::convert(Value v, Layout to, Operation *user, OpBuilder &b) {
  FailureOr<Layout> from = layoutOf(v, user);
  if (failed(from) || *from == to)
    return v;
  if (v.getDefiningOp<KvCacheOp>()) {
    // The update writes the buffer in place; a converted copy would be lost.
    user->emitError() << "the KV cache must be laid out as its update writes "
                         "it, got a cache "
                      << (from->dim >= 0 ? "split along dimension " +
                                               std::to_string(from->dim)
                                         : std::string("laid out whole"))
                      << " for an update that needs another layout";
    failedConversion = true;
    return v;
  }
  // The program is one block in order, so an earlier conversion dominates.
  Value &cached = converted[{v, to.dim}];
  if (cached && cached.getParentBlock() == user->getBlock())
    return cached;
  RankedTensorType global = globalTypes.lookup(v);
  double bytesPerToken = CostModel::elementsPerToken(global) *
                         elementBytes(global.getElementType());
  Location loc = user->getLoc();
  auto mesh = FlatSymbolRefAttr::get(b.getContext(), kMeshName);
  auto axis = b.getStringAttr(kTpAxis);
  auto cause = b.getStringAttr(causeOf(user));
  auto bytes = [&](CollectiveKind kind) {
    return b.getI64IntegerAttr(
        std::llround(model.bytesPerRank(kind, bytesPerToken)));
  };
  // Each step gives its result a global type, a layout and a local type.
  auto finish = [&](Value result, Layout layout) {
    globalTypes[result] = global;
    ShardingAttr attr = attrFor(v, layout);
    shardings[result] = attr;
    setResultShardings(result.getDefiningOp(), {attr});
    setLocalType(result, global, attr);
    return result;
  };

  Value current = v;
  Layout at = *from;
  if (at.partial) {
    Value reduced;
    if (to.dim >= 0 && !to.partial)
      reduced = ReduceScatterOp::create(b, loc, global, current, mesh, axis,
                                        b.getI64IntegerAttr(to.dim), cause,
                                        bytes(CollectiveKind::ReduceScatter));
    else
      reduced = AllReduceOp::create(b, loc, global, current, mesh, axis, cause,
                                    bytes(CollectiveKind::AllReduce));
    at = to.dim >= 0 ? Layout{to.dim, false} : Layout{};
    current = finish(reduced, at);
  }
  if (at.dim >= 0 && at.dim != to.dim) {
    Value gathered = AllGatherOp::create(b, loc, global, current, mesh, axis,
                                         b.getI64IntegerAttr(at.dim), cause,
                                         bytes(CollectiveKind::AllGather));
    at = Layout{};
    current = finish(gathered, at);
  }
  if (at.dim < 0 && to.dim >= 0) {
    Value sliced = AllSliceOp::create(b, loc, global, current, mesh, axis,
                                      b.getI64IntegerAttr(to.dim), cause,
                                      b.getI64IntegerAttr(0));
    current = finish(sliced, to);
  }
  cached = current;
  return current;
}

LogicalResult Partitioner::run() {
  // Record the global types and layouts before anything is retyped.
  for (BlockArgument arg : func.getArguments())
    if (auto type = dyn_cast<RankedTensorType>(arg.getType()))
      globalTypes[arg] = type;
  func.walk([&](Operation *op) {
    for (auto [i, result] : llvm::enumerate(op->getResults())) {
      if (auto type = dyn_cast<RankedTensorType>(result.getType()))
        globalTypes[result] = type;
      if (ShardingAttr s = getResultSharding(op, i))
        shardings[result] = s;
    }
  });

  SmallVector<Operation *> ops;
  func.walk([&](Operation *op) { ops.push_back(op); });
  OpBuilder b(func.getContext());
  for (Operation *op : ops) {
    b.setInsertionPoint(op);
    if (isa<func::ReturnOp>(op)) {
      // Results are whole, or with `tpc.sharded_results` stay split as
      // produced (partial sums are still reduced).
      bool keepSplits = func->hasAttr(TpcDialect::getShardedResultsAttrName());
      for (OpOperand &operand : op->getOpOperands()) {
        FailureOr<Layout> have = layoutOf(operand.get(), op);
        if (failed(have))
          return failure();
        Layout want = keepSplits ? Layout{have->dim, false} : Layout{};
        operand.set(convert(operand.get(), want, op, b));
      }
      continue;
    }
    if (auto accumulate = dyn_cast<AccumulateGradOp>(op)) {
      // The gradient in its weight's layout (the runtime adds it into a
      // buffer laid out like the weight). Partial sums of a weight whose
      // every gradient is one stay partial: the runtime reduces all of
      // them in one bucket after the backward pass.
      FailureOr<Layout> weight = layoutOf(accumulate.getWeight(), op);
      if (failed(weight))
        return failure();
      FailureOr<bool> bucketed = onlyPartialGradients(accumulate, *weight);
      if (failed(bucketed))
        return failure();
      if (*bucketed) {
        accumulate.setPartial(true);
        continue;
      }
      accumulate.getGradMutable().set(
          convert(accumulate.getGrad(), *weight, op, b));
      continue;
    }
    FailureOr<ShardingRule> rule = getShardingRule(op);
    if (failed(rule))
      continue;
    SmallVector<Layout> results;
    for (Value result : op->getResults()) {
      FailureOr<Layout> layout = layoutOf(result, op);
      if (failed(layout))
        return failure();
      results.push_back(*layout);
    }
    FailureOr<Strategy> strategy = inferStrategy(*rule, results);
    // An op that combines a split factor itself (the vocab-parallel loss)
    // takes its operand as split; its results say nothing of the split.
    if (std::optional<Strategy> combined = combinedSplit(*rule, op))
      strategy = *combined;
    if (failed(strategy))
      return op->emitError() << "the layouts of this op's results are not "
                                "one that its sharding rule can produce";
    for (OpOperand &operand : op->getOpOperands()) {
      Layout want =
          requiredOperandLayout(*rule, *strategy, operand.getOperandNumber());
      if (want.partial) {
        FailureOr<Layout> have = layoutOf(operand.get(), op);
        if (failed(have))
          return failure();
        if (!have->partial)
          return op->emitError()
                 << "operand #" << operand.getOperandNumber()
                 << " must be a partial sum for this op's layout";
        continue;
      }
      operand.set(convert(operand.get(), want, op, b));
    }
  }

  if (failedConversion)
    return failure();

  // Local types for everything the program computes; weights remember the
  // checkpoint shape their shard is cut from.
  for (Operation *op : ops)
    if (auto state = dyn_cast<StateOpInterface>(op))
      state.recordGlobalShape(globalTypes.lookup(state).getShape());
  for (Operation *op : ops)
    for (Value result : op->getResults())
      if (auto global = globalTypes.lookup(result))
        setLocalType(result, global, shardings.lookup(result));
  // Split results are returned as the rank's shards.
  Operation *terminator = func.front().getTerminator();
  func.setFunctionType(FunctionType::get(func.getContext(),
                                         func.getArgumentTypes(),
                                         terminator->getOperandTypes()));
  func->setAttr(TpcDialect::getPartitionedAttrName(),
                UnitAttr::get(func.getContext()));
  return success();
}

namespace {
struct PartitionPass : public mlir::tpc::impl::PartitionBase<PartitionPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::optional<int64_t> ranks = lookupTpSize(module);
    if (!ranks) {
      module.emitError() << "tpc-partition needs a mesh @mesh with an axis "
                            "\"tp\"; run tpc-auto-shard first";
      return signalPassFailure();
    }
    for (auto func : module.getOps<func::FuncOp>()) {
      if (func.isExternal() ||
          func->hasAttr(TpcDialect::getPartitionedAttrName()))
        continue;
      if (failed(Partitioner(func, *ranks).run()))
        return signalPassFailure();
    }
  }
};
} // namespace
