//===- TpcDialect.cpp - the tpc dialect -----------------------------------===//
#include "dialects/tpc/TpcDialect.h"
#include "dialects/tpc/TpcOps.h"

#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace mlir::tpc;

#include "dialects/tpc/TpcDialect.cpp.inc"

bool TpcDialect::isInPartitionedFunction(Operation *op) {
  for (Operation *parent = op->getParentOp(); parent;
       parent = parent->getParentOp())
    if (parent->hasAttr(getPartitionedAttrName()))
      return true;
  return false;
}

void TpcDialect::initialize() {
  registerAttributes();
  addOperations<
#define GET_OP_LIST
#include "dialects/tpc/TpcOps.cpp.inc"
      >();
}

/// Verifies a pinned sharding: `tpc.sharding` holds one #tpc.sharding per
/// result (bare for a single result), each valid on its mesh and type.
LogicalResult TpcDialect::verifyOperationAttribute(Operation *op,
                                                   NamedAttribute attr) {
  StringRef name = attr.getName().getValue();
  if (name == getModelTypeAttrName()) {
    if (!isa<StringAttr>(attr.getValue()))
      return op->emitError()
             << "'" << name << "' must be a string, got " << attr.getValue();
    return success();
  }
  if (name == getMaxPositionsAttrName()) {
    auto value = dyn_cast<IntegerAttr>(attr.getValue());
    if (!value || value.getValue().getSExtValue() < 1)
      return op->emitError()
             << "'" << name << "' must be a positive integer, got "
             << attr.getValue();
    return success();
  }
  if (name == getEosTokenIdsAttrName()) {
    auto ids = dyn_cast<DenseI64ArrayAttr>(attr.getValue());
    if (!ids || llvm::any_of(ids.asArrayRef(), [](int64_t id) { return id < 0; }))
      return op->emitError() << "'" << name
                             << "' must be an array<i64> of non-negative "
                                "token ids, got "
                             << attr.getValue();
    return success();
  }
  if (name == getMaxLocalShapeAttrName()) {
    // One array<i64> for an op's single result, an array of them (one per
    // result) for several.
    auto fits = [](Attribute entry, Value result) {
      auto shape = dyn_cast<DenseI64ArrayAttr>(entry);
      auto type = dyn_cast<RankedTensorType>(result.getType());
      return shape && type && shape.size() == type.getRank() &&
             llvm::all_of(shape.asArrayRef(), [](int64_t d) { return d >= -1; });
    };
    if (op->getNumResults() == 1) {
      if (!fits(attr.getValue(), op->getResult(0)))
        return op->emitError() << "'" << name
                               << "' must be an array<i64> with one size (or "
                                  "-1) per dimension of the op's one tensor "
                                  "result, got "
                               << attr.getValue();
      return success();
    }
    auto shapes = dyn_cast<ArrayAttr>(attr.getValue());
    if (!shapes || shapes.size() != op->getNumResults() ||
        llvm::any_of(llvm::zip(shapes.getValue(), op->getResults()),
                     [&](auto pair) {
                       return !fits(std::get<0>(pair), std::get<1>(pair));
                     }))
      return op->emitError()
             << "'" << name << "' of an op with " << op->getNumResults()
             << " results must be an array of array<i64>, one per tensor "
                "result with one size (or -1) per dimension, got "
             << attr.getValue();
    return success();
  }
  if (name == getPartitionedAttrName() || name == getShardedResultsAttrName()) {
    if (!isa<UnitAttr>(attr.getValue()))
      return op->emitError() << "'" << name << "' must be a unit attribute, "
                             << "got " << attr.getValue();
    return success();
  }
  if (name != getShardingAttrName())
    return op->emitError() << "unknown tpc attribute '" << name
                           << "', expected one of '" << getShardingAttrName()
                           << "', '" << getModelTypeAttrName() << "', '"
                           << getMaxPositionsAttrName() << "', '"
                           << getMaxLocalShapeAttrName() << "', '"
                           << getPartitionedAttrName() << "', '"
                           << getShardedResultsAttrName() << "', '"
                           << getEosTokenIdsAttrName() << "'";

  SmallVector<Attribute> entries;
  if (auto array = dyn_cast<ArrayAttr>(attr.getValue()))
    llvm::append_range(entries, array.getValue());
  else
    entries.push_back(attr.getValue());
  if (entries.size() != op->getNumResults())
    return op->emitError() << "'" << getShardingAttrName()
                           << "' must give one sharding per result ("
                           << op->getNumResults() << "), got "
                           << entries.size();

  for (auto [index, entry] : llvm::enumerate(entries)) {
    auto emitError = [&, index = index] {
      return op->emitError() << "'" << getShardingAttrName() << "' of result #"
                             << index << ": ";
    };
    auto sharding = dyn_cast<ShardingAttr>(entry);
    if (!sharding)
      return emitError() << "must be a #tpc.sharding, got " << entry;
    auto type = dyn_cast<RankedTensorType>(op->getResult(index).getType());
    if (!type)
      return emitError() << "only ranked tensors can be sharded, got "
                         << op->getResult(index).getType();
    auto mesh =
        SymbolTable::lookupNearestSymbolFrom<MeshOp>(op, sharding.getMesh());
    if (!mesh)
      return emitError() << "mesh " << sharding.getMesh()
                         << " must name a tpc.mesh in scope";
    // In a partitioned function types are local: only global types can be
    // checked for whole units.
    if (failed(verifySharding(sharding, type, mesh, emitError,
                              !isInPartitionedFunction(op))))
      return failure();
  }
  return success();
}
