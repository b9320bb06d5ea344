//===- ModelImporter.cpp - model description to tpc IR --------------------===//
#include "compiler/ModelImporter.h"

#include "dialects/tpc/ShapeRules.h"
#include "dialects/tpc/TpcOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace mlir::tpc;
namespace rules = mlir::tpc::shape_rules;

namespace {
/// Emits tpc ops at one insertion point, deriving every result type from the
/// dialect's shape rules, so that the importer states only what the
/// checkpoint defines: weight names and shapes.
class GraphBuilder {
public:
  GraphBuilder(OpBuilder &b, FloatType elementType, StringRef configPath)
      : b(b), elementType(elementType),
        fileLoc(FileLineColLoc::get(b.getStringAttr(configPath), 1, 1)) {}

  /// Ops created next are located at `scope` (a checkpoint name prefix such
  /// as "model.layers.3.self_attn"), which diagnostics and plans show.
  void setScope(const Twine &scope) {
    loc = NameLoc::get(b.getStringAttr(scope), fileLoc);
  }

  Value weight(const Twine &name, ArrayRef<int64_t> shape) {
    return WeightOp::create(b, loc, tensor(shape), b.getStringAttr(name),
                            DenseI64ArrayAttr());
  }

  /// `name.weight` (and `name.bias` when `bias`) applied to `x`.
  Value linear(Value x, const Twine &name, int64_t in, int64_t out,
               WeightLayout layout, bool bias) {
    SmallVector<int64_t, 2> shape = layout == WeightLayout::InOut
                                        ? SmallVector<int64_t, 2>{in, out}
                                        : SmallVector<int64_t, 2>{out, in};
    Value w = weight(name + ".weight", shape);
    Value bv = bias ? weight(name + ".bias", {out}) : Value();
    std::optional<ArrayRef<int64_t>> biasShape;
    if (bias)
      biasShape = shapeOf(bv);
    Type type =
        resultType(rules::linear(shapeOf(x), shapeOf(w), biasShape, layout));
    return LinearOp::create(b, loc, type, x, w, bv,
                            WeightLayoutAttr::get(b.getContext(), layout),
                            /*activation=*/ActivationAttr());
  }

  Value layerNorm(Value x, const Twine &name, double eps) {
    int64_t h = shapeOf(x).back();
    Value g = weight(name + ".weight", {h});
    Value beta = weight(name + ".bias", {h});
    return LayerNormOp::create(b, loc, x.getType(), x, g, beta,
                               b.getF64FloatAttr(eps));
  }

  Value rmsNorm(Value x, const Twine &name, double eps) {
    Value g = weight(name + ".weight", {shapeOf(x).back()});
    return RmsNormOp::create(b, loc, x.getType(), x, g, b.getF64FloatAttr(eps));
  }

  Value embedding(Value table, Value ids) {
    Type type = resultType(rules::embedding(shapeOf(table), shapeOf(ids)));
    return EmbeddingOp::create(b, loc, type, table, ids);
  }

  Value positions(Value ids) {
    return PositionsOp::create(b, loc, ids.getType(), ids, /*offsets=*/Value());
  }

  Value add(Value x, Value y) {
    return AddOp::create(b, loc, x.getType(), x, y);
  }
  Value mul(Value x, Value y) {
    return MulOp::create(b, loc, x.getType(), x, y);
  }
  Value gelu(Value x) { return GeluOp::create(b, loc, x.getType(), x); }
  Value silu(Value x) { return SiluOp::create(b, loc, x.getType(), x); }

  Value rope(Value x, int64_t headDim, double theta) {
    return RopeOp::create(b, loc, x.getType(), x, /*offsets=*/Value(),
                          b.getI64IntegerAttr(headDim),
                          b.getF64FloatAttr(theta));
  }

  SmallVector<Value> split(Value x, ArrayRef<int64_t> sizes) {
    auto shapes = rules::split(shapeOf(x), sizes);
    SmallVector<Type> types;
    for (const rules::Shape &shape : unwrap(std::move(shapes)))
      types.push_back(tensor(shape));
    return llvm::to_vector_of<Value>(
        SplitOp::create(b, loc, types, x).getResults());
  }

