//===- Granularity.cpp - how finely each dimension may be split -----------===//
#include "passes/Granularity.h"
#include "passes/ShardingRules.h"

#include <numeric>

using namespace mlir;
using namespace mlir::tpc;

namespace {
/// Merges two counts where 0 means unknown; a mismatch is an inconsistency.
int64_t mergeCount(int64_t a, int64_t b, bool &consistent) {
  if (a == 0 || a == b)
    return b;
  if (b == 0)
    return a;
  consistent = false;
  return a;
}

/// `count` seen through a dimension that holds `perDim` factor slices:
/// 0 stays unknown; a count that is not a multiple is inconsistent.
int64_t toFactorFrame(int64_t count, int64_t perDim, bool &consistent) {
  if (count == 0)
    return 0;
  if (count % perDim != 0) {
    consistent = false;
    return count;
  }
  return count / perDim;
}

int64_t fromFactorFrame(int64_t count, int64_t perDim) {
  if (count == 0)
    return perDim == 1 ? 0 : perDim;
  return count * perDim;
}
} // namespace

GranularityAnalysis::GranularityAnalysis(func::FuncOp func) {
  struct Use {
    Value value;
    unsigned dim;
    DimFactor factor;
  };
  // Every op's rule, flattened to the dimensions of each factor.
  SmallVector<SmallVector<Use>> factorUses;
  func.walk([&](Operation *op) {
    FailureOr<ShardingRule> rule = getShardingRule(op);
    if (failed(rule))
      return;
    SmallVector<SmallVector<Use>> uses(rule->factors.size());
    auto collect = [&](ValueRange values,
                       ArrayRef<SmallVector<DimFactor>> mapping) {
      for (auto [value, dimsOf] : llvm::zip(values, mapping))
        for (auto [d, df] : llvm::enumerate(dimsOf))
          if (df.factor >= 0)
            uses[df.factor].push_back({value, static_cast<unsigned>(d), df});
    };
    collect(op->getOperands(), rule->operands);
    collect(op->getResults(), rule->results);
    for (auto &u : uses)
      factorUses.push_back(std::move(u));
  });

  auto current = [&](Value v, unsigned d) {
    auto it = dims.find({v, d});
    return it != dims.end() ? it->second : Granularity{1, 0, 0, true};
  };

  // Each round merges every factor's dims in the factor's own frame and
  // writes the result back; the lattice is finite, so this terminates.
  for (bool changed = true; changed;) {
    changed = false;
    for (ArrayRef<Use> uses : factorUses) {
      Granularity frame{1, 0, 0, true};
      for (const Use &u : uses) {
        Granularity g = current(u.value, u.dim);
        frame.unit = std::lcm(frame.unit, std::lcm(g.unit, u.factor.unit));
        frame.consistent &= g.consistent;
        frame.sections = mergeCount(
            frame.sections,
            toFactorFrame(g.sections, u.factor.sections, frame.consistent),
            frame.consistent);
        frame.groups = mergeCount(
            frame.groups,
            toFactorFrame(g.groups, u.factor.groups, frame.consistent),
            frame.consistent);
      }
      for (const Use &u : uses) {
        Granularity next{
            frame.unit, fromFactorFrame(frame.sections, u.factor.sections),
            fromFactorFrame(frame.groups, u.factor.groups), frame.consistent};
        Granularity &slot = dims[{u.value, u.dim}];
        if (!(slot == next)) {
          slot = next;
          changed = true;
        }
      }
    }
  }
}

Granularity GranularityAnalysis::get(Value value, unsigned dim) const {
  auto it = dims.find({value, dim});
  if (it == dims.end())
    return {};
  Granularity g = it->second;
  g.sections = g.sections ? g.sections : 1;
  g.groups = g.groups ? g.groups : 1;
  return g;
}
