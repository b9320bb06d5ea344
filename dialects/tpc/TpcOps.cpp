//===- TpcOps.cpp - tpc operations ----------------------------------------===//
#include "dialects/tpc/TpcOps.h"
#include "dialects/tpc/ShapeRules.h"
#include "dialects/tpc/Verification.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::tpc;
namespace rules = mlir::tpc::shape_rules;
using namespace mlir::tpc::detail;

#include "dialects/tpc/TpcOpInterfaces.cpp.inc"

#define GET_OP_CLASSES
#include "dialects/tpc/TpcOps.cpp.inc"

//===----------------------------------------------------------------------===//
// Shared verifier helpers
//===----------------------------------------------------------------------===//

ArrayRef<int64_t> mlir::tpc::detail::shapeOf(Value v) {
  return cast<RankedTensorType>(v.getType()).getShape();
}

/// Reports a failed shape rule, or a result type that disagrees with it.
LogicalResult
mlir::tpc::detail::verifyResultShape(Operation *op,
                                     llvm::Expected<rules::Shape> inferred) {
  // Partitioned functions have local types; the rules are about global ones.
  if (TpcDialect::isInPartitionedFunction(op)) {
    llvm::consumeError(inferred.takeError());
    return success();
  }
  if (!inferred)
    return op->emitOpError() << llvm::toString(inferred.takeError());
  ArrayRef<int64_t> actual = shapeOf(op->getResult(0));
  if (!rules::shapesCompatible(actual, *inferred))
    return op->emitOpError()
           << "result shape must be " << rules::format(*inferred) << ", got "
           << rules::format(actual);
  return success();
}

/// Float operands (not token ids) share the result's element type.
LogicalResult mlir::tpc::detail::verifyElementTypes(Operation *op) {
  if (op->getNumResults() == 0)
    return success();
  Type expected = getElementTypeOrSelf(op->getResult(0).getType());
  for (OpOperand &operand : op->getOpOperands()) {
    Type element = getElementTypeOrSelf(operand.get().getType());
    if (isa<FloatType>(element) && element != expected)
      return op->emitOpError() << "operand #" << operand.getOperandNumber()
                               << " element type must be the result's "
                               << expected << ", got " << element;
  }
  return success();
}

/// The shape of an optional per-sequence operand.
static std::optional<ArrayRef<int64_t>> optionalShape(Value v) {
  if (!v)
    return std::nullopt;
  return shapeOf(v);
}

LogicalResult mlir::tpc::detail::verifyPositive(Operation *op,
                                                StringRef name, double value) {
  if (value > 0)
    return success();
  return op->emitOpError() << name << " must be positive, got " << value;
}

//===----------------------------------------------------------------------===//
// Shardings
//===----------------------------------------------------------------------===//

std::string mlir::tpc::describeAxes(MeshOp mesh) {
  std::string out;
  for (auto [i, axis] : llvm::enumerate(mesh.getAxes()))
    out += (i ? ", \"" : "\"") + cast<StringAttr>(axis).str() + "\"";
  return out;
}

LogicalResult mlir::tpc::verifySharding(
    ShardingAttr sharding, RankedTensorType type, MeshOp mesh,
    function_ref<InFlightDiagnostic()> emitError, bool checkGranularity) {
  if (sharding.getDims().size() != static_cast<size_t>(type.getRank()))
    return emitError() << "sharding must give one dimension entry per "
                          "tensor dimension ("
                       << type.getRank() << "), got "
                       << sharding.getDims().size();
  auto checkAxes = [&](ArrayRef<StringAttr> axes) -> LogicalResult {
    for (StringAttr axis : axes)
      if (!mesh.getAxisSize(axis))
        return emitError() << "axis must be one of mesh @" << mesh.getSymName()
                           << "'s axes (" << describeAxes(mesh) << "), got "
                           << axis;
    return success();
  };
  for (auto [d, dim] : llvm::enumerate(sharding.getDims())) {
    if (failed(checkAxes(dim.getAxes())))
      return failure();
    if (!dim.isSplit() || !checkGranularity)
      continue;
    if (llvm::Error err = rules::checkSplitGranularity(
            type.getDimSize(d), dim.getUnit(), dim.getSections()))
      return emitError() << "dimension " << d << ": "
                         << llvm::toString(std::move(err));
  }
  return checkAxes(sharding.getPartial());
}

//===----------------------------------------------------------------------===//
// MeshOp: tpc.mesh @mesh ["tp" = 4]
//===----------------------------------------------------------------------===//

