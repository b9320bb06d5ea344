//===- Planner.cpp - the layout search behind auto-sharding ---------------===//
#include "passes/Planner.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/SetVector.h"

using namespace mlir;
using namespace mlir::tpc;
using namespace mlir::tpc::planning;
using ::tpc::sharding::DimSplit;

//===----------------------------------------------------------------------===//
// Candidates
//===----------------------------------------------------------------------===//

bool LayoutPlanner::dimSplittable(Value v, unsigned d, bool isSequence) const {
  // Token ids come whole (function arguments) and collectives move floats:
  // an op that needs ids split cannot have them.
  if (isa<IntegerType>(typeOf(v).getElementType()))
    return false;
  int64_t size = dimSize(v, d);
  if (ShapedType::isDynamic(size))
    return isSequence; // Only the sequence may be split at run time.
  Granularity g = granularity.get(v, d);
  if (!g.consistent || size % (g.unit * g.sections) != 0)
    return false;
  return size / (g.unit * g.sections) * g.groups >= model.ranks;
}

std::string LayoutPlanner::splittableDegrees(Value v, unsigned d) const {
  Granularity g = granularity.get(v, d);
  int64_t size = dimSize(v, d);
  if (!g.consistent || ShapedType::isDynamic(size) ||
      size % (g.unit * g.sections) != 0)
    return "none";
  int64_t units = size / (g.unit * g.sections) * g.groups;
  return units == 1 ? "1" : "1 to " + std::to_string(units);
}

SmallVector<Strategy> LayoutPlanner::candidatesOf(const ShardingRule &rule,
                                                  Operation *op) {
  SmallVector<Strategy> out = {{Strategy::Replicate, -1}};
  if (model.ranks == 1)
    return out;
  if (rule.linearInOperands)
    out.push_back({Strategy::PassPartial, -1});
  for (auto [f, factor] : llvm::enumerate(rule.factors)) {
    if (factor.kind == FactorKind::Local ||
        (factor.isSequence && !sequenceParallel))
      continue;
    bool ok = true;
    auto check = [&](ValueRange values,
                     ArrayRef<SmallVector<DimFactor>> mapping) {
      for (auto [value, dims] : llvm::zip(values, mapping))
        for (auto [d, df] : llvm::enumerate(dims))
          if (df.factor == static_cast<int>(f))
            ok &= dimSplittable(value, d, factor.isSequence);
    };
    check(op->getOperands(), rule.operands);
    check(op->getResults(), rule.results);
    if (ok)
      out.push_back({Strategy::SplitFactor, static_cast<int>(f)});
  }
  return out;
}

SmallVector<Layout> LayoutPlanner::weightCandidates(StateOpInterface weight) const {
  SmallVector<Layout> out = {{}};
  if (model.ranks == 1)
    return out;
  for (int64_t d = 0; d < weight.getType().getRank(); ++d)
    if (dimSplittable(weight, d, false))
      out.push_back({static_cast<int>(d), false});
  return out;
}

//===----------------------------------------------------------------------===//
// Costs
//===----------------------------------------------------------------------===//

double LayoutPlanner::perRankBytes(Value v, Layout layout) const {
  RankedTensorType type = typeOf(v);
  double bytes = model.bytes(type);
  if (layout.dim < 0)
    return bytes;
  int64_t size = type.getDimSize(layout.dim);
  if (ShapedType::isDynamic(size))
    return bytes / model.ranks;
  Granularity g = granularity.get(v, layout.dim);
  DimSplit split{size, g.unit, g.sections, g.groups, model.ranks};
  int64_t largest = 0;
  for (int64_t r = 0; r < model.ranks; ++r)
    largest = std::max(largest, ::tpc::sharding::localSize(split, r));
  return bytes / size * largest;
}

Cost LayoutPlanner::reshard(Value v, Layout to) const {
  Layout from = layouts.lookup(v);
  if (from == to)
    return {};
  Cost cost = conversionCost(v, from, to);
  // The converted tensor is an activation too.
  if (sequenceParallel && !typeOf(v).hasStaticShape() &&
      !isa_and_nonnull<StateOpInterface>(v.getDefiningOp()))
    cost.activations += perRankBytes(v, to);
  return cost;
}