  Value attention(Value q, Value k, Value v, int64_t heads, int64_t kvHeads,
                  std::optional<int64_t> window) {
    Type type = resultType(
        rules::attention(shapeOf(q), shapeOf(k), shapeOf(v), heads, kvHeads));
    return AttentionOp::create(
        b, loc, type, q, k, v, /*offsets=*/Value(), b.getI64IntegerAttr(heads),
        b.getI64IntegerAttr(kvHeads),
        window ? b.getI64IntegerAttr(*window) : IntegerAttr());
  }

  Value lmHead(Value x, Value w) {
    Type type = resultType(rules::lmHead(shapeOf(x), shapeOf(w)));
    return LmHeadOp::create(b, loc, type, x, w);
  }

  RankedTensorType tensor(ArrayRef<int64_t> shape) {
    return RankedTensorType::get(shape, elementType);
  }

private:
  static ArrayRef<int64_t> shapeOf(Value v) {
    return cast<RankedTensorType>(v.getType()).getShape();
  }

  /// The config was validated, so the rules hold; should one not, the
  /// module verifier names the op, and this keeps building a placeholder.
  template <typename T> static T unwrap(llvm::Expected<T> value) {
    if (value)
      return std::move(*value);
    llvm::consumeError(value.takeError());
    return T();
  }

  Type resultType(llvm::Expected<rules::Shape> shape) {
    return tensor(unwrap(std::move(shape)));
  }

  OpBuilder &b;
  FloatType elementType;
  Location fileLoc;
  Location loc = fileLoc;
};

/// GPT-2: learned positions, pre-LayerNorm blocks, fused [q|k|v] Conv1D
/// weights stored [in, out], GeLU MLP.
Value buildGpt2(GraphBuilder &g, const ModelConfig &c, int64_t numLayers,
                StringRef prefix, Value ids) {
  std::string p = prefix.str();
  int64_t h = c.hiddenSize;
  g.setScope(p + "wte");
  Value wte = g.weight(p + "wte.weight", {c.vocabSize, h});
  Value x = g.embedding(wte, ids);
  g.setScope(p + "wpe");
  Value wpe = g.weight(p + "wpe.weight", {c.maxPositions, h});
  x = g.add(x, g.embedding(wpe, g.positions(ids)));

  for (int64_t i = 0; i < numLayers; ++i) {
    std::string layer = llvm::formatv("{0}h.{1}.", p, i);
    g.setScope(layer + "attn");
    Value n1 = g.layerNorm(x, layer + "ln_1", c.normEpsilon);
    Value qkv = g.linear(n1, layer + "attn.c_attn", h, 3 * h,
                         WeightLayout::InOut, true);
    SmallVector<Value> parts = g.split(qkv, {h, h, h});
    Value attn = g.attention(parts[0], parts[1], parts[2], c.numHeads,
                             c.numHeads, std::nullopt);
    x = g.add(x, g.linear(attn, layer + "attn.c_proj", h, h,
                          WeightLayout::InOut, true));
    g.setScope(layer + "mlp");
    Value n2 = g.layerNorm(x, layer + "ln_2", c.normEpsilon);
    Value up = g.linear(n2, layer + "mlp.c_fc", h, c.intermediateSize,
                        WeightLayout::InOut, true);
    x = g.add(x, g.linear(g.gelu(up), layer + "mlp.c_proj", c.intermediateSize,
                          h, WeightLayout::InOut, true));
  }

  g.setScope(p + "ln_f");
  x = g.layerNorm(x, p + "ln_f", c.normEpsilon);
  g.setScope("lm_head");
  Value head =
      c.tieWordEmbeddings ? wte : g.weight("lm_head.weight", {c.vocabSize, h});
  return g.lmHead(x, head);
}

/// Llama, Mistral, Qwen2: RMSNorm, RoPE, grouped-query attention, SwiGLU
/// MLP, torch.nn.Linear weights stored [out, in].
Value buildLlama(GraphBuilder &g, const ModelConfig &c, int64_t numLayers,
                 Value ids) {
  int64_t h = c.hiddenSize, d = c.headDim;
  int64_t qDim = c.numHeads * d, kvDim = c.numKvHeads * d;
  g.setScope("model.embed_tokens");
  Value table = g.weight("model.embed_tokens.weight", {c.vocabSize, h});
  Value x = g.embedding(table, ids);

  for (int64_t i = 0; i < numLayers; ++i) {
    std::string layer = llvm::formatv("model.layers.{0}.", i);
    g.setScope(layer + "self_attn");
    Value n1 = g.rmsNorm(x, layer + "input_layernorm", c.normEpsilon);
    std::string attn = layer + "self_attn.";
    Value q =
        g.linear(n1, attn + "q_proj", h, qDim, WeightLayout::OutIn, c.qkvBias);
    Value k =
        g.linear(n1, attn + "k_proj", h, kvDim, WeightLayout::OutIn, c.qkvBias);
    Value v =
        g.linear(n1, attn + "v_proj", h, kvDim, WeightLayout::OutIn, c.qkvBias);
    Value qRot = g.rope(q, d, c.ropeTheta);
    Value kRot = g.rope(k, d, c.ropeTheta);
    Value a =
        g.attention(qRot, kRot, v, c.numHeads, c.numKvHeads, c.slidingWindow);
    x = g.add(x, g.linear(a, attn + "o_proj", qDim, h, WeightLayout::OutIn,
                          c.outputBias));

    g.setScope(layer + "mlp");
    Value n2 = g.rmsNorm(x, layer + "post_attention_layernorm", c.normEpsilon);
    std::string mlp = layer + "mlp.";
    int64_t inter = c.intermediateSize;
    Value gate = g.linear(n2, mlp + "gate_proj", h, inter, WeightLayout::OutIn,
                          c.mlpBias);
    Value up =
        g.linear(n2, mlp + "up_proj", h, inter, WeightLayout::OutIn, c.mlpBias);
    x = g.add(x, g.linear(g.mul(g.silu(gate), up), mlp + "down_proj", inter, h,
                          WeightLayout::OutIn, c.mlpBias));
  }

  g.setScope("model.norm");
  x = g.rmsNorm(x, "model.norm", c.normEpsilon);
  g.setScope("lm_head");
  Value head = c.tieWordEmbeddings
                   ? table
                   : g.weight("lm_head.weight", {c.vocabSize, h});
  return g.lmHead(x, head);
}
} // namespace

