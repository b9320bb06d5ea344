//===- ShardingRules.cpp - per-op sharding rules as data ------------------===//
#include "passes/ShardingRules.h"

#include "dialects/tpc/TpcOps.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::tpc;

int ShardingRule::addFactor(StringRef name, FactorKind kind, bool isSequence) {
  factors.push_back({name.str(), kind, isSequence});
  return factors.size() - 1;
}

namespace {
int64_t rankOf(Value v) {
  return cast<RankedTensorType>(v.getType()).getRank();
}

/// Factors for the leading dimensions of an activation: [batch, seq, ...]
/// for rank 3, one parallel factor per dimension otherwise.
SmallVector<DimFactor> leadingFactors(ShardingRule &rule, int64_t count,
                                      bool sequenceIsLocal = false) {
  SmallVector<DimFactor> dims;
  for (int64_t d = 0; d < count; ++d) {
    bool isSeq = count == 2 && d == 1;
    FactorKind kind =
        isSeq && sequenceIsLocal ? FactorKind::Local : FactorKind::Parallel;
    std::string name =
        count == 2 ? (d == 0 ? "batch" : "seq") : "d" + std::to_string(d);
    dims.push_back({rule.addFactor(name, kind, isSeq)});
  }
  return dims;
}

/// The dimension of a per-sequence operand (offsets, lengths) of an op whose
/// activation dimensions are `dims` ([batch, seq, ...]): the batch.
SmallVector<DimFactor> perSequence(ArrayRef<DimFactor> dims) {
  return {dims.front()};
}

/// Factors for the leading dimensions of a value whose tokens an op sums
/// over (weight and bias gradients): splitting the sequence (sequence
/// parallelism) leaves partial sums. The batch stays whole: splitting it
/// over tp is data parallelism, which the dp axis does.
SmallVector<DimFactor> summedFactors(ShardingRule &rule, int64_t count) {
  SmallVector<DimFactor> dims;
  for (int64_t d = 0; d < count; ++d) {
    bool isSeq = count == 2 && d == 1;
    std::string name =
        count == 2 ? (d == 0 ? "batch" : "seq") : "d" + std::to_string(d);
    FactorKind kind = isSeq ? FactorKind::Reduction : FactorKind::Local;
    dims.push_back({rule.addFactor(name, kind, isSeq)});
  }
  return dims;
}

/// The rule of attention and its gradient: heads are independent; a token
/// attends to the whole sequence (or the whole cache, a sequence of its
/// own). Returns the dimensions of q and of k and v.
std::pair<SmallVector<DimFactor>, SmallVector<DimFactor>>
attentionDims(ShardingRule &rule, Value q, int64_t numHeads,
              int64_t numKvHeads, bool overCache) {
  SmallVector<DimFactor> qDims = leadingFactors(rule, 2, true);
  SmallVector<DimFactor> kvDims = qDims;
  if (overCache)
    kvDims[1] = {rule.addFactor("cache_seq", FactorKind::Local)};
  int heads = rule.addFactor("heads", FactorKind::Parallel);
  int64_t qFeatures = cast<RankedTensorType>(q.getType()).getDimSize(2);
  int64_t headDim =
      ShapedType::isDynamic(qFeatures) ? 1 : qFeatures / numHeads;
  qDims.push_back({heads, headDim});
  kvDims.push_back({heads, headDim, 1, numHeads / numKvHeads});
  return {qDims, kvDims};
}

/// Every dimension its own parallel factor, shared by all operands and the
/// result (elementwise ops); the last dimension is `Local` for norms.
ShardingRule elementwise(Operation *op, bool lastIsLocal,
                         unsigned paramOperands) {
  ShardingRule rule;
  int64_t rank = rankOf(op->getResult(0));
  SmallVector<DimFactor> dims = leadingFactors(rule, rank - 1);
  int last = rule.addFactor("features", lastIsLocal ? FactorKind::Local
                                                    : FactorKind::Parallel);
  dims.push_back({last});
  unsigned dataOperands = op->getNumOperands() - paramOperands;
  for (unsigned i = 0; i < dataOperands; ++i)
    rule.operands.push_back(dims);
  for (unsigned i = 0; i < paramOperands; ++i)
    rule.operands.push_back({{last}});
  rule.results.push_back(dims);
  return rule;
}
} // namespace