ParseResult MeshOp::parse(OpAsmParser &parser, OperationState &result) {
  StringAttr name;
  if (parser.parseSymbolName(name, getSymNameAttrName(result.name),
                             result.attributes))
    return failure();
  Builder &b = parser.getBuilder();
  SmallVector<Attribute> axes;
  SmallVector<int64_t> shape;
  if (parser.parseCommaSeparatedList(
          OpAsmParser::Delimiter::Square, [&]() -> ParseResult {
            std::string axis;
            int64_t size = 0;
            if (parser.parseString(&axis) || parser.parseEqual() ||
                parser.parseInteger(size))
              return failure();
            axes.push_back(b.getStringAttr(axis));
            shape.push_back(size);
            return success();
          }))
    return failure();
  result.addAttribute(getAxesAttrName(result.name), b.getArrayAttr(axes));
  result.addAttribute(getShapeAttrName(result.name),
                      b.getDenseI64ArrayAttr(shape));
  return parser.parseOptionalAttrDict(result.attributes);
}

void MeshOp::print(OpAsmPrinter &p) {
  p << ' ';
  p.printSymbolName(getSymName());
  p << " [";
  llvm::interleaveComma(llvm::zip_equal(getAxes(), getShape()), p,
                        [&](auto axisAndSize) {
                          auto [axis, size] = axisAndSize;
                          p << axis << " = " << size;
                        });
  p << ']';
  p.printOptionalAttrDict(
      (*this)->getAttrs(),
      {getSymNameAttrName(), getAxesAttrName(), getShapeAttrName()});
}

LogicalResult MeshOp::verify() {
  if (getAxes().empty())
    return emitOpError() << "a mesh must have at least one axis, got none";
  if (getAxes().size() != getShape().size())
    return emitOpError() << "axes and shape must have one length, got "
                         << getAxes().size() << " and " << getShape().size();
  llvm::StringSet<> seen;
  for (auto [axis, size] : llvm::zip_equal(getAxes(), getShape())) {
    StringRef name = cast<StringAttr>(axis).getValue();
    if (name.empty())
      return emitOpError() << "axis names must be non-empty, got \"\"";
    if (!seen.insert(name).second)
      return emitOpError() << "axis names must be unique, got \"" << name
                           << "\" twice";
    if (size < 1)
      return emitOpError() << "axis \"" << name << "\" size must be >= 1, got "
                           << size;
  }
  return success();
}

