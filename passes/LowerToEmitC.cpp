//===- LowerToEmitC.cpp - the partitioned program as calls into the runtime
//===//
//
// Every tpc op of a partitioned function becomes one emitc.call_opaque of
// the runtime's program layer (runtime/program/Ops.h), with the op's global
// attributes and the partitioner's layouts as literal arguments; tensors
// become tpc::Tensor (token ids tpc::program::Ids); the function takes the
// rank's tpc::program::RankContext first and passes it to every call. MLIR's
// C++ emitter prints the result; no C++ is assembled by hand.
//
//===----------------------------------------------------------------------===//
#include "passes/Passes.h"
#include "passes/Strategy.h"

#include "mlir/Dialect/EmitC/IR/EmitC.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Func/Transforms/FuncConversions.h"
#include "mlir/Transforms/DialectConversion.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FormatVariadic.h"

namespace mlir::tpc {
#define GEN_PASS_DEF_LOWERTOEMITC
#include "passes/Passes.h.inc"
} // namespace mlir::tpc

using namespace mlir;
using namespace mlir::tpc;

namespace {
constexpr llvm::StringLiteral kContextType = "tpc::program::RankContext &";

/// Builds the operand list and `args` of one emitc.call_opaque.
class Call {
public:
  explicit Call(MLIRContext *ctx) : ctx(ctx) {}
  Call &operand(Value v) {
    args.push_back(IntegerAttr::get(IndexType::get(ctx), operands.size()));
    operands.push_back(v);
    return *this;
  }
  Call &literal(const Twine &text) {
    args.push_back(emitc::OpaqueAttr::get(ctx, text.str()));
    return *this;
  }
  Call &integer(int64_t value) { return literal(Twine(value)); }
  Call &boolean(bool value) { return literal(value ? "true" : "false"); }
  Call &real(double value) {
    return literal(llvm::formatv("{0:e17}", value).str());
  }
  Call &string(StringRef text) { return literal("\"" + text + "\""); }
  Value build(OpBuilder &b, Location loc, Type result, StringRef callee) {
    return emitc::CallOpaqueOp::create(b, loc, TypeRange{result},
                                       ("tpc::program::" + callee).str(),
                                       operands, ArrayAttr::get(ctx, args))
        .getResult(0);
  }
  /// A call whose result is not used (void).
  void buildVoid(OpBuilder &b, Location loc, StringRef callee) {
    emitc::CallOpaqueOp::create(b, loc, TypeRange{},
                                ("tpc::program::" + callee).str(), operands,
                                ArrayAttr::get(ctx, args));
  }

private:
  MLIRContext *ctx;
  SmallVector<Value> operands;
  SmallVector<Attribute> args;
};

/// The layout of `v` (as its producer's tpc.sharding says) as a C++
/// tpc::program::Layout literal.
std::string layoutOf(Value v) { return runtimeLayoutLiteral(getSharding(v)); }
} // namespace

std::string mlir::tpc::runtimeLayoutLiteral(ShardingAttr sharding) {
  if (!sharding)
    return "tpc::program::Layout{}";
  int dim = -1;
  for (auto [d, ds] : llvm::enumerate(sharding.getDims()))
    if (ds.isSplit())
      dim = d;
  DimShardingAttr ds = dim >= 0 ? sharding.getDims()[dim] : DimShardingAttr();
  return llvm::formatv("tpc::program::Layout{{{0}, {1}, {2}, {3}, {4}}", dim,
                       sharding.getPartial().empty() ? "false" : "true",
                       ds ? ds.getUnit() : 1, ds ? ds.getSections() : 1,
                       ds ? ds.getGroups() : 1)
      .str();
}

