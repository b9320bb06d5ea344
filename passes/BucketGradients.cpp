//===- BucketGradients.cpp - dp gradient buckets in the backward pass -----===//
//
// A weight's gradient is complete at its last tpc.accumulate_grad; from
// there it can be summed over the data-parallel replicas while the
// backward pass goes on. This pass packs the weights, in the order their
// gradients complete, into buckets of a bounded size and places one
// tpc.reduce_gradients per bucket after the accumulation that completes
// it (see Passes.td).
//
//===----------------------------------------------------------------------===//
#include "passes/Passes.h"
#include "passes/Strategy.h"

#include "dialects/tpc/TpcOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

#include "llvm/ADT/MapVector.h"

namespace mlir::tpc {
#define GEN_PASS_DEF_BUCKETGRADIENTS
#include "passes/Passes.h.inc"
} // namespace mlir::tpc

using namespace mlir;
using namespace mlir::tpc;

namespace {
/// The f32 bytes of the largest rank's gradient of `weight`: its shard's
/// type, with tpc.max_local_shape where the ranks hold uneven parts.
int64_t gradientBytes(Value weight) {
  auto type = cast<RankedTensorType>(weight.getType());
  DenseI64ArrayAttr largest = getMaxLocalShape(weight);
  int64_t elements = 1;
  for (auto [d, size] : llvm::enumerate(type.getShape()))
    elements *= ShapedType::isDynamic(size) && largest ? largest[d]
                 : ShapedType::isDynamic(size)         ? 1
                                                       : size;
  return elements * 4;
}

struct BucketGradientsPass
    : public mlir::tpc::impl::BucketGradientsBase<BucketGradientsPass> {
  using BucketGradientsBase::BucketGradientsBase;

  void runOnOperation() override {
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (func.isExternal() || !func.getBody().hasOneBlock() ||
          !func.getOps<ReduceGradientsOp>().empty())
        continue;
      // Each weight name's last accumulation, in program order (a tied
      // weight has several; the last completes its gradient).
      llvm::MapVector<StringRef, AccumulateGradOp> last;
      func.walk([&](AccumulateGradOp op) {
        StringRef name = op.getWeight().getDefiningOp<WeightOp>().getName();
        last.erase(name);
        last.insert({name, op});
      });
      int64_t limit = int64_t(bucketMib * 1024 * 1024);
      SmallVector<Value> bucket;
      int64_t bytes = 0;
      AccumulateGradOp completing;
      auto close = [&] {
        OpBuilder b(completing);
        b.setInsertionPointAfter(completing);
        ReduceGradientsOp::create(b, completing.getLoc(), bucket);
        bucket.clear();
        bytes = 0;
      };
      for (auto [name, op] : last) {
        int64_t size = gradientBytes(op.getWeight());
        if (!bucket.empty() && bytes + size > limit)
          close();
        bucket.push_back(op.getWeight());
        bytes += size;
        completing = op;
      }
      if (!bucket.empty())
        close();
    }
  }
};
} // namespace