FailureOr<ShardingRule> mlir::tpc::getShardingRule(Operation *op) {
  return llvm::TypeSwitch<Operation *, FailureOr<ShardingRule>>(op)
      .Case<LinearOp>([](LinearOp op) -> FailureOr<ShardingRule> {
        ShardingRule rule;
        SmallVector<DimFactor> x =
            leadingFactors(rule, rankOf(op.getInput()) - 1);
        SmallVector<DimFactor> y = x;
        int k = rule.addFactor("in", FactorKind::Reduction);
        int n = rule.addFactor("out", FactorKind::Parallel);
        x.push_back({k});
        y.push_back({n});
        rule.operands.push_back(x);
        rule.operands.push_back(op.getLayout() == WeightLayout::InOut
                                    ? SmallVector<DimFactor>{{k}, {n}}
                                    : SmallVector<DimFactor>{{n}, {k}});
        if (op.getBias())
          rule.operands.push_back({{n}});
        rule.results.push_back(y);
        return rule;
      })
      .Case<EmbeddingOp>([](EmbeddingOp op) -> FailureOr<ShardingRule> {
        ShardingRule rule;
        SmallVector<DimFactor> ids = leadingFactors(rule, rankOf(op.getIds()));
        int v = rule.addFactor("vocab", FactorKind::Reduction);
        int h = rule.addFactor("hidden", FactorKind::Parallel);
        rule.operands.push_back({{v}, {h}});
        rule.operands.push_back(ids);
        ids.push_back({h});
        rule.results.push_back(ids);
        return rule;
      })
      .Case<PositionsOp>([](PositionsOp op) -> FailureOr<ShardingRule> {
        // A position is the global index along the sequence.
        ShardingRule rule;
        SmallVector<DimFactor> ids =
            leadingFactors(rule, rankOf(op.getIds()), /*sequenceIsLocal=*/true);
        rule.operands.push_back(ids);
        if (op.getOffsets())
          rule.operands.push_back(perSequence(ids));
        rule.results.push_back(ids);
        return rule;
      })
      .Case<AddOp>([](AddOp op) -> FailureOr<ShardingRule> {
        ShardingRule rule = elementwise(op, false, 0);
        rule.linearInOperands = true;
        return rule;
      })
      .Case<MulOp, GeluOp, SiluOp, SiluMulOp>(
          [](Operation *op) -> FailureOr<ShardingRule> {
            return elementwise(op, false, 0);
          })
      .Case<LayerNormOp>([](LayerNormOp op) -> FailureOr<ShardingRule> {
        return elementwise(op, /*lastIsLocal=*/true, 2);
      })
      .Case<RmsNormOp>([](RmsNormOp op) -> FailureOr<ShardingRule> {
        return elementwise(op, /*lastIsLocal=*/true, 1);
      })
      .Case<RopeOp>([](RopeOp op) -> FailureOr<ShardingRule> {
        // Rotation angles depend on the global position: the sequence stays
        // whole; heads are independent.
        ShardingRule rule;
        SmallVector<DimFactor> dims = leadingFactors(rule, 2, true);
        int heads = rule.addFactor("heads", FactorKind::Parallel);
        dims.push_back({heads, int64_t(op.getHeadDim())});
        rule.operands.push_back(dims);
        if (op.getOffsets())
          rule.operands.push_back(perSequence(dims));
        rule.results.push_back(dims);
        return rule;
      })
      .Case<AttentionOp>([](AttentionOp op) -> FailureOr<ShardingRule> {
        ShardingRule rule;
        auto [q, kv] =
            attentionDims(rule, op.getQ(), op.getNumHeads(),
                          op.getNumKvHeads(), bool(op.getOffsets()));
        rule.operands = {q, kv, kv};
        if (op.getOffsets())
          rule.operands.push_back(perSequence(q));
        rule.results.push_back(q);
        return rule;
      })
      .Case<LastTokenOp>([](LastTokenOp op) -> FailureOr<ShardingRule> {
        // Rows are picked along the sequence; features pass through.
        ShardingRule rule;
        SmallVector<DimFactor> input = leadingFactors(rule, 2, true);
        int features = rule.addFactor("features", FactorKind::Parallel);
        input.push_back({features});
        rule.operands = {input, perSequence(input)};
        rule.results.push_back({input[0], input[2]});
        return rule;
      })
      .Case<CacheUpdateOp>([](CacheUpdateOp op) -> FailureOr<ShardingRule> {
        // The cache and the new entries share batch and features; each has
        // its own sequence, which stays whole.
        ShardingRule rule;
        SmallVector<DimFactor> input = leadingFactors(rule, 2, true);
        int features = rule.addFactor("features", FactorKind::Parallel);
        input.push_back({features});
        SmallVector<DimFactor> cache = {
            input[0], {rule.addFactor("cache_seq", FactorKind::Local)},
            {features}};
        rule.operands = {cache, input, perSequence(input)};
        rule.results.push_back(cache);
        return rule;
      })
      .Case<LmHeadOp>([](LmHeadOp op) -> FailureOr<ShardingRule> {
        ShardingRule rule;
        SmallVector<DimFactor> x =
            leadingFactors(rule, rankOf(op.getInput()) - 1);
        SmallVector<DimFactor> y = x;
        int v = rule.addFactor("vocab", FactorKind::Parallel);
        int h = rule.addFactor("hidden", FactorKind::Reduction);
        x.push_back({h});
        y.push_back({v});
        rule.operands = {x, {{v}, {h}}};
        rule.results.push_back(y);
        return rule;
      })
      .Case<SplitOp>([](SplitOp op) -> FailureOr<ShardingRule> {
        // Equal sections split section by section; unequal ones stay whole.
        ShardingRule rule;
        int64_t rank = rankOf(op.getInput());
        SmallVector<DimFactor> lead = leadingFactors(rule, rank - 1);
        int64_t first =
            cast<RankedTensorType>(op.getResult(0).getType()).getShape().back();
        bool equal = llvm::all_of(op.getResultTypes(), [&](Type t) {
          return cast<RankedTensorType>(t).getShape().back() == first;
        });
        int section =
            equal ? rule.addFactor("section", FactorKind::Parallel) : -1;
        SmallVector<DimFactor> input = lead, piece = lead;
        input.push_back({section, 1, static_cast<int64_t>(op.getNumResults())});
        piece.push_back({section});
        rule.operands.push_back(input);
        for (unsigned i = 0; i < op.getNumResults(); ++i)
          rule.results.push_back(piece);
        return rule;
      })
      // Training: the loss and the derivatives.
      .Case<CrossEntropyOp>([](CrossEntropyOp op) -> FailureOr<ShardingRule> {
        ShardingRule rule;
        SmallVector<DimFactor> positions = leadingFactors(rule, 2);
        SmallVector<DimFactor> logits = positions;
        logits.push_back(
            {rule.addFactor("vocab", FactorKind::CombinedByOp)});
        rule.operands = {logits, positions};
        rule.results = {positions, positions};
        return rule;
      })
      .Case<CrossEntropyGradOp>(
          [](CrossEntropyGradOp op) -> FailureOr<ShardingRule> {
            ShardingRule rule;
            SmallVector<DimFactor> positions = leadingFactors(rule, 2);
            SmallVector<DimFactor> logits = positions;
            logits.push_back({rule.addFactor("vocab", FactorKind::Parallel)});
            rule.operands = {logits, positions, positions, positions};
            rule.results = {logits};
            return rule;
          })
      .Case<LinearWeightGradOp>(
          [](LinearWeightGradOp op) -> FailureOr<ShardingRule> {
            // dW = x^T dy, summed over the tokens.
            ShardingRule rule;
            SmallVector<DimFactor> tokens =
                summedFactors(rule, rankOf(op.getInput()) - 1);
            int k = rule.addFactor("in", FactorKind::Parallel);
            int n = rule.addFactor("out", FactorKind::Parallel);
            SmallVector<DimFactor> x = tokens, dy = tokens;
            x.push_back({k});
            dy.push_back({n});
            rule.operands = {x, dy};
            rule.results.push_back(op.getLayout() == WeightLayout::InOut
                                       ? SmallVector<DimFactor>{{k}, {n}}
                                       : SmallVector<DimFactor>{{n}, {k}});
            return rule;
          })
      .Case<SumRowsOp>([](SumRowsOp op) -> FailureOr<ShardingRule> {
        ShardingRule rule;
        SmallVector<DimFactor> input =
            summedFactors(rule, rankOf(op.getInput()) - 1);
        int n = rule.addFactor("features", FactorKind::Parallel);
        input.push_back({n});
        rule.operands = {input};
        rule.results.push_back({{n}});
        return rule;
      })
      .Case<EmbeddingGradOp>([](EmbeddingGradOp op) -> FailureOr<ShardingRule> {
        // Rows scatter-added by id: a rank holding part of the vocabulary
        // keeps the rows it holds.
        ShardingRule rule;
        SmallVector<DimFactor> ids = summedFactors(rule, rankOf(op.getIds()));
        int v = rule.addFactor("vocab", FactorKind::Parallel);
        int h = rule.addFactor("hidden", FactorKind::Parallel);
        SmallVector<DimFactor> grad = ids;
        grad.push_back({h});
        rule.operands = {grad, ids};
        rule.results.push_back({{v}, {h}});
        return rule;
      })
      .Case<GeluGradOp, SiluGradOp>(
          [](Operation *op) -> FailureOr<ShardingRule> {
            return elementwise(op, false, 0);
          })
      .Case<NormGradOp>([](NormGradOp op) -> FailureOr<ShardingRule> {
        return elementwise(op, /*lastIsLocal=*/true, 1);
      })
      .Case<NormScaleGradOp>([](NormScaleGradOp op) -> FailureOr<ShardingRule> {
        ShardingRule rule;
        SmallVector<DimFactor> rows =
            summedFactors(rule, rankOf(op.getInput()) - 1);
        int h = rule.addFactor("features", FactorKind::Local);
        rows.push_back({h});
        rule.operands = {rows, rows};
        rule.results.push_back({{h}});
        return rule;
      })
      .Case<RopeGradOp>([](RopeGradOp op) -> FailureOr<ShardingRule> {
        ShardingRule rule;
        SmallVector<DimFactor> dims = leadingFactors(rule, 2, true);
        int heads = rule.addFactor("heads", FactorKind::Parallel);
        dims.push_back({heads, int64_t(op.getHeadDim())});
        rule.operands.push_back(dims);
        rule.results.push_back(dims);
        return rule;
      })
      .Case<AttentionGradOp>([](AttentionGradOp op) -> FailureOr<ShardingRule> {
        ShardingRule rule;
        auto [q, kv] = attentionDims(rule, op.getQ(), op.getNumHeads(),
                                     op.getNumKvHeads(), false);
        rule.operands = {q, kv, kv, q};
        rule.results = {q, kv, kv};
        return rule;
      })
      .Case<ConcatOp>([](ConcatOp op) -> FailureOr<ShardingRule> {
        // tpc.split's rule the other way round.
        ShardingRule rule;
        int64_t rank = rankOf(op.getResult());
        SmallVector<DimFactor> lead = leadingFactors(rule, rank - 1);
        int64_t first = cast<RankedTensorType>(op.getInputs()[0].getType())
                            .getShape()
                            .back();
        bool equal = llvm::all_of(op.getInputs().getTypes(), [&](Type t) {
          return cast<RankedTensorType>(t).getShape().back() == first;
        });
        int section =
            equal ? rule.addFactor("section", FactorKind::Parallel) : -1;
        SmallVector<DimFactor> piece = lead, whole = lead;
        piece.push_back({section});
        whole.push_back(
            {section, 1, static_cast<int64_t>(op.getInputs().size())});
        for (size_t i = 0; i < op.getInputs().size(); ++i)
          rule.operands.push_back(piece);
        rule.results.push_back(whole);
        return rule;
      })
      .Default([](Operation *) { return failure(); });
}