std::optional<int64_t> MeshOp::getAxisSize(StringRef axis) {
  for (auto [name, size] : llvm::zip_equal(getAxes(), getShape()))
    if (cast<StringAttr>(name).getValue() == axis)
      return size;
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// Model ops
//===----------------------------------------------------------------------===//

LogicalResult WeightOp::verify() {
  if (getName().empty())
    return emitOpError() << "name must be the checkpoint tensor name, got \"\"";
  if (auto global = getGlobalShape()) {
    if (global->size() != static_cast<size_t>(getType().getRank()))
      return emitOpError() << "global_shape must have the type's rank "
                           << getType().getRank() << ", got "
                           << rules::format(*global);
    for (int64_t d : *global)
      if (d < 0)
        return emitOpError()
               << "global_shape must be static, got " << rules::format(*global);
  }
  if (!getType().hasStaticShape() &&
      !TpcDialect::isInPartitionedFunction(*this))
    return emitOpError() << "weight shape must be static, got "
                         << rules::format(getType().getShape());
  return success();
}

void WeightOp::recordGlobalShape(ArrayRef<int64_t> shape) {
  setGlobalShape(shape);
}

LogicalResult PositionsOp::verify() {
  return verifyResultShape(*this, rules::positions(shapeOf(getIds()),
                                                   optionalShape(getOffsets())));
}

LogicalResult EmbeddingOp::verify() {
  if (failed(verifyElementTypes(*this)))
    return failure();
  return verifyResultShape(
      *this, rules::embedding(shapeOf(getTable()), shapeOf(getIds())));
}

LogicalResult LinearOp::verify() {
  if (failed(verifyElementTypes(*this)))
    return failure();
  std::optional<ArrayRef<int64_t>> bias;
  if (getBias())
    bias = shapeOf(getBias());
  if (getActivation()) {
    if (!TpcDialect::isInPartitionedFunction(*this))
      return emitOpError() << "fuses an activation only in a partitioned "
                              "function (tpc-fuse runs after tpc-partition)";
    if (auto sharding = (*this)->getAttrOfType<ShardingAttr>(
            TpcDialect::getShardingAttrName());
        sharding && !sharding.getPartial().empty())
      return emitOpError() << "cannot apply an activation to a partial sum";
  }
  return verifyResultShape(*this, rules::linear(shapeOf(getInput()),
                                                shapeOf(getWeight()), bias,
                                                getLayout()));
}

LogicalResult SplitOp::verify() {
  if (failed(verifyElementTypes(*this)))
    return failure();
  SmallVector<int64_t> sizes;
  for (Value result : getResults()) {
    ArrayRef<int64_t> shape = shapeOf(result);
    if (shape.empty())
      return emitOpError() << "results must have rank >= 1, got "
                           << rules::format(shape);
    sizes.push_back(shape.back());
  }
  if (TpcDialect::isInPartitionedFunction(*this))
    return success();
  auto inferred = rules::split(shapeOf(getInput()), sizes);
  if (!inferred)
    return emitOpError() << llvm::toString(inferred.takeError());
  for (auto [index, expected, result] :
       llvm::enumerate(*inferred, getResults()))
    if (!rules::shapesCompatible(shapeOf(result), expected))
      return emitOpError() << "result #" << index << " shape must be "
                           << rules::format(expected) << ", got "
                           << rules::format(shapeOf(result));
  return success();
}

LogicalResult LayerNormOp::verify() {
  if (failed(verifyElementTypes(*this)) ||
      failed(verifyPositive(*this, "epsilon", getEpsilon().convertToDouble())))
    return failure();
  return verifyResultShape(
      *this, rules::norm(shapeOf(getInput()),
                         {shapeOf(getScale()), shapeOf(getShift())}));
}

LogicalResult RmsNormOp::verify() {
  if (failed(verifyElementTypes(*this)) ||
      failed(verifyPositive(*this, "epsilon", getEpsilon().convertToDouble())))
    return failure();
  return verifyResultShape(
      *this, rules::norm(shapeOf(getInput()), {shapeOf(getScale())}));
}

LogicalResult AddLayerNormOp::verify() {
  if (failed(verifyElementTypes(*this)) ||
      failed(verifyPositive(*this, "epsilon", getEpsilon().convertToDouble())))
    return failure();
  if (llvm::Error err = rules::norm(shapeOf(getLhs()),
                                    {shapeOf(getScale()), shapeOf(getShift())})
                            .takeError())
    return emitOpError() << llvm::toString(std::move(err));
  return success();
}

LogicalResult AddRmsNormOp::verify() {
  if (failed(verifyElementTypes(*this)) ||
      failed(verifyPositive(*this, "epsilon", getEpsilon().convertToDouble())))
    return failure();
  if (llvm::Error err =
          rules::norm(shapeOf(getLhs()), {shapeOf(getScale())}).takeError())
    return emitOpError() << llvm::toString(std::move(err));
  return success();
}

LogicalResult RopeOp::verify() {
  if (failed(verifyPositive(*this, "theta", getTheta().convertToDouble())))
    return failure();
  return verifyResultShape(*this,
                           rules::rope(shapeOf(getInput()), getHeadDim(),
                                       optionalShape(getOffsets())));
}

LogicalResult AttentionOp::verify() {
  if (failed(verifyElementTypes(*this)))
    return failure();
  if (getWindow() && *getWindow() < 1)
    return emitOpError() << "window must be >= 1, got " << *getWindow();
  return verifyResultShape(
      *this,
      rules::attention(shapeOf(getQ()), shapeOf(getK()), shapeOf(getV()),
                       getNumHeads(), getNumKvHeads(),
                       optionalShape(getOffsets())));
}

LogicalResult LmHeadOp::verify() {
  if (failed(verifyElementTypes(*this)))
    return failure();
  return verifyResultShape(
      *this, rules::lmHead(shapeOf(getInput()), shapeOf(getWeight())));
}

LogicalResult LastTokenOp::verify() {
  if (failed(verifyElementTypes(*this)))
    return failure();
  return verifyResultShape(
      *this, rules::lastToken(shapeOf(getInput()), shapeOf(getLengths())));
}

//===----------------------------------------------------------------------===//
// Memory
//===----------------------------------------------------------------------===//

LogicalResult ReleaseOp::verify() {
  if (getValues().empty())
    return emitOpError() << "needs at least one value to release";
  for (auto [index, value] : llvm::enumerate(getValues())) {
    if (llvm::is_contained(getValues().take_front(index), value))
      return emitOpError() << "releases operand #" << index << " twice";
    if (value.getDefiningOp<KvCacheOp>() || value.getDefiningOp<WeightOp>() ||
        value.getDefiningOp<CacheUpdateOp>())
      return emitOpError() << "operand #" << index
                           << " is program state (a weight or a KV cache), "
                              "which lives across calls";
    for (Operation *user : value.getUsers())
      if (user != getOperation() && user->getBlock() == (*this)->getBlock() &&
          (*this)->isBeforeInBlock(user))
        return user->emitOpError()
               << "uses a value released earlier by " << getOperationName();
  }
  return success();
}

//===----------------------------------------------------------------------===//
// KV cache
//===----------------------------------------------------------------------===//

LogicalResult KvCacheOp::verify() {
  if (getName().empty())
    return emitOpError() << "name must name the cache buffer, got \"\"";
  if (auto features = getGlobalFeatures(); features && *features < 1)
    return emitOpError() << "global_features must be positive, got "
                         << *features;
  if (getType().getRank() != 3)
    return emitOpError() << "a KV cache must have rank 3, got "
                         << rules::format(getType().getShape());
  if (TpcDialect::isInPartitionedFunction(*this))
    return success();
  if (llvm::Error err = rules::kvCache(getType().getShape()))
    return emitOpError() << llvm::toString(std::move(err));
  return success();
}

void KvCacheOp::recordGlobalShape(ArrayRef<int64_t> shape) {
  setGlobalFeatures(shape.back());
}

LogicalResult CacheUpdateOp::verify() {
  if (failed(verifyElementTypes(*this)))
    return failure();
  // The update writes the buffer in place: nothing may see it before.
  if (!getCache().getDefiningOp<KvCacheOp>() || !getCache().hasOneUse())
    return emitOpError() << "cache must be a tpc.kv_cache that only this "
                            "update uses (it is written in place)";
  return verifyResultShape(
      *this, rules::cacheUpdate(shapeOf(getCache()), shapeOf(getInput()),
                                shapeOf(getOffsets())));
}

//===----------------------------------------------------------------------===//
// Type inference
//===----------------------------------------------------------------------===//

FailureOr<SmallVector<Type>> mlir::tpc::inferResultTypes(Operation *op) {
  auto elementOf = [](Value v) {
    return cast<RankedTensorType>(v.getType()).getElementType();
  };
  // A rule's shape with the element type of `like`.
  auto typed = [&](llvm::Expected<rules::Shape> shape,
                   Value like) -> FailureOr<SmallVector<Type>> {
    if (!shape)
      return op->emitOpError() << llvm::toString(shape.takeError());
    return SmallVector<Type>{RankedTensorType::get(*shape, elementOf(like))};
  };
  auto same = [](Value v) -> FailureOr<SmallVector<Type>> {
    return SmallVector<Type>{v.getType()};
  };
  return llvm::TypeSwitch<Operation *, FailureOr<SmallVector<Type>>>(op)
      .Case<WeightOp, KvCacheOp>(
          [&](Operation *state) { return same(state->getResult(0)); })
      .Case<PositionsOp>([&](PositionsOp p) {
        return typed(rules::positions(shapeOf(p.getIds()),
                                      optionalShape(p.getOffsets())),
                     p.getIds());
      })
      .Case<EmbeddingOp>([&](EmbeddingOp e) {
        return typed(rules::embedding(shapeOf(e.getTable()), shapeOf(e.getIds())),
                     e.getTable());
      })
      .Case<LinearOp>([&](LinearOp l) {
        return typed(rules::linear(shapeOf(l.getInput()), shapeOf(l.getWeight()),
                                   optionalShape(l.getBias()), l.getLayout()),
                     l.getInput());
      })
      .Case<SplitOp>([&](SplitOp s) -> FailureOr<SmallVector<Type>> {
        SmallVector<int64_t> sizes;
        for (Value result : s.getResults())
          sizes.push_back(shapeOf(result).back());
        auto shapes = rules::split(shapeOf(s.getInput()), sizes);
        if (!shapes)
          return op->emitOpError() << llvm::toString(shapes.takeError());
        SmallVector<Type> types;
        for (const rules::Shape &shape : *shapes)
          types.push_back(
              RankedTensorType::get(shape, elementOf(s.getInput())));
        return types;
      })
      .Case<AddOp, MulOp, SiluMulOp>(
          [&](Operation *b) { return same(b->getOperand(0)); })
      .Case<GeluOp, SiluOp, LayerNormOp, RmsNormOp>(
          [&](Operation *u) { return same(u->getOperand(0)); })
      .Case<RopeOp>([&](RopeOp r) {
        return typed(rules::rope(shapeOf(r.getInput()), r.getHeadDim(),
                                 optionalShape(r.getOffsets())),
                     r.getInput());
      })
      .Case<AttentionOp>([&](AttentionOp a) {
        return typed(rules::attention(shapeOf(a.getQ()), shapeOf(a.getK()),
                                      shapeOf(a.getV()), a.getNumHeads(),
                                      a.getNumKvHeads(),
                                      optionalShape(a.getOffsets())),
                     a.getQ());
      })
      .Case<LmHeadOp>([&](LmHeadOp h) {
        return typed(rules::lmHead(shapeOf(h.getInput()), shapeOf(h.getWeight())),
                     h.getInput());
      })
      .Case<LastTokenOp>([&](LastTokenOp t) {
        return typed(rules::lastToken(shapeOf(t.getInput()),
                                      shapeOf(t.getLengths())),
                     t.getInput());
      })
      .Case<CacheUpdateOp>([&](CacheUpdateOp u) {
        return typed(rules::cacheUpdate(shapeOf(u.getCache()),
                                        shapeOf(u.getInput()),
                                        shapeOf(u.getOffsets())),
                     u.getCache());
      })
      .Default([&](Operation *other) -> FailureOr<SmallVector<Type>> {
        return other->emitOpError()
               << "has no shape rule to infer its result types from";
      });
}

//===----------------------------------------------------------------------===//
// Collectives
//===----------------------------------------------------------------------===//

/// The size of the mesh axis a collective runs over, or failure (reported)
/// when the mesh or the axis does not exist.
template <typename CollectiveOp>
static FailureOr<int64_t> verifyMeshAxis(CollectiveOp op,
                                         SymbolTableCollection &symbols) {
  MeshOp mesh = op.getMeshOp(symbols);
  if (!mesh)
    return op.emitOpError()
           << "mesh " << op.getMeshAttr() << " must name a tpc.mesh in scope";
  std::optional<int64_t> size = mesh.getAxisSize(op.getAxis());
  if (!size)
    return op.emitOpError()
           << "axis must be one of mesh " << op.getMeshAttr() << "'s axes ("
           << describeAxes(mesh) << "), got \"" << op.getAxis() << "\"";
  return *size;
}

template <typename CollectiveOp>
static MeshOp lookupMesh(CollectiveOp op, SymbolTableCollection &symbols) {
  return symbols.lookupNearestSymbolFrom<MeshOp>(op, op.getMeshAttr());
}

MeshOp AllReduceOp::getMeshOp(SymbolTableCollection &symbols) {
  return lookupMesh(*this, symbols);
}
MeshOp AllGatherOp::getMeshOp(SymbolTableCollection &symbols) {
  return lookupMesh(*this, symbols);
}
MeshOp ReduceScatterOp::getMeshOp(SymbolTableCollection &symbols) {
  return lookupMesh(*this, symbols);
}
MeshOp AllSliceOp::getMeshOp(SymbolTableCollection &symbols) {
  return lookupMesh(*this, symbols);
}

LogicalResult AllReduceOp::verifySymbolUses(SymbolTableCollection &symbols) {
  return verifyMeshAxis(*this, symbols);
}

LogicalResult AllGatherOp::verifySymbolUses(SymbolTableCollection &symbols) {
  FailureOr<int64_t> size = verifyMeshAxis(*this, symbols);
  if (failed(size) || failed(verifyElementTypes(*this)))
    return failure();
  return verifyResultShape(
      *this, rules::allGather(shapeOf(getInput()), getDim(), *size));
}

LogicalResult
ReduceScatterOp::verifySymbolUses(SymbolTableCollection &symbols) {
  FailureOr<int64_t> size = verifyMeshAxis(*this, symbols);
  if (failed(size) || failed(verifyElementTypes(*this)))
    return failure();
  return verifyResultShape(
      *this, rules::reduceScatter(shapeOf(getInput()), getDim(), *size));
}

LogicalResult AllSliceOp::verifySymbolUses(SymbolTableCollection &symbols) {
  FailureOr<int64_t> size = verifyMeshAxis(*this, symbols);
  if (failed(size) || failed(verifyElementTypes(*this)))
    return failure();
  // A slice has the shape of one rank's share of a reduce-scatter.
  return verifyResultShape(
      *this, rules::reduceScatter(shapeOf(getInput()), getDim(), *size));
}