namespace {

/// The runtime's name for a float element type (tensors of tpc ops are f32,
/// bf16 or f16: the dialect admits no other).
std::string dtypeOf(Type element) {
  if (element.isBF16())
    return "tpc::DType::BF16";
  if (element.isF16())
    return "tpc::DType::F16";
  return "tpc::DType::F32";
}

bool isPartial(Value v) {
  ShardingAttr s = getSharding(v);
  return s && !s.getPartial().empty();
}

/// The size of dimension `d` of `v`'s global type, or -1 when it is the
/// run's sequence length (dynamic).
int64_t globalDim(Value v, int64_t d) {
  auto type = cast<RankedTensorType>(v.getType());
  return type.isDynamicDim(d) ? -1 : type.getDimSize(d);
}

Value contextOf(Operation *op) {
  return op->getParentOfType<func::FuncOp>().getArgument(0);
}

/// Lowers each op through `build`, which makes the call from the original
/// op (for attributes and layouts) and the converted operands.
template <typename OpT> struct CallPattern : public OpConversionPattern<OpT> {
  using Adaptor = typename OpT::Adaptor;
  using Builder = std::function<Value(OpT, Adaptor, Call &, OpBuilder &, Type)>;
  CallPattern(const TypeConverter &converter, MLIRContext *ctx, Builder build)
      : OpConversionPattern<OpT>(converter, ctx), build(std::move(build)) {}

  LogicalResult
  matchAndRewrite(OpT op, Adaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Type result =
        this->getTypeConverter()->convertType(op->getResult(0).getType());
    // Every runtime call takes the rank's context first.
    Call call(op->getContext());
    call.operand(contextOf(op));
    rewriter.replaceOp(op, build(op, adaptor, call, rewriter, result));
    return success();
  }

  Builder build;
};

struct SplitPattern : public OpConversionPattern<SplitOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(SplitOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    SmallVector<Value> pieces;
    for (unsigned i = 0; i < op.getNumResults(); ++i) {
      Call call(op->getContext());
      pieces.push_back(
          call.operand(contextOf(op))
              .operand(adaptor.getInput())
              .integer(op.getNumResults())
              .integer(i)
              .build(rewriter, op.getLoc(),
                     getTypeConverter()->convertType(op.getResult(i).getType()),
                     "splitPiece"));
    }
    rewriter.replaceOp(op, pieces);
    return success();
  }
};

/// A fused add + norm: one call returns both tensors
/// (tpc::program::SumAndNorm), which two calls move out.
template <typename OpT>
struct AddNormPattern : public OpConversionPattern<OpT> {
  using OpConversionPattern<OpT>::OpConversionPattern;
  LogicalResult
  matchAndRewrite(OpT op, typename OpT::Adaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    MLIRContext *ctx = op->getContext();
    Value context = contextOf(op);
    Call call(ctx);
    call.operand(context)
        .operand(adaptor.getLhs())
        .operand(adaptor.getRhs())
        .operand(adaptor.getScale());
    StringRef callee = "addRmsNorm";
    if constexpr (std::is_same_v<OpT, AddLayerNormOp>) {
      call.operand(adaptor.getShift());
      callee = "addLayerNorm";
    }
    Value both = call.real(op.getEpsilon().convertToDouble())
                     .build(rewriter, op.getLoc(),
                            emitc::OpaqueType::get(ctx, "tpc::program::SumAndNorm"),
                            callee);
    Type tensor = this->getTypeConverter()->convertType(op.getSum().getType());
    SmallVector<Value> results;
    for (StringRef take : {"takeSum", "takeNorm"}) {
      Call part(ctx);
      results.push_back(part.operand(context).operand(both).build(
          rewriter, op.getLoc(), tensor, take));
    }
    rewriter.replaceOp(op, results);
    return success();
  }
};

/// An op with several results: one call returns them all
/// (std::vector<tpc::Tensor>), tpc::program::take moves each out.
template <typename OpT>
struct MultiResultPattern : public OpConversionPattern<OpT> {
  using Adaptor = typename OpT::Adaptor;
  using Builder = std::function<StringRef(OpT, Adaptor, Call &)>;
  MultiResultPattern(const TypeConverter &converter, MLIRContext *ctx,
                     Builder build)
      : OpConversionPattern<OpT>(converter, ctx), build(std::move(build)) {}

  LogicalResult
  matchAndRewrite(OpT op, Adaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    MLIRContext *ctx = op->getContext();
    Value context = contextOf(op);
    Call call(ctx);
    call.operand(context);
    StringRef callee = build(op, adaptor, call);
    Value parts = call.build(
        rewriter, op.getLoc(),
        emitc::OpaqueType::get(ctx, "std::vector<tpc::Tensor>"), callee);
    SmallVector<Value> results;
    for (unsigned i = 0; i < op->getNumResults(); ++i) {
      Call part(ctx);
      results.push_back(part.operand(context).operand(parts).integer(i).build(
          rewriter, op.getLoc(),
          this->getTypeConverter()->convertType(op->getResult(i).getType()),
          "take"));
    }
    rewriter.replaceOp(op, results);
    return success();
  }

