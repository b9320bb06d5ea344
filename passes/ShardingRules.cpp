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
      .Case<MulOp, GeluOp, SiluOp>(
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
        // Heads are independent; a token attends to the whole sequence (or
        // the whole cache, a sequence of its own).
        ShardingRule rule;
        SmallVector<DimFactor> q = leadingFactors(rule, 2, true);
        SmallVector<DimFactor> kv = q;
        if (op.getOffsets())
          kv[1] = {rule.addFactor("cache_seq", FactorKind::Local)};
        int heads = rule.addFactor("heads", FactorKind::Parallel);
        int64_t qFeatures =
            cast<RankedTensorType>(op.getQ().getType()).getDimSize(2);
        int64_t headDim =
            ShapedType::isDynamic(qFeatures) ? 1 : qFeatures / op.getNumHeads();
        q.push_back({heads, headDim});
        kv.push_back(
            {heads, headDim, 1, int64_t(op.getNumHeads() / op.getNumKvHeads())});
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
      .Default([](Operation *) { return failure(); });
}