Cost LayoutPlanner::conversionCost(Value v, Layout from, Layout to) const {
  double bytes = model.bytes(typeOf(v));
  if (to.partial)
    return {0, 0, kInfinity}; // Nothing makes a whole value partial.
  // A KV cache is updated in place: it must already be laid out as its
  // update writes it.
  if (isa_and_nonnull<KvCacheOp>(v.getDefiningOp()))
    return {0, 0, kInfinity};
  // Re-laying out a weight at run time means holding it in the new layout
  // as well, every pass: that memory counts like a weight of its own.
  double heldBytes =
      isa_and_nonnull<StateOpInterface>(v.getDefiningOp()) ? memoryCost(v, to) : 0.0;
  if (from.partial)
    return {heldBytes, 0,
            model.collectiveTime(to.dim < 0 ? CollectiveKind::AllReduce
                                            : CollectiveKind::ReduceScatter,
                                 bytes)};
  if (from.dim < 0)
    return {heldBytes, 0, 0}; // A local slice.
  // Split to whole, or to another split: gather first.
  return {heldBytes, 0, model.collectiveTime(CollectiveKind::AllGather, bytes)};
}

double LayoutPlanner::computeTime(const Node &node) const {
  Operation *op = node.op;
  double rows = 1;
  if (op->getNumResults()) {
    RankedTensorType type = typeOf(op->getResult(0));
    rows = model.bytes(type) / (CostModel::elementsPerToken(type) *
                                elementBytes(type.getElementType()));
  }
  double flops = 0;
  if (auto linear = dyn_cast<LinearOp>(op)) {
    ArrayRef<int64_t> w = linear.getWeight().getType().getShape();
    flops = 2 * rows * w[0] * w[1];
  } else if (auto head = dyn_cast<LmHeadOp>(op)) {
    ArrayRef<int64_t> w = head.getWeight().getType().getShape();
    flops = 2 * rows * w[0] * w[1];
  } else if (auto grad = dyn_cast<LinearWeightGradOp>(op)) {
    RankedTensorType x = typeOf(grad.getInput());
    double tokens = model.bytes(x) / (CostModel::elementsPerToken(x) *
                                      elementBytes(x.getElementType()));
    ArrayRef<int64_t> w = typeOf(grad.getResult()).getShape();
    flops = 2 * tokens * w[0] * w[1];
  } else if (auto attention = dyn_cast<AttentionOp>(op)) {
    // QK^T and PV over a causal half of a `tokens`-long sequence.
    flops = 2 * rows * double(model.tokens) *
            typeOf(attention.getQ()).getDimSize(2);
  } else if (auto grad = dyn_cast<AttentionGradOp>(op)) {
    // QK^T again, then dV, dP, dQ and dK: two and a half forward passes.
    flops = 5 * rows * double(model.tokens) *
            typeOf(grad.getQ()).getDimSize(2);
  }
  // Elementwise ops, norms and lookups are fused into their neighbours by
  // the runtime (residual + norm, bias + activation): they cost no time of
  // their own, and splitting them buys nothing.
  double time = flops / model.peakFlops;
  if (node.chosen.kind == Strategy::SplitFactor)
    time /= model.ranks;
  return time;
}

Cost LayoutPlanner::nodeCost(const Node &node) const {
  return {0, 0, computeTime(node)};
}

Layout LayoutPlanner::requiredLayout(Operation *user, unsigned index) const {
  // A weight and its gradient are laid out alike.
  if (auto accumulate = dyn_cast<AccumulateGradOp>(user))
    return layouts.lookup(accumulate.getWeight());
  auto it = nodeIndex.find(user);
  if (it == nodeIndex.end())
    return {}; // Returns and ops without a rule take whole values.
  const Node &node = nodes[it->second];
  return requiredOperandLayout(node.rule, node.chosen, index);
}

Cost LayoutPlanner::valueCost(Value v) const {
  Cost cost;
  // Sequence parallelism weighs what token-shaped values hold per rank.
  auto type = cast<RankedTensorType>(v.getType());
  if (sequenceParallel && !type.hasStaticShape() &&
      !isa_and_nonnull<StateOpInterface>(v.getDefiningOp()))
    cost.activations = perRankBytes(v, layouts.lookup(v));
  SmallVector<Layout, 4> seen;
  for (OpOperand &use : v.getUses()) {
    Layout want = requiredLayout(use.getOwner(), use.getOperandNumber());
    if (llvm::is_contained(seen, want))
      continue;
    seen.push_back(want);
    cost += reshard(v, want);
  }
  return cost;
}

