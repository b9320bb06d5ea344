//===- MemoryPlan.cpp - live ranges and peak memory of a rank's program ---===//
#include "passes/MemoryPlan.h"
#include "passes/Strategy.h"

#include "dialects/tpc/TpcDialect.h"
#include "dialects/tpc/TpcOps.h"

using namespace mlir;
using namespace mlir::tpc;

bool mlir::tpc::isActivation(Value value) {
  auto type = dyn_cast<RankedTensorType>(value.getType());
  Operation *op = value.getDefiningOp();
  return type && isa<FloatType>(type.getElementType()) && op &&
         !isa<StateOpInterface, CacheUpdateOp>(op);
}

LiveBytes mlir::tpc::activationBytes(Value value) {
  auto type = cast<RankedTensorType>(value.getType());
  SmallVector<int64_t> shape(type.getShape());
  if (DenseI64ArrayAttr largest = getMaxLocalShape(value))
    for (auto [d, size] : llvm::enumerate(largest.asArrayRef()))
      if (size >= 0)
        shape[d] = size;
  double bytes = double(type.getElementTypeBitWidth() / 8);
  bool batch = false, sequence = false;
  for (auto [d, size] : llvm::enumerate(shape)) {
    if (!ShapedType::isDynamic(size))
      bytes *= double(size);
    else if (d == 0)
      batch = true;
    else
      sequence = true;
  }
  // A sequence dimension split over the ranks (sequence parallelism) holds
  // a rank's share of the tokens.
  if (sequence)
    if (ShardingAttr sharding = getSharding(value))
      for (auto [d, dim] : llvm::enumerate(sharding.getDims()))
        if (dim.isSplit() && ShapedType::isDynamic(shape[d]) && d > 0)
          if (auto module = value.getParentRegion()
                                ->getParentOfType<ModuleOp>())
            if (std::optional<int64_t> ranks = lookupTpSize(module))
              bytes /= double(*ranks);
  LiveBytes live;
  // A sequence dimension without a batch one is still per token (batch 1).
  if (sequence)
    live.perToken = bytes;
  else if (batch)
    live.perSequence = bytes;
  else
    live.fixed = bytes;
  return live;
}

namespace {
/// `value`'s bytes as f32 (collectives reduce and gather in f32).
LiveBytes asF32(Value value) {
  LiveBytes bytes = activationBytes(value);
  double scale =
      4.0 / double(cast<RankedTensorType>(value.getType()).getElementTypeBitWidth() / 8);
  bytes.fixed *= scale;
  bytes.perSequence *= scale;
  bytes.perToken *= scale;
  return bytes;
}

/// The buffers an op's runtime call allocates besides its result, live
/// together with it (runtime/program/Ops.cpp): collectives pack and
/// communicate in f32.
LiveBytes scratchBytes(Operation *op) {
  LiveBytes scratch;
  if (!isa<AllGatherOp, AllReduceOp, ReduceScatterOp>(op))
    return scratch;
  Value input = op->getOperand(0), result = op->getResult(0);
  bool narrow =
      cast<RankedTensorType>(input.getType()).getElementTypeBitWidth() < 32;
  if (isa<AllGatherOp>(op)) {
    scratch += asF32(result); // The gathered blocks, rank after rank.
    if (narrow) {
      scratch += asF32(input);
      scratch += asF32(result);
    }
  } else if (isa<ReduceScatterOp>(op)) {
    scratch += asF32(input); // Every rank's part, packed.
    if (narrow) {
      scratch += asF32(input);
      scratch += asF32(result);
    }
  } else if (narrow) {
    scratch += asF32(input); // The sum, before rounding.
  }
  return scratch;
}
} // namespace

MemoryPlan mlir::tpc::planMemory(func::FuncOp func) {
  MemoryPlan plan;
  Block &body = func.getBody().front();
  Operation *terminator = body.getTerminator();
  // The last op of the body that reads each activation.
  llvm::DenseMap<Value, Operation *> lastUse;
  for (Operation &op : body)
    for (Value operand : op.getOperands())
      if (isActivation(operand))
        lastUse[operand] = &op;

  LiveBytes live;
  for (Operation &op : body) {
    if (&op == terminator)
      break;
    // An op's results are allocated while its operands are still live.
    LiveBytes results;
    for (Value result : op.getResults())
      if (isActivation(result))
        results += activationBytes(result);
    LiveBytes here = live;
    here += results;
    here += scratchBytes(&op);
    bool dominated = llvm::any_of(
        plan.peaks, [&](const LiveBytes &p) { return p.covers(here); });
    if (!dominated) {
      llvm::erase_if(plan.peaks,
                     [&](const LiveBytes &p) { return here.covers(p); });
      plan.peaks.push_back(here);
    }
    live += results;
    SmallVector<Value> dead;
    for (Value result : op.getResults())
      if (isActivation(result) && result.use_empty())
        dead.push_back(result);
    for (Value operand : op.getOperands())
      if (isActivation(operand) && lastUse.lookup(operand) == &op &&
          !llvm::is_contained(dead, operand))
        dead.push_back(operand);
    for (Value value : dead)
      live -= activationBytes(value);
    if (!dead.empty())
      plan.deaths[&op] = std::move(dead);
  }
  return plan;
}
