//===- DeriveGeneration.cpp - prefill and decode programs from @forward ---===//
//
// Text generation runs two programs over one model: prefill reads a batch of
// right-padded prompts and fills every attention layer's KV cache; decode
// appends one token per sequence against that cache. Both are the forward
// graph with three rewrites, so every model family and every hand-written
// model gets them with no code of its own:
//
//  - positions and RoPE count from a per-sequence offset (the tokens the
//    cache already holds);
//  - each attention writes its new keys and values into a named cache
//    (tpc.kv_cache + tpc.cache_update) and attends over the cache;
//  - only each sequence's last token reaches the LM head (tpc.last_token,
//    moved above the token-wise ops that end the graph).
//
// Decode's token ids are [batch, 1]; its types are re-inferred from the
// shape rules, so the planner and the report see one token per sequence.
//
//===----------------------------------------------------------------------===//
#include "passes/Passes.h"

#include "dialects/tpc/TpcOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/StringSet.h"

namespace mlir::tpc {
#define GEN_PASS_DEF_DERIVEGENERATION
#include "passes/Passes.h.inc"
} // namespace mlir::tpc

using namespace mlir;
using namespace mlir::tpc;

namespace {
/// True for ops that compute each token from that token alone, from their
/// first operand: taking the last token before them equals taking it after.
bool isTokenWise(Operation *op) {
  return isa<LmHeadOp, LinearOp, LayerNormOp, RmsNormOp, GeluOp, SiluOp>(op);
}

class Deriver {
public:
  /// Rewrites `func`, a copy of `source`, which messages name.
  Deriver(func::FuncOp func, StringRef source, bool decode)
      : func(func), source(source), decode(decode) {}
  LogicalResult run();

private:
  /// `v` [batch, seq, n] reduced to each sequence's last token, taken as
  /// early as the token-wise ops producing `v` allow.
  FailureOr<Value> lastTokenOf(Value v);
  /// A name for the caches of `attention` unique in the function.
  std::string cacheName(AttentionOp attention, int index);
  LogicalResult cacheAttention(AttentionOp attention, int index);

  func::FuncOp func;
  StringRef source;
  bool decode;
  Value offsets, lengths;
  llvm::StringSet<> usedNames;
};
} // namespace

std::string Deriver::cacheName(AttentionOp attention, int index) {
  std::string base;
  if (auto name = dyn_cast<NameLoc>(attention.getLoc()))
    base = name.getName().str();
  else
    base = "attention." + std::to_string(index);
  if (!usedNames.insert(base).second)
    base += "." + std::to_string(index);
  return base;
}

LogicalResult Deriver::cacheAttention(AttentionOp attention, int index) {
  if (attention.getOffsets())
    return attention.emitError()
           << "tpc-derive-generation: this attention already reads a KV "
              "cache; derive from a forward graph without one";
  OpBuilder b(attention);
  std::string name = cacheName(attention, index);
  auto cached = [&](Value fresh, StringRef suffix) -> Value {
    auto type = cast<RankedTensorType>(fresh.getType());
    auto cacheType = RankedTensorType::get(
        {type.getDimSize(0), ShapedType::kDynamic, type.getDimSize(2)},
        type.getElementType());
    Value cache = KvCacheOp::create(b, attention.getLoc(), cacheType,
                                    b.getStringAttr(name + suffix),
                                    IntegerAttr());
    return CacheUpdateOp::create(b, attention.getLoc(), cacheType, cache, fresh,
                                 offsets);
  };
  Value k = cached(attention.getK(), ".k_cache");
  Value v = cached(attention.getV(), ".v_cache");
  attention.getKMutable().assign(k);
  attention.getVMutable().assign(v);
  attention.getOffsetsMutable().assign(offsets);
  return success();
}

FailureOr<Value> Deriver::lastTokenOf(Value v) {
  auto type = dyn_cast<RankedTensorType>(v.getType());
  if (!type || type.getRank() != 3)
    return func.emitError() << "tpc-derive-generation: @" << source
                            << " must return [batch, seq, vocab] logits, got "
                            << v.getType();
  Operation *producer = v.getDefiningOp();
  if (!producer || !isTokenWise(producer) || !v.hasOneUse()) {
    OpBuilder b = producer ? OpBuilder(producer->getBlock(),
                                       ++Block::iterator(producer))
                           : OpBuilder::atBlockBegin(v.getParentBlock());
    auto last = RankedTensorType::get({type.getDimSize(0), type.getDimSize(2)},
                                      type.getElementType());
    return LastTokenOp::create(b, v.getLoc(), last, v, lengths).getResult();
  }
  FailureOr<Value> input = lastTokenOf(producer->getOperand(0));
  if (failed(input))
    return failure();
  OpBuilder b(producer);
  Operation *last = b.clone(*producer);
  last->setOperand(0, *input);
  FailureOr<SmallVector<Type>> types = inferResultTypes(last);
  if (failed(types))
    return failure();
  last->getResult(0).setType(types->front());
  return last->getResult(0);
}