double LayoutPlanner::memoryCost(Value weight, Layout layout) const {
  if (!countsForMemory(weight))
    return 0;
  // The ideal share: whether a matrix is split decides, not by how many
  // rows an uneven split leaves one rank more.
  double bytes = model.bytes(typeOf(weight));
  return layout.dim >= 0 ? bytes / model.ranks : bytes;
}

Cost LayoutPlanner::weightCost(StateOpInterface weight) const {
  Layout layout = layouts.lookup(weight);
  return {memoryCost(weight, layout), 0,
          perRankBytes(weight, layout) / kHbmBandwidth};
}

Cost LayoutPlanner::localCost(ArrayRef<Operation *> ops) const {
  Cost cost;
  llvm::SetVector<Value> values;
  for (Operation *op : ops) {
    if (auto weight = dyn_cast<StateOpInterface>(op))
      cost += weightCost(weight);
    else if (auto it = nodeIndex.find(op); it != nodeIndex.end())
      cost += nodeCost(nodes[it->second]);
    values.insert(op->operand_begin(), op->operand_end());
    values.insert(op->result_begin(), op->result_end());
  }
  for (Value v : values)
    cost += valueCost(v);
  return cost;
}
//===----------------------------------------------------------------------===//
// Search
//===----------------------------------------------------------------------===//

void LayoutPlanner::setStrategy(Node &node, Strategy s) {
  node.chosen = s;
  for (auto [i, result] : llvm::enumerate(node.op->getResults()))
    layouts[result] = resultLayout(node.rule, s, i);
}

bool LayoutPlanner::tryMove(ArrayRef<std::pair<Node *, Strategy>> moves) {
  // The moved ops, the users of their results, the weights they would move
  // and those weights' users are the only costs a move can change.
  llvm::SetVector<Operation *> affected;
  SmallVector<std::pair<StateOpInterface, Layout>> weightMoves;
  SmallVector<std::pair<Node *, Strategy>> allMoves(moves.begin(), moves.end());
  for (size_t m = 0; m < allMoves.size(); ++m) {
    auto [node, s] = allMoves[m];
    affected.insert(node->op);
    for (Value result : node->op->getResults())
      for (Operation *user : result.getUsers())
        affected.insert(user);
    for (auto [i, operand] : llvm::enumerate(node->op->getOperands())) {
      auto weight = operand.getDefiningOp<StateOpInterface>();
      if (!weight || pinnedWeights.count(weight))
        continue;
      Layout want = requiredOperandLayout(node->rule, s, i);
      if (want.partial || want == layouts.lookup(weight) ||
          !llvm::is_contained(weightCandidates(weight), want))
        continue;
      if (llvm::any_of(weightMoves,
                       [&](auto &move) { return move.first == weight; }))
        continue;
      weightMoves.push_back({weight, want});
      affected.insert(weight);
      // A shared (tied) weight's other users move along to a strategy that
      // takes it in its new layout.
      for (OpOperand &use : weight->getUses()) {
        affected.insert(use.getOwner());
        auto it = nodeIndex.find(use.getOwner());
        if (it == nodeIndex.end() || use.getOwner() == node->op ||
            pinned.count(use.getOwner()))
          continue;
        Node &other = nodes[it->second];
        if (llvm::any_of(allMoves, [&](auto &m) { return m.first == &other; }))
          continue;
        for (Strategy t : other.candidates)
          if (requiredOperandLayout(other.rule, t, use.getOperandNumber()) ==
              want) {
            allMoves.push_back({&other, t});
            break;
          }
      }
    }
  }

  Cost before = localCost(affected.getArrayRef());
  SmallVector<Strategy> oldStrategies;
  SmallVector<Layout> oldWeights;
  for (auto &[weight, want] : weightMoves) {
    oldWeights.push_back(layouts.lookup(weight));
    layouts[weight] = want;
  }
  for (auto [node, s] : allMoves) {
    oldStrategies.push_back(node->chosen);
    setStrategy(*node, s);
  }
  Cost after = localCost(affected.getArrayRef());
  if (after.lessThan(before, memoryTolerance))
    return true;
  for (auto [move, old] : llvm::reverse(llvm::zip(allMoves, oldStrategies)))
    setStrategy(*move.first, old);
  for (auto [move, old] : llvm::reverse(llvm::zip(weightMoves, oldWeights)))
    layouts[move.first] = old;
  return false;
}

