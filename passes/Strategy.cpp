//===- Strategy.cpp - layouts over the tp axis and op strategies ----------===//
#include "passes/Strategy.h"

#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace mlir::tpc;

static Layout layoutOnDims(const ShardingRule &rule, Strategy strategy,
                           ArrayRef<DimFactor> dims, bool isResult) {
  switch (strategy.kind) {
  case Strategy::Replicate:
    return {};
  case Strategy::PassPartial:
    return {-1, true};
  case Strategy::SplitFactor:
    break;
  }
  if (isResult && rule.factors[strategy.factor].kind == FactorKind::Reduction)
    return {-1, true};
  for (auto [d, df] : llvm::enumerate(dims))
    if (df.factor == strategy.factor)
      return {static_cast<int>(d), false};
  return {};
}

Layout mlir::tpc::requiredOperandLayout(const ShardingRule &rule,
                                        Strategy strategy, unsigned index) {
  return layoutOnDims(rule, strategy, rule.operands[index], false);
}

Layout mlir::tpc::resultLayout(const ShardingRule &rule, Strategy strategy,
                               unsigned index) {
  return layoutOnDims(rule, strategy, rule.results[index], true);
}

FailureOr<Strategy> mlir::tpc::inferStrategy(const ShardingRule &rule,
                                             ArrayRef<Layout> results) {
  SmallVector<Strategy> candidates = {{Strategy::Replicate, -1}};
  if (rule.linearInOperands)
    candidates.push_back({Strategy::PassPartial, -1});
  for (unsigned f = 0; f < rule.factors.size(); ++f)
    candidates.push_back({Strategy::SplitFactor, static_cast<int>(f)});
  for (Strategy s : candidates) {
    bool matches = true;
    for (auto [i, layout] : llvm::enumerate(results))
      matches &= resultLayout(rule, s, i) == layout;
    if (matches)
      return s;
  }
  return failure();
}

ShardingAttr mlir::tpc::toShardingAttr(MLIRContext *context, Layout layout,
                                       RankedTensorType type, Granularity g) {
  auto axis = StringAttr::get(context, kTpAxis);
  SmallVector<DimShardingAttr> dims;
  for (int64_t d = 0; d < type.getRank(); ++d)
    dims.push_back(d == layout.dim
                       ? DimShardingAttr::get(context, {axis}, g.unit,
                                              g.sections, g.groups)
                       : DimShardingAttr::get(context, {}, 1, 1, 1));
  SmallVector<StringAttr> partial;
  if (layout.partial)
    partial.push_back(axis);
  return ShardingAttr::get(context, FlatSymbolRefAttr::get(context, kMeshName),
                           dims, partial);
}

FailureOr<Layout> mlir::tpc::toLayout(ShardingAttr sharding) {
  if (sharding.getMesh().getValue() != kMeshName)
    return failure();
  Layout layout;
  for (auto [d, dim] : llvm::enumerate(sharding.getDims())) {
    if (!dim.isSplit())
      continue;
    if (layout.dim >= 0 || dim.getAxes().size() != 1 ||
        dim.getAxes()[0].getValue() != kTpAxis)
      return failure();
    layout.dim = d;
  }
  for (StringAttr axis : sharding.getPartial()) {
    if (axis.getValue() != kTpAxis)
      return failure();
    layout.partial = true;
  }
  return layout;
}

::tpc::sharding::DimSplit mlir::tpc::dimSplit(ShardingAttr sharding,
                                              RankedTensorType type,
                                              unsigned dim, int64_t ranks) {
  DimShardingAttr d = sharding.getDims()[dim];
  int64_t size = type.getDimSize(dim);
  return {ShapedType::isDynamic(size) ? 0 : size, d.getUnit(), d.getSections(),
          d.getGroups(), ranks};
}

ShardingAttr mlir::tpc::getResultSharding(Operation *op, unsigned index) {
  Attribute attr = op->getAttr(TpcDialect::getShardingAttrName());
  if (auto array = dyn_cast_or_null<ArrayAttr>(attr))
    return index < array.size() ? dyn_cast<ShardingAttr>(array[index])
                                : ShardingAttr();
  return index == 0 ? dyn_cast_or_null<ShardingAttr>(attr) : ShardingAttr();
}

ShardingAttr mlir::tpc::getSharding(Value v) {
  auto result = dyn_cast<OpResult>(v);
  return result ? getResultSharding(result.getOwner(), result.getResultNumber())
                : ShardingAttr();
}

DenseI64ArrayAttr mlir::tpc::getMaxLocalShape(Value v) {
  auto result = dyn_cast<OpResult>(v);
  if (!result)
    return {};
  Attribute attr =
      result.getOwner()->getAttr(TpcDialect::getMaxLocalShapeAttrName());
  if (auto array = dyn_cast_or_null<ArrayAttr>(attr))
    return result.getResultNumber() < array.size()
               ? dyn_cast<DenseI64ArrayAttr>(array[result.getResultNumber()])
               : DenseI64ArrayAttr();
  return result.getResultNumber() == 0
             ? dyn_cast_or_null<DenseI64ArrayAttr>(attr)
             : DenseI64ArrayAttr();
}

void mlir::tpc::setResultShardings(Operation *op,
                                   ArrayRef<ShardingAttr> shardings) {
  StringRef name = TpcDialect::getShardingAttrName();
  if (shardings.size() == 1) {
    op->setAttr(name, shardings[0]);
    return;
  }
  op->setAttr(name, ArrayAttr::get(op->getContext(),
                                   SmallVector<Attribute>(shardings.begin(),
                                                          shardings.end())));
}

std::optional<int64_t> mlir::tpc::lookupTpSize(ModuleOp module) {
  auto mesh =
      dyn_cast_or_null<MeshOp>(SymbolTable::lookupSymbolIn(module, kMeshName));
  return mesh ? mesh.getAxisSize(kTpAxis) : std::nullopt;
}
