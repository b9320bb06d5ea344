//===- CheckShards.cpp - every weight's shards tile it exactly once -------===//
//
// An independent check of a partitioned program: from each weight's
// checkpoint shape and layout, deals out every rank's element ranges with
// the shared split rule and checks that they cover each split dimension
// exactly once (or at least once where grouped KV heads are shared by
// design), that whole dimensions are whole on every rank, and that the
// weight's local type is what every rank holds.
//
//===----------------------------------------------------------------------===//
#include "passes/Passes.h"
#include "passes/Strategy.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace mlir::tpc {
#define GEN_PASS_DEF_CHECKSHARDS
#include "passes/Passes.h.inc"
} // namespace mlir::tpc

using namespace mlir;
using namespace mlir::tpc;
namespace split = ::tpc::sharding;

namespace {
/// Checks one weight; returns whether it is split.
FailureOr<bool> checkWeight(WeightOp weight, int64_t ranks) {
  std::optional<ArrayRef<int64_t>> global = weight.getGlobalShape();
  if (!global)
    return weight.emitError() << "a partitioned weight must record its "
                                 "global_shape";
  ShardingAttr sharding = getResultSharding(weight, 0);
  if (!sharding)
    return weight.emitError() << "a partitioned weight must have a sharding";
  auto globalType =
      RankedTensorType::get(*global, weight.getType().getElementType());
  bool isSplit = false;
  for (int64_t d = 0; d < globalType.getRank(); ++d) {
    int64_t local = weight.getType().getDimSize(d);
    if (!sharding.getDims()[d].isSplit()) {
      if (local != (*global)[d])
        return weight.emitError()
               << "dimension " << d << " is whole, so every rank must hold "
               << (*global)[d] << " elements, got " << local;
      continue;
    }
    isSplit = true;
    split::DimSplit s = dimSplit(sharding, globalType, d, ranks);
    std::vector<int> held(s.size, 0);
    int64_t first = split::localSize(s, 0);
    for (int64_t r = 0; r < ranks; ++r) {
      int64_t count = 0;
      for (split::Range range : split::elementRanges(s, r)) {
        for (int64_t e = range.begin; e < range.end; ++e)
          ++held[e];
        count += range.length();
      }
      if (count != split::localSize(s, r))
        return weight.emitError() << "rank " << r << " ranges disagree with "
                                  << "its local size on dimension " << d;
      bool even = split::isEven(s);
      if ((even && local != first) || (!even && local != ShapedType::kDynamic))
        return weight.emitError()
               << "dimension " << d << " local size must be "
               << (even ? std::to_string(first) : std::string("dynamic"))
               << ", got " << local;
    }
    for (int64_t e = 0; e < s.size; ++e)
      if (held[e] == 0 || (s.groups == 1 && held[e] != 1))
        return weight.emitError()
               << "dimension " << d << ": element " << e << " is held by "
               << held[e] << " ranks, expected "
               << (s.groups == 1 ? "exactly one" : "at least one");
  }
  return isSplit;
}

struct CheckShardsPass
    : public mlir::tpc::impl::CheckShardsBase<CheckShardsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::optional<int64_t> tpSize = lookupTpSize(module);
    for (auto func : module.getOps<func::FuncOp>()) {
      if (!func->hasAttr(TpcDialect::getPartitionedAttrName()))
        continue;
      if (!tpSize) {
        func.emitError() << "a partitioned function needs mesh @mesh[\"tp\"]";
        return signalPassFailure();
      }
      int64_t ranks = *tpSize;
      int64_t splitCount = 0, wholeCount = 0;
      for (WeightOp weight : func.getOps<WeightOp>()) {
        FailureOr<bool> isSplit = checkWeight(weight, ranks);
        if (failed(isSplit))
          return signalPassFailure();
        ++(*isSplit ? splitCount : wholeCount);
      }
      func.emitRemark() << "shards of " << splitCount + wholeCount
                        << " weights checked over " << ranks
                        << " ranks: " << splitCount
                        << " split, tiling each exactly once "
                        << "except shared KV heads; " << wholeCount
                        << " whole on every rank";
    }
  }
};
} // namespace