/// True for ops whose every result dimension is the same factor as the
/// matching dimension of every operand (add, mul, activations).
static bool isElementwise(const ShardingRule &rule) {
  if (rule.results.size() != 1)
    return false;
  for (const auto &operand : rule.operands) {
    if (operand.size() != rule.results[0].size())
      return false;
    for (auto [a, b] : llvm::zip(operand, rule.results[0]))
      if (a.factor != b.factor ||
          rule.factors[a.factor].kind != FactorKind::Parallel)
        return false;
  }
  return true;
}

SmallVector<std::pair<LayoutPlanner::Node *, Strategy>>
LayoutPlanner::withFollowers(Node &node, Strategy s) {
  constexpr int kMaxFollowers = 32;
  SmallVector<std::pair<Node *, Strategy>> moves = {{&node, s}};
  DenseSet<Operation *> seen = {node.op};
  for (size_t i = 0; i < moves.size() && moves.size() <= kMaxFollowers; ++i) {
    auto [leader, strategy] = moves[i];
    if (leader->op->getNumResults() != 1)
      continue;
    Layout layout = resultLayout(leader->rule, strategy, 0);
    for (Operation *userOp : leader->op->getUsers()) {
      auto it = nodeIndex.find(userOp);
      if (it == nodeIndex.end() || pinned.count(userOp) ||
          !seen.insert(userOp).second)
        continue;
      Node &user = nodes[it->second];
      if (!isElementwise(user.rule))
        continue;
      // A partial sum stays partial through an add of partial sums, and is
      // made whole at any other elementwise user.
      Layout want = layout;
      if (layout.partial) {
        bool othersPartial = llvm::all_of(userOp->getOperands(), [&](Value v) {
          return v.getDefiningOp() == leader->op || layouts.lookup(v).partial;
        });
        if (!user.rule.linearInOperands || !othersPartial)
          want = Layout{};
      }
      for (Strategy t : user.candidates)
        if (resultLayout(user.rule, t, 0) == want) {
          if (!(t == user.chosen))
            moves.push_back({&user, t});
          break;
        }
    }
  }
  return moves;
}

bool LayoutPlanner::tryWeightMove(StateOpInterface weight, Layout layout) {
  SmallVector<Operation *> affected = {weight};
  for (Operation *user : weight->getUsers())
    affected.push_back(user);
  Cost before = localCost(affected);
  Layout old = layouts.lookup(weight);
  layouts[weight] = layout;
  if (localCost(affected).lessThan(before, memoryTolerance))
    return true;
  layouts[weight] = old;
  return false;
}

LogicalResult LayoutPlanner::applyPins() {
  for (Node &node : nodes) {
    SmallVector<Layout> wanted;
    bool hasPin = false;
    for (unsigned i = 0; i < node.op->getNumResults(); ++i) {
      ShardingAttr pin = getResultSharding(node.op, i);
      hasPin |= bool(pin);
      FailureOr<Layout> layout =
          pin ? toLayout(pin) : FailureOr<Layout>(Layout{});
      if (failed(layout))
        return node.op->emitError()
               << "pinned sharding must split at most one dimension over "
                  "@mesh[\"tp\"], got "
               << pin;
      wanted.push_back(*layout);
    }
    if (!hasPin)
      continue;
    SmallVector<Strategy> matching;
    for (Strategy s : node.candidates) {
      bool ok = true;
      for (auto [i, layout] : llvm::enumerate(wanted))
        ok &= resultLayout(node.rule, s, i) == layout;
      if (ok)
        matching.push_back(s);
    }
    if (matching.empty()) {
      for (auto [i, layout] : llvm::enumerate(wanted))
        if (layout.dim >= 0 &&
            !dimSplittable(node.op->getResult(i), layout.dim, false))
          return node.op->emitError()
                 << "pinned sharding splits dimension " << layout.dim
                 << " of result #" << i << " (size "
                 << dimSize(node.op->getResult(i), layout.dim)
                 << "), which cannot be split over tp = " << model.ranks
                 << "; tp degrees that work: "
                 << splittableDegrees(node.op->getResult(i), layout.dim);
      return node.op->emitError()
             << "no sharding of this op gives its results the pinned layout";
    }
    node.candidates = matching;
    pinned.insert(node.op);
  }
  for (StateOpInterface weight : weights) {
    ShardingAttr pin = getResultSharding(weight, 0);
    if (!pin)
      continue;
    FailureOr<Layout> layout = toLayout(pin);
    if (failed(layout) || layout->partial)
      return weight.emitError() << "pinned sharding of a weight must split at "
                                   "most one dimension over @mesh[\"tp\"], got "
                                << pin;
    if (layout->dim >= 0 && !dimSplittable(weight, layout->dim, false))
      return weight.emitError()
             << "pinned sharding splits dimension " << layout->dim << " (size "
             << dimSize(weight, layout->dim)
             << "), which cannot be split over tp = " << model.ranks
             << "; tp degrees that work: "
             << splittableDegrees(weight, layout->dim);
    pinnedWeights[weight] = *layout;
  }
  return success();
}