  Builder build;
};

/// The weights (by name, over every function of the module) that only
/// tpc.linear (as its weight) and tpc.lm_head (as its table) read, all
/// with one layout: whether it is [in, out]. They are loaded through
/// tpc::program::linearWeight, which lets the backend keep them in the form
/// its GEMMs read fastest; a weight anything else reads (an embedding table
/// tied to the LM head, a gradient, an optimizer) is left as loaded.
llvm::StringMap<bool> linearOnlyWeights(ModuleOp module) {
  llvm::StringMap<bool> inOutOf;
  llvm::StringSet<> readOtherwise;
  module.walk([&](WeightOp weight) {
    StringRef name = weight.getName();
    for (OpOperand &use : weight.getResult().getUses()) {
      // Operand 1 of both is the weight (0 is the input).
      std::optional<bool> inOut;
      if (auto linear = dyn_cast<LinearOp>(use.getOwner());
          linear && use.getOperandNumber() == 1)
        inOut = linear.getLayout() == WeightLayout::InOut;
      else if (isa<LmHeadOp>(use.getOwner()) && use.getOperandNumber() == 1)
        inOut = false;
      if (!inOut) {
        readOtherwise.insert(name);
        continue;
      }
      auto [it, fresh] = inOutOf.try_emplace(name, *inOut);
      if (!fresh && it->second != *inOut)
        readOtherwise.insert(name);
    }
  });
  for (const auto &name : readOtherwise)
    inOutOf.erase(name.getKey());
  return inOutOf;
}

/// A void call to `callee` with the context, the name of the weight whose
/// gradient `op` adds into, and what `rest` appends (the gradient's
/// operands and flags).
template <typename Rest>
LogicalResult lowerAccumulation(Operation *op, Value weight, StringRef callee,
                                ConversionPatternRewriter &rewriter,
                                Rest rest) {
  Call call(op->getContext());
  call.operand(contextOf(op)).string(weight.getDefiningOp<WeightOp>().getName());
  rest(call);
  call.buildVoid(rewriter, op->getLoc(), callee);
  rewriter.eraseOp(op);
  return success();
}

/// tpc.accumulate_grad: a void call naming the weight.
struct AccumulateGradPattern : public OpConversionPattern<AccumulateGradOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(AccumulateGradOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    return lowerAccumulation(op, op.getWeight(), "accumulateGrad", rewriter,
                             [&](Call &call) {
                               call.operand(adaptor.getGrad())
                                   .boolean(op.getPartial());
                             });
  }
};

/// tpc.accumulate_embedding_grad: a void call naming the table.
struct AccumulateEmbeddingGradPattern
    : public OpConversionPattern<AccumulateEmbeddingGradOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(AccumulateEmbeddingGradOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    return lowerAccumulation(op, op.getWeight(), "accumulateEmbeddingGrad",
                             rewriter, [&](Call &call) {
                               call.operand(adaptor.getGrad())
                                   .operand(adaptor.getIds())
                                   .integer(op.getVocab())
                                   .boolean(op.getPartial());
                             });
  }
};

/// tpc.accumulate_linear_weight_grad: a void call naming the weight.
struct AccumulateLinearWeightGradPattern
    : public OpConversionPattern<AccumulateLinearWeightGradOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(AccumulateLinearWeightGradOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    return lowerAccumulation(op, op.getWeight(), "accumulateLinearWeightGrad",
                             rewriter, [&](Call &call) {
                               call.operand(adaptor.getInput())
                                   .operand(adaptor.getGrad())
                                   .boolean(op.getLayout() ==
                                            WeightLayout::InOut)
                                   .boolean(op.getPartial());
                             });
  }
};

/// tpc.reduce_gradients: a void call with the bucket's weight names as a
/// braced list.
struct ReduceGradientsPattern
    : public OpConversionPattern<ReduceGradientsOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(ReduceGradientsOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    std::string names;
    for (Value weight : op.getWeights())
      names += (names.empty() ? "\"" : ", \"") +
               weight.getDefiningOp<WeightOp>().getName().str() + "\"";
    Call call(op->getContext());
    call.operand(contextOf(op))
        .literal("{" + names + "}")
        .buildVoid(rewriter, op.getLoc(), "reduceGradients");
    rewriter.eraseOp(op);
    return success();
  }
};