OwningOpRef<ModuleOp> mlir::tpc::importModel(const ModelConfig &config,
                                             const ImportOptions &options,
                                             MLIRContext &context) {
  context.loadDialect<TpcDialect, func::FuncDialect>();
  OpBuilder b(&context);
  Location loc = FileLineColLoc::get(b.getStringAttr(config.path), 1, 1);
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  b.setInsertionPointToEnd(module->getBody());

  FloatType elementType =
      options.elementType ? options.elementType : b.getF32Type();
  GraphBuilder g(b, elementType, config.path);
  constexpr int64_t kDyn = ShapedType::kDynamic;
  auto idsType = RankedTensorType::get({kDyn, kDyn}, b.getI32Type());
  auto logitsType =
      RankedTensorType::get({kDyn, kDyn, config.vocabSize}, elementType);
  auto func = func::FuncOp::create(b, loc, kForwardFuncName,
                                   b.getFunctionType({idsType}, {logitsType}));
  func->setAttr(TpcDialect::getModelTypeAttrName(),
                b.getStringAttr(familyName(config.family)));
  func->setAttr(TpcDialect::getMaxPositionsAttrName(),
                b.getI64IntegerAttr(config.maxPositions));
  if (!config.eosTokenIds.empty())
    func->setAttr(TpcDialect::getEosTokenIdsAttrName(),
                  b.getDenseI64ArrayAttr(config.eosTokenIds));

  b.setInsertionPointToStart(func.addEntryBlock());
  Value ids = func.getArgument(0);
  int64_t numLayers = options.numLayers.value_or(config.numLayers);
  Value logits = config.family == ModelFamily::Gpt2
                     ? buildGpt2(g, config, numLayers, options.gpt2Prefix, ids)
                     : buildLlama(g, config, numLayers, ids);
  func::ReturnOp::create(b, loc, logits);
  return module;
}