LogicalResult LayoutPlanner::plan() {
  func.walk([&](Operation *op) {
    if (auto weight = dyn_cast<StateOpInterface>(op)) {
      weights.push_back(weight);
      return;
    }
    FailureOr<ShardingRule> rule = getShardingRule(op);
    if (failed(rule))
      return;
    Node node{op, std::move(*rule), {}, {}};
    node.candidates = candidatesOf(node.rule, op);
    nodeIndex[op] = nodes.size();
    nodes.push_back(std::move(node));
  });
  if (failed(applyPins()))
    return failure();

  // Restarts over the layouts of weights shared by several ops (a tied
  // embedding and LM head): the greedy start decides a shared weight at its
  // first user, blind to the others, and escaping that takes more than a
  // local move. Each restart holds one such weight in one layout.
  SmallVector<std::pair<StateOpInterface, Layout>> seeds = {{StateOpInterface(), Layout{}}};
  for (StateOpInterface weight : weights) {
    if (pinnedWeights.count(weight) || llvm::range_size(weight->getUsers()) < 2)
      continue;
    for (Layout layout : weightCandidates(weight))
      seeds.push_back({weight, layout});
  }
  Cost best{kInfinity, kInfinity, kInfinity};
  std::vector<Strategy> bestStrategies;
  DenseMap<Value, Layout> bestLayouts;
  for (auto [weight, layout] : seeds) {
    layouts.clear();
    for (auto &[pinnedWeight, pinnedLayout] : pinnedWeights)
      layouts[pinnedWeight->getResult(0)] = pinnedLayout;
    if (weight) {
      pinnedWeights[weight] = layout;
      layouts[weight] = layout;
    }
    search();
    if (weight)
      pinnedWeights.erase(weight);
    Cost cost = totalCost();
    if (cost.lessThan(best, memoryTolerance)) {
      best = cost;
      bestLayouts = layouts;
      bestStrategies.clear();
      for (Node &node : nodes)
        bestStrategies.push_back(node.chosen);
    }
  }
  layouts = std::move(bestLayouts);
  for (auto [node, strategy] : llvm::zip(nodes, bestStrategies))
    node.chosen = strategy;
  return success();
}

Cost LayoutPlanner::totalCost() const {
  Cost cost;
  for (const Node &node : nodes)
    cost += nodeCost(node);
  for (StateOpInterface weight : weights)
    cost += weightCost(weight);
  func::FuncOp f = func;
  for (BlockArgument arg : f.getArguments())
    cost += valueCost(arg);
  f.walk([&](Operation *op) {
    for (Value result : op->getResults())
      cost += valueCost(result);
  });
  return cost;
}