LogicalResult Deriver::run() {
  Block &body = func.front();
  if (func.getNumArguments() != 1)
    return func.emitError() << "tpc-derive-generation: @" << source
                            << " must take one argument (token ids), got "
                            << func.getNumArguments();
  auto ids = dyn_cast<RankedTensorType>(body.getArgument(0).getType());
  if (!ids || ids.getRank() != 2 || !ids.getElementType().isInteger())
    return func.emitError() << "tpc-derive-generation: token ids must be "
                               "[batch, seq] integers, got "
                            << body.getArgument(0).getType();

  // One offset (tokens already cached) and one length (tokens of this call
  // that are not padding) per sequence.
  OpBuilder b(func.getContext());
  auto perSequence =
      RankedTensorType::get({ids.getDimSize(0)}, b.getI32Type());
  offsets = body.addArgument(perSequence, func.getLoc());
  lengths = body.addArgument(perSequence, func.getLoc());

  // Layouts pinned on @forward's activations describe its shapes, not
  // these programs'; pinned weights keep their layouts (tpc-auto-shard
  // gives a name one layout in every function).
  func.walk([](Operation *op) {
    if (!isa<StateOpInterface>(op))
      op->removeAttr(TpcDialect::getShardingAttrName());
  });

  SmallVector<Operation *> ops;
  func.walk([&](Operation *op) { ops.push_back(op); });
  int attentions = 0;
  for (Operation *op : ops) {
    if (auto positions = dyn_cast<PositionsOp>(op)) {
      if (!positions.getOffsets())
        positions.getOffsetsMutable().assign(offsets);
    } else if (auto rope = dyn_cast<RopeOp>(op)) {
      if (!rope.getOffsets())
        rope.getOffsetsMutable().assign(offsets);
    } else if (auto attention = dyn_cast<AttentionOp>(op)) {
      if (failed(cacheAttention(attention, attentions++)))
        return failure();
    }
  }
  if (attentions == 0)
    return func.emitError() << "tpc-derive-generation: @" << source
                            << " has no attention, so nothing to cache";

  auto ret = cast<func::ReturnOp>(body.getTerminator());
  for (OpOperand &operand : ret->getOpOperands()) {
    Value old = operand.get();
    FailureOr<Value> last = lastTokenOf(old);
    if (failed(last))
      return failure();
    operand.set(*last);
    // The token-wise ops the last token was taken through are dead now.
    for (Operation *dead = old.getDefiningOp();
         dead && isTokenWise(dead) && dead->use_empty();) {
      Operation *next = dead->getOperand(0).getDefiningOp();
      dead->erase();
      dead = next;
    }
  }

  if (decode) {
    // One new token per sequence: re-infer every type from [batch, 1] ids.
    body.getArgument(0).setType(
        RankedTensorType::get({ids.getDimSize(0), 1}, ids.getElementType()));
    for (Operation &op : body.without_terminator()) {
      FailureOr<SmallVector<Type>> types = inferResultTypes(&op);
      if (failed(types))
        return failure();
      for (auto [result, type] : llvm::zip(op.getResults(), *types))
        result.setType(type);
    }
  }
  func.setFunctionType(FunctionType::get(
      func.getContext(), body.getArgumentTypes(), ret.getOperandTypes()));
  func->setAttr(TpcDialect::getShardedResultsAttrName(),
                UnitAttr::get(func.getContext()));
  return success();
}

namespace {
struct DeriveGenerationPass
    : public mlir::tpc::impl::DeriveGenerationBase<DeriveGenerationPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto forward = module.lookupSymbol<func::FuncOp>(kForwardFuncName);
    if (!forward || forward.isExternal()) {
      module.emitError() << "tpc-derive-generation needs a @"
                         << kForwardFuncName << " function to derive from";
      return signalPassFailure();
    }
    if (forward->hasAttr(TpcDialect::getPartitionedAttrName())) {
      forward.emitError() << "tpc-derive-generation runs before tpc-partition";
      return signalPassFailure();
    }
    OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
    for (auto [name, decode] :
         {std::pair{kPrefillFuncName, false}, {kDecodeFuncName, true}}) {
      if (module.lookupSymbol(name)) {
        module.emitError() << "tpc-derive-generation: the module already has "
                              "a symbol @"
                           << name;
        return signalPassFailure();
      }
      auto func = cast<func::FuncOp>(b.clone(*forward));
      func.setSymName(name);
      if (failed(Deriver(func, kForwardFuncName, decode).run()))
        return signalPassFailure();
    }
  }
};
} // namespace
