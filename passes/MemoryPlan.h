//===- MemoryPlan.h - live ranges and peak memory of a rank's program -*- C++
//-*-===//
//
// The activations of a partitioned function (every tensor an op computes,
// except weights and KV caches, which live across calls) and where each one
// dies: after the last op that reads it. The runtime frees a buffer there
// (tpc-plan-memory inserts tpc.release), so the memory a pass needs is the
// most that is live at once. That peak depends on the run's batch and
// sequence length: an activation holds fixed + perSequence * batch +
// perToken * batch * seq bytes on the largest rank (dimension 0 of a
// dynamic shape is the batch, later dynamic dimensions the sequence).
// The buffers a runtime call needs besides its result (collectives pack
// and communicate in f32) count at that op.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_PASSES_MEMORYPLAN_H
#define TPC_PASSES_MEMORYPLAN_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SmallVector.h"

namespace mlir::tpc {

/// Bytes as a function of the run's batch and sequence length.
struct LiveBytes {
  double fixed = 0, perSequence = 0, perToken = 0;

  double at(int64_t batch, int64_t seq) const {
    return fixed + perSequence * double(batch) +
           perToken * double(batch) * double(seq);
  }
  LiveBytes &operator+=(const LiveBytes &o) {
    fixed += o.fixed;
    perSequence += o.perSequence;
    perToken += o.perToken;
    return *this;
  }
  LiveBytes &operator-=(const LiveBytes &o) {
    fixed -= o.fixed;
    perSequence -= o.perSequence;
    perToken -= o.perToken;
    return *this;
  }
  /// At least as large as `o` for every batch and sequence length.
  bool covers(const LiveBytes &o) const {
    return fixed >= o.fixed && perSequence >= o.perSequence &&
           perToken >= o.perToken;
  }
};

struct MemoryPlan {
  /// The live bytes at each op where no other op has more for every batch
  /// and sequence length: the peak of a run is the largest of these.
  SmallVector<LiveBytes> peaks;
  /// The activations whose last use is each op (an op's unused results
  /// die at the op itself). Results of the function never die.
  llvm::DenseMap<Operation *, SmallVector<Value>> deaths;

  double peakAt(int64_t batch, int64_t seq) const {
    double peak = 0;
    for (const LiveBytes &p : peaks)
      peak = std::max(peak, p.at(batch, seq));
    return peak;
  }
};

/// True for a value the runtime allocates for one call: a float tensor
/// computed by an op that is not program state (weight, KV cache, or the
/// in-place update of one).
bool isActivation(Value value);

/// The largest rank's bytes of activation `value` (its local type, with
/// tpc.max_local_shape for dimensions the ranks hold unevenly).
LiveBytes activationBytes(Value value);

/// Live ranges of `func`, a partitioned function of one block.
MemoryPlan planMemory(func::FuncOp func);

} // namespace mlir::tpc

#endif // TPC_PASSES_MEMORYPLAN_H