void LayoutPlanner::search() {
  // Greedy start in program order: each op takes its cheapest strategy
  // given its producers, counting a partial result as the all-reduce it
  // will eventually need.
  for (Node &node : nodes) {
    Strategy best = node.candidates.front();
    Cost bestCost{kInfinity, kInfinity, kInfinity};
    for (Strategy s : node.candidates) {
      setStrategy(node, s);
      Cost cost = nodeCost(node);
      for (auto [i, operand] : llvm::enumerate(node.op->getOperands()))
        cost += reshard(operand, requiredOperandLayout(node.rule, s, i));
      for (auto [i, operand] : llvm::enumerate(node.op->getOperands()))
        if (auto weight = operand.getDefiningOp<StateOpInterface>())
          cost.memory +=
              memoryCost(weight, requiredOperandLayout(node.rule, s, i));
      for (Value result : node.op->getResults())
        if (sequenceParallel &&
            !cast<RankedTensorType>(result.getType()).hasStaticShape())
          cost.activations += perRankBytes(result, layouts[result]);
      for (Value result : node.op->getResults())
        if (layouts[result].partial)
          cost.time += model.collectiveTime(CollectiveKind::AllReduce,
                                            model.bytes(typeOf(result)));
      if (cost.lessThan(bestCost, memoryTolerance)) {
        best = s;
        bestCost = cost;
      }
    }
    setStrategy(node, best);
    for (auto [i, operand] : llvm::enumerate(node.op->getOperands())) {
      auto weight = operand.getDefiningOp<StateOpInterface>();
      Layout want = requiredOperandLayout(node.rule, best, i);
      if (weight && !pinnedWeights.count(weight) &&
          layouts.lookup(weight).isReplicated() && !want.partial &&
          llvm::is_contained(weightCandidates(weight), want))
        layouts[weight] = want;
    }
  }

  // Local search to a local minimum (bounded sweeps): single ops, weights,
  // then an op together with each of its users, which reaches plans where
  // two layouts must change at once (a row split and the all-reduce after
  // it).
  for (int sweep = 0; sweep < 16; ++sweep) {
    bool improved = false;
    for (Node &node : nodes) {
      if (pinned.count(node.op))
        continue;
      for (Strategy s : node.candidates)
        if (!(s == node.chosen)) {
          improved |= tryMove({{&node, s}});
          if (!(s == node.chosen))
            improved |= tryMove(withFollowers(node, s));
        }
    }
    for (Node &node : nodes) {
      if (pinned.count(node.op))
        continue;
      for (Operation *userOp : node.op->getUsers()) {
        auto it = nodeIndex.find(userOp);
        if (it == nodeIndex.end() || pinned.count(userOp))
          continue;
        Node &user = nodes[it->second];
        for (Strategy s : node.candidates)
          for (Strategy t : user.candidates)
            if (!(s == node.chosen) || !(t == user.chosen))
              improved |= tryMove({{&node, s}, {&user, t}});
      }
    }
    for (StateOpInterface weight : weights) {
      if (pinnedWeights.count(weight))
        continue;
      for (Layout layout : weightCandidates(weight))
        if (layout != layouts.lookup(weight))
          improved |= tryWeightMove(weight, layout);
    }
    if (!improved)
      break;
  }
}

/// A layout in words, for diagnostics.
static std::string describe(Layout layout) {
  if (layout.partial)
    return "partial sums";
  if (layout.dim < 0)
    return "whole";
  return "split along dimension " + std::to_string(layout.dim);
}

void LayoutPlanner::reportPinConflicts() {
  // Two pins that disagree about one value cost a collective per pass.
  auto isPinned = [&](Operation *op) {
    return op && (pinned.count(op) || pinnedWeights.count(op));
  };
  func::FuncOp f = func;
  f.walk([&](Operation *producer) {
    if (!isPinned(producer))
      return;
    for (Value v : producer->getResults())
      for (OpOperand &use : v.getUses()) {
        Operation *user = use.getOwner();
        Layout want = requiredLayout(user, use.getOperandNumber());
        Layout have = layouts.lookup(v);
        if (!isPinned(user) || want == have)
          continue;
        StringRef kind = have.partial    ? (want.dim >= 0 ? "a reduce-scatter"
                                                          : "an all-reduce")
                         : have.dim >= 0 ? "an all-gather"
                                         : "a slice";
        InFlightDiagnostic diag =
            user->emitWarning()
            << "pinned layouts conflict: operand #" << use.getOperandNumber()
            << " is pinned " << describe(have)
            << " by its producer, and this op's pin needs it " << describe(want)
            << "; " << kind << " is inserted between them";
        diag.attachNote(producer->getLoc()) << "the producer's pin is here";
      }
  });
}

void LayoutPlanner::annotate() {
  MLIRContext *context = func.getContext();
  auto attrFor = [&](Value v) {
    Layout layout = layouts.lookup(v);
    Granularity g =
        layout.dim >= 0 ? granularity.get(v, layout.dim) : Granularity{};
    return toShardingAttr(context, layout, typeOf(v), g);
  };
  for (StateOpInterface weight : weights) {
    setResultShardings(weight, {attrFor(weight)});
    // A weight that stays whole though it is large is worth a word.
    if (model.ranks > 1 && weight.getType().getRank() == 2 &&
        weightCandidates(weight).size() == 1)
      weight.emitWarning() << "weight stays replicated: no dimension of "
                           << weight.getType()
                           << " splits over tp = " << model.ranks
                           << " (tp degrees that work: dimension 0: "
                           << splittableDegrees(weight, 0)
                           << "; dimension 1: " << splittableDegrees(weight, 1)
                           << ")";
  }
  for (Node &node : nodes) {
    SmallVector<ShardingAttr> shardings;
    for (Value result : node.op->getResults())
      shardings.push_back(attrFor(result));
    setResultShardings(node.op, shardings);
  }
}