/// One tpc::program::release(ctx, value) per released value.
struct ReleasePattern : public OpConversionPattern<ReleaseOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(ReleaseOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    for (Value value : adaptor.getValues()) {
      Call call(op->getContext());
      call.operand(contextOf(op)).operand(value).buildVoid(rewriter, op.getLoc(),
                                                           "release");
    }
    rewriter.eraseOp(op);
    return success();
  }
};

struct LowerToEmitCPass
    : public mlir::tpc::impl::LowerToEmitCBase<LowerToEmitCPass> {
  using LowerToEmitCBase::LowerToEmitCBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    TypeConverter converter;
    converter.addConversion([](Type t) { return t; });
    converter.addConversion([ctx](RankedTensorType t) -> Type {
      return emitc::OpaqueType::get(ctx, isa<IntegerType>(t.getElementType())
                                             ? "tpc::program::Ids"
                                             : "tpc::Tensor");
    });

    // Every call takes its function's rank context: tpc ops outside a
    // function have none.
    WalkResult outside = module.walk([&](Operation *op) {
      if (isa<TpcDialect>(op->getDialect()) && !isa<MeshOp>(op) &&
          !op->getParentOfType<func::FuncOp>()) {
        op->emitError() << "tpc-lower-to-emitc lowers tpc ops inside "
                           "functions only";
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (outside.wasInterrupted())
      return signalPassFailure();

    // Functions take the rank's context first, and converted types.
    for (auto func : module.getOps<func::FuncOp>()) {
      if (func.isExternal())
        continue;
      if (!func->hasAttr(TpcDialect::getPartitionedAttrName())) {
        func.emitError() << "tpc-lower-to-emitc needs a partitioned "
                            "function; run tpc-partition first";
        return signalPassFailure();
      }
      Block &entry = func.getBody().front();
      entry.insertArgument(0u, emitc::OpaqueType::get(ctx, kContextType),
                           func.getLoc());
      for (BlockArgument arg : entry.getArguments())
        arg.setType(converter.convertType(arg.getType()));
      SmallVector<Type> results;
      for (Type t : func.getResultTypes())
        results.push_back(converter.convertType(t));
      func.setFunctionType(
          FunctionType::get(ctx, entry.getArgumentTypes(), results));
    }

    ConversionTarget target(*ctx);
    target.addLegalDialect<emitc::EmitCDialect>();
    target.addLegalOp<func::FuncOp>();
    target.addDynamicallyLegalOp<func::ReturnOp>([&](func::ReturnOp op) {
      return converter.isLegal(op.getOperandTypes());
    });
    target.addIllegalDialect<TpcDialect>();

    // Before any op is rewritten: which weights only linear layers read.
    llvm::StringMap<bool> linearWeights = linearOnlyWeights(module);

    RewritePatternSet patterns(ctx);
    auto add = [&](auto op, auto build) {
      using OpT = decltype(op);
      patterns.add<CallPattern<OpT>>(converter, ctx, build);
    };
    add(WeightOp(), [&linearWeights](WeightOp op, WeightOp::Adaptor, Call &c,
                                     OpBuilder &b, Type t) {
      // The checkpoint shape the rank's shard is cut from.
      ArrayRef<int64_t> global =
          op.getGlobalShape() ? *op.getGlobalShape() : op.getType().getShape();
      std::string shape;
      for (int64_t d : global)
        shape += (shape.empty() ? "" : ", ") + std::to_string(d);
      c.string(op.getName())
          .literal("{" + shape + "}")
          .literal(layoutOf(op.getResult()))
          .literal(dtypeOf(op.getType().getElementType()));
      auto linear = linearWeights.find(op.getName());
      if (linear == linearWeights.end())
        return c.build(b, op.getLoc(), t, "weight");
      return c.boolean(linear->second).build(b, op.getLoc(), t, "linearWeight");
    });
    add(EmbeddingOp(), [](EmbeddingOp op, EmbeddingOp::Adaptor a, Call &c,
                          OpBuilder &b, Type t) {
      auto table = op.getTable().getDefiningOp<WeightOp>();
      int64_t vocab = table && table.getGlobalShape()
                          ? (*table.getGlobalShape())[0]
                          : globalDim(op.getTable(), 0);
      return c.operand(a.getTable())
          .literal(layoutOf(op.getTable()))
          .integer(vocab)
          .operand(a.getIds())
          .build(b, op.getLoc(), t, "embedding");
    });
    add(PositionsOp(), [](PositionsOp op, PositionsOp::Adaptor a, Call &c,
                          OpBuilder &b, Type t) {
      c.operand(a.getIds());
      if (a.getOffsets())
        c.operand(a.getOffsets());
      return c.build(b, op.getLoc(), t, "positions");
    });
    add(LinearOp(),
        [](LinearOp op, LinearOp::Adaptor a, Call &c, OpBuilder &b, Type t) {
          bool inOut = op.getLayout() == WeightLayout::InOut;
          // A fused activation (tpc-fuse) is the call's last argument.
          auto activation = [&](Call &call) -> Call & {
            if (std::optional<Activation> act = op.getActivation())
              call.literal(*act == Activation::Gelu
                               ? "tpc::program::Activation::Gelu"
                               : "tpc::program::Activation::Silu");
            return call;
          };
          c.operand(a.getInput()).operand(a.getWeight());
          if (!a.getBias())
            return activation(c.boolean(inOut))
                .build(b, op.getLoc(), t, "linearNoBias");
          return activation(c.operand(a.getBias())
                                .boolean(inOut)
                                .boolean(isPartial(op.getResult())))
              .build(b, op.getLoc(), t, "linearBias");
        });
    auto binary = [&](auto op, StringRef callee) {
      using OpT = decltype(op);
      std::string name = callee.str();
      add(OpT(), [name](OpT op, typename OpT::Adaptor a, Call &c, OpBuilder &b,
                        Type t) {
        return c.operand(a.getLhs())
            .operand(a.getRhs())
            .build(b, op.getLoc(), t, name);
      });
    };
    binary(AddOp(), "add");
    binary(MulOp(), "mul");
    add(SiluMulOp(), [](SiluMulOp op, SiluMulOp::Adaptor a, Call &c,
                        OpBuilder &b, Type t) {
      return c.operand(a.getGate())
          .operand(a.getUp())
          .build(b, op.getLoc(), t, "siluMul");
    });
    auto unary = [&](auto op, StringRef callee) {
      using OpT = decltype(op);
      std::string name = callee.str();
      add(OpT(), [name](OpT op, typename OpT::Adaptor a, Call &c, OpBuilder &b,
                        Type t) {
        return c.operand(a.getInput()).build(b, op.getLoc(), t, name);
      });
    };
    auto binaryGrad = [&](auto op, StringRef callee) {
      using OpT = decltype(op);
      std::string name = callee.str();
      add(OpT(), [name](OpT op, typename OpT::Adaptor a, Call &c, OpBuilder &b,
                        Type t) {
        return c.operand(a.getInput())
            .operand(a.getGrad())
            .build(b, op.getLoc(), t, name);
      });
    };
    unary(GeluOp(), "gelu");
    unary(SiluOp(), "silu");
    add(LayerNormOp(), [](LayerNormOp op, LayerNormOp::Adaptor a, Call &c,
                          OpBuilder &b, Type t) {
      return c.operand(a.getInput())
          .operand(a.getScale())
          .operand(a.getShift())
          .real(op.getEpsilon().convertToDouble())
          .build(b, op.getLoc(), t, "layerNorm");
    });
    add(RmsNormOp(),
        [](RmsNormOp op, RmsNormOp::Adaptor a, Call &c, OpBuilder &b, Type t) {
          return c.operand(a.getInput())
              .operand(a.getScale())
              .real(op.getEpsilon().convertToDouble())
              .build(b, op.getLoc(), t, "rmsNorm");
        });
    add(RopeOp(),
        [](RopeOp op, RopeOp::Adaptor a, Call &c, OpBuilder &b, Type t) {
          c.operand(a.getInput());
          if (a.getOffsets())
            c.operand(a.getOffsets());
          return c.integer(op.getHeadDim())
              .real(op.getTheta().convertToDouble())
              .build(b, op.getLoc(), t, "rope");
        });
    add(AttentionOp(), [](AttentionOp op, AttentionOp::Adaptor a, Call &c,
                          OpBuilder &b, Type t) {
      c.operand(a.getQ()).operand(a.getK()).operand(a.getV());
      if (a.getOffsets())
        c.operand(a.getOffsets());
      return c.integer(op.getNumHeads())
          .integer(op.getNumKvHeads())
          .literal(layoutOf(op.getQ()))
          .literal(layoutOf(op.getK()))
          .integer(op.getWindow() ? int64_t(*op.getWindow()) : 0)
          .build(b, op.getLoc(), t, "attention");
    });
    add(LmHeadOp(),
        [](LmHeadOp op, LmHeadOp::Adaptor a, Call &c, OpBuilder &b, Type t) {
          return c.operand(a.getInput())
              .operand(a.getWeight())
              .build(b, op.getLoc(), t, "lmHead");
        });
    add(LastTokenOp(), [](LastTokenOp op, LastTokenOp::Adaptor a, Call &c,
                          OpBuilder &b, Type t) {
      return c.operand(a.getInput())
          .operand(a.getLengths())
          .build(b, op.getLoc(), t, "lastToken");
    });
    add(KvCacheOp(), [](KvCacheOp op, KvCacheOp::Adaptor, Call &c, OpBuilder &b,
                        Type t) {
      int64_t features = op.getGlobalFeatures()
                             ? int64_t(*op.getGlobalFeatures())
                             : op.getType().getDimSize(2);
      return c.string(op.getName())
          .integer(features)
          .literal(layoutOf(op.getResult()))
          .literal(dtypeOf(op.getType().getElementType()))
          .build(b, op.getLoc(), t, "kvCache");
    });
    add(CacheUpdateOp(), [](CacheUpdateOp op, CacheUpdateOp::Adaptor a,
                            Call &c, OpBuilder &b, Type t) {
      return c.operand(a.getCache())
          .operand(a.getInput())
          .operand(a.getOffsets())
          .build(b, op.getLoc(), t, "cacheUpdate");
    });
    add(AllReduceOp(), [](AllReduceOp op, AllReduceOp::Adaptor a, Call &c,
                          OpBuilder &b, Type t) {
      return c.operand(a.getInput()).build(b, op.getLoc(), t, "allReduced");
    });
    add(AllGatherOp(), [](AllGatherOp op, AllGatherOp::Adaptor a, Call &c,
                          OpBuilder &b, Type t) {
      return c.operand(a.getInput())
          .literal(layoutOf(op.getInput()))
          .integer(globalDim(op.getResult(), op.getDim()))
          .build(b, op.getLoc(), t, "allGather");
    });
    add(ReduceScatterOp(), [](ReduceScatterOp op, ReduceScatterOp::Adaptor a,
                              Call &c, OpBuilder &b, Type t) {
      return c.operand(a.getInput())
          .literal(layoutOf(op.getResult()))
          .build(b, op.getLoc(), t, "reduceScatter");
    });
    add(AllSliceOp(), [](AllSliceOp op, AllSliceOp::Adaptor a, Call &c,
                         OpBuilder &b, Type t) {
      return c.operand(a.getInput())
          .literal(layoutOf(op.getResult()))
          .build(b, op.getLoc(), t, "allSlice");
    });
    // Training: the loss and the derivatives.
    patterns.add<MultiResultPattern<CrossEntropyOp>>(
        converter, ctx,
        [](CrossEntropyOp op, CrossEntropyOp::Adaptor a, Call &c) {
          c.operand(a.getLogits())
              .literal(layoutOf(op.getLogits()))
              .integer(op.getVocab())
              .operand(a.getTargets())
              .integer(op.getIgnoreIndex());
          return StringRef("crossEntropy");
        });
    patterns.add<MultiResultPattern<AttentionGradOp>>(
        converter, ctx,
        [](AttentionGradOp op, AttentionGradOp::Adaptor a, Call &c) {
          c.operand(a.getQ())
              .operand(a.getK())
              .operand(a.getV())
              .operand(a.getGrad())
              .integer(op.getNumHeads())
              .integer(op.getNumKvHeads())
              .literal(layoutOf(op.getQ()))
              .literal(layoutOf(op.getK()))
              .integer(op.getWindow() ? int64_t(*op.getWindow()) : 0);
          return StringRef("attentionGrad");
        });
    add(CrossEntropyGradOp(), [](CrossEntropyGradOp op,
                                 CrossEntropyGradOp::Adaptor a, Call &c,
                                 OpBuilder &b, Type t) {
      return c.operand(a.getLogits())
          .literal(layoutOf(op.getLogits()))
          .integer(op.getVocab())
          .operand(a.getTargets())
          .operand(a.getLse())
          .operand(a.getDloss())
          .integer(op.getIgnoreIndex())
          .build(b, op.getLoc(), t, "crossEntropyGrad");
    });
    add(LinearWeightGradOp(), [](LinearWeightGradOp op,
                                 LinearWeightGradOp::Adaptor a, Call &c,
                                 OpBuilder &b, Type t) {
      return c.operand(a.getInput())
          .operand(a.getGrad())
          .boolean(op.getLayout() == WeightLayout::InOut)
          .build(b, op.getLoc(), t, "linearWeightGrad");
    });
    add(SumRowsOp(), [](SumRowsOp op, SumRowsOp::Adaptor a, Call &c,
                        OpBuilder &b, Type t) {
      return c.operand(a.getInput()).build(b, op.getLoc(), t, "sumRows");
    });
    add(EmbeddingGradOp(), [](EmbeddingGradOp op, EmbeddingGradOp::Adaptor a,
                              Call &c, OpBuilder &b, Type t) {
      return c.operand(a.getGrad())
          .operand(a.getIds())
          .literal(layoutOf(op.getResult()))
          .integer(op.getVocab())
          .build(b, op.getLoc(), t, "embeddingGrad");
    });
    binaryGrad(GeluGradOp(), "geluGrad");
    binaryGrad(SiluGradOp(), "siluGrad");
    add(NormGradOp(), [](NormGradOp op, NormGradOp::Adaptor a, Call &c,
                         OpBuilder &b, Type t) {
      return c.operand(a.getInput())
          .operand(a.getGrad())
          .operand(a.getScale())
          .real(op.getEpsilon().convertToDouble())
          .boolean(op.getCentered())
          .build(b, op.getLoc(), t, "normGrad");
    });
    add(NormScaleGradOp(), [](NormScaleGradOp op, NormScaleGradOp::Adaptor a,
                              Call &c, OpBuilder &b, Type t) {
      return c.operand(a.getInput())
          .operand(a.getGrad())
          .real(op.getEpsilon().convertToDouble())
          .boolean(op.getCentered())
          .build(b, op.getLoc(), t, "normScaleGrad");
    });
    add(RopeGradOp(), [](RopeGradOp op, RopeGradOp::Adaptor a, Call &c,
                         OpBuilder &b, Type t) {
      return c.operand(a.getGrad())
          .integer(op.getHeadDim())
          .real(op.getTheta().convertToDouble())
          .build(b, op.getLoc(), t, "ropeGrad");
    });
    add(ConcatOp(),
        [](ConcatOp op, ConcatOp::Adaptor a, Call &c, OpBuilder &b, Type t) {
          for (Value input : a.getInputs())
            c.operand(input);
          return c.build(b, op.getLoc(), t, "concat");
        });
    patterns.add<SplitPattern, ReleasePattern, AddNormPattern<AddLayerNormOp>,
                 AddNormPattern<AddRmsNormOp>, AccumulateGradPattern,
                 AccumulateEmbeddingGradPattern,
                 AccumulateLinearWeightGradPattern, ReduceGradientsPattern>(
      converter, ctx);
    populateReturnOpTypeConversionPattern(patterns, converter);

    // The mesh has done its work: layouts are literals now.
    for (auto mesh : llvm::make_early_inc_range(module.getOps<MeshOp>()))
      mesh.erase();
    if (failed(applyPartialConversion(module, target, std::move(patterns))))
      return signalPassFailure();

    OpBuilder b = OpBuilder::atBlockBegin(module.getBody());
    emitc::IncludeOp::create(b, module.getLoc(), "runtime/program/Ops.h",
                             /*isStandardInclude=*/false);
    for (auto func : module.getOps<func::FuncOp>()) {
      for (StringRef name : {TpcDialect::getPartitionedAttrName(),
                             TpcDialect::getModelTypeAttrName(),
                             TpcDialect::getMaxPositionsAttrName(),
                             TpcDialect::getShardedResultsAttrName()})
        func->removeAttr(name);
      func.setSymName((func.getSymName() + nameSuffix).str());
    }
  }
};
} // namespace
