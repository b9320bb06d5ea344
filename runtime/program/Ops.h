//===- Ops.h - the calls a partitioned program makes, one per op -*- C++
//-*-===//
//
// What generated code calls for each op of a partitioned tpc program, on one
// rank (see docs/lowering-plan.md). Arguments are the op's global
// attributes and the layouts the partitioner chose; local extents and head
// offsets follow from them through runtime/sharding/Split.h, so one program
// serves every rank. Every call takes the rank's context first: its device
// (a Backend), its communicator and its weights. Tensors keep the element
// type of the program (f32, bf16 or f16); collectives reduce in f32.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_PROGRAM_OPS_H
#define TPC_RUNTIME_PROGRAM_OPS_H

#include "runtime/comm/Communicator.h"
#include "runtime/core/Tensor.h"
#include "runtime/program/Backend.h"
#include "runtime/sharding/Split.h"

#include <cstdint>
#include <map>
#include <set>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace tpc::weights {
class WeightStore;
} // namespace tpc::weights

namespace tpc::program {

/// A value's layout over the tp axis: split along `dim` (or whole when -1)
/// with the given granularity, or partial sums.
struct Layout {
  int dim = -1;
  bool partial = false;
  int64_t unit = 1, sections = 1, groups = 1;
};

class DataParallelQueue;

/// One rank's view of the run.
struct RankContext {
  int rank = 0;
  int size = 1;
  comm::Communicator *comm = nullptr;
  /// Weights from a checkpoint, or made up from `seed` when null.
  const weights::WeightStore *store = nullptr;
  uint64_t seed = 0;
  /// The sequence length of the run, for dimensions sized by it (a
  /// collective along a dynamic sequence dimension passes -1).
  int64_t seq = 0;
  /// The rank's weights, loaded on first use and kept across passes.
  std::map<std::string, Tensor, std::less<>> weights;
  /// The rank's KV caches, allocated on first use for `cacheBatch`
  /// sequences of `maxSeq` positions and kept (updated in place) across
  /// calls; cleared to start a new batch.
  std::map<std::string, Tensor, std::less<>> caches;
  int64_t cacheBatch = 0, maxSeq = 0;
  /// The device the rank computes on; the host's when null.
  Backend *backend = nullptr;

  /// Training: weights are the rank's own copies (an optimizer updates
  /// them in place), never views of the mapped checkpoint.
  bool trainable = false;
  /// How each weight loaded so far is laid out, and its checkpoint shape
  /// (for the optimizer's global norm and for gathering checkpoints).
  struct WeightInfo {
    Layout layout;
    std::vector<int64_t> globalShape;
  };
  std::map<std::string, WeightInfo, std::less<>> weightInfo;
  /// Each weight's gradient, laid out like the weight: tpc.accumulate_grad
  /// adds into it; the optimizer reads it and sets it to zero.
  std::map<std::string, Tensor, std::less<>> grads;
  /// The weights whose gradients are partial sums over the ranks until
  /// reducePartialGradients sums them.
  std::set<std::string, std::less<>> partialGrads;
  /// Set by the training loop during the last micro-batch of a
  /// data-parallel step: tpc.reduce_gradients starts its buckets here.
  DataParallelQueue *gradientQueue = nullptr;
  /// Set by the training loop of a ZeRO-1 run: the updated weights are
  /// all-gathered here during the next pass, which waits for each weight
  /// before reading it.
  DataParallelQueue *weightQueue = nullptr;
  /// The weights that linearWeight has handed to the backend's
  /// prepareLinearWeight (inference only).
  std::set<std::string, std::less<>> preparedWeights;
  /// The weights in the order they were first loaded: a pass reads them
  /// in this order (the order to gather updated weights in).
  std::vector<std::string> loadOrder;
};

/// The context's backend.
Backend &backendOf(RankContext &ctx);

/// How `globalSize` elements of a dimension laid out by `layout` are dealt
/// over the context's ranks.
sharding::DimSplit splitOf(const RankContext &ctx, const Layout &layout,
                           int64_t globalSize);

/// The rank's shard of weight `name` of `globalShape`, loaded (or made up)
/// on first use, converted to `dtype` on the rank's device and kept in the
/// context.
Tensor weight(RankContext &ctx, std::string_view name,
              std::initializer_list<int64_t> globalShape,
              const Layout &layout, DType dtype);

/// weight(), for a weight that only linear layers and the LM head read
/// (`inOut`: its layout, [in, out] or [out, in]). Outside training its
/// first use hands it to the backend's prepareLinearWeight (on the CPU:
/// packed for oneDNN), and the prepared form replaces the loaded one.
Tensor linearWeight(RankContext &ctx, std::string_view name,
                    std::initializer_list<int64_t> globalShape,
                    const Layout &layout, DType dtype, bool inOut);

/// Token ids [batch, seq]; a value per sequence (offsets, lengths) is
/// [batch, 1].
struct Ids {
  std::vector<int32_t> values;
  int64_t batch = 0, seq = 0;
};

Tensor embedding(RankContext &ctx, const Tensor &table,
                 const Layout &tableLayout, int64_t vocab, const Ids &ids);
/// Position ids [batch, seq] (0..seq-1 in each row).
Ids positions(RankContext &ctx, const Ids &ids);
/// Position ids counted from each sequence's offset: offsets[b] + s.
Ids positions(RankContext &ctx, const Ids &ids, const Ids &offsets);
/// `resultPartial`: the input dimension is split and the result a partial
/// sum, so the bias is added on rank 0 only.
Tensor linear(RankContext &ctx, const Tensor &x, const Tensor &weight,
              const Tensor *bias, bool inOut, bool resultPartial,
              Activation act = Activation::None);
/// Cuts the last dimension into `pieces` equal consecutive parts.
std::vector<Tensor> split(RankContext &ctx, const Tensor &x, int64_t pieces);
/// Part `index` of split(x, pieces).
Tensor splitPiece(RankContext &ctx, const Tensor &x, int64_t pieces,
                  int64_t index);
/// linear without and with a bias, as generated code calls them.
/// `act`: an activation fused into the linear (tpc-fuse).
Tensor linearNoBias(RankContext &ctx, const Tensor &x, const Tensor &weight,
                    bool inOut, Activation act = Activation::None);
Tensor linearBias(RankContext &ctx, const Tensor &x, const Tensor &weight,
                  const Tensor &bias, bool inOut, bool resultPartial,
                  Activation act = Activation::None);
Tensor add(RankContext &ctx, const Tensor &a, const Tensor &b);
Tensor mul(RankContext &ctx, const Tensor &a, const Tensor &b);
Tensor gelu(RankContext &ctx, const Tensor &x);
Tensor silu(RankContext &ctx, const Tensor &x);
/// silu(gate) * up, one pass (tpc.silu_mul).
Tensor siluMul(RankContext &ctx, const Tensor &gate, const Tensor &up);
Tensor layerNorm(RankContext &ctx, const Tensor &x, const Tensor &scale,
                 const Tensor &shift, double eps);
Tensor rmsNorm(RankContext &ctx, const Tensor &x, const Tensor &scale,
               double eps);
/// A residual add fused with the norm of its sum (tpc-fuse): both
/// results, moved out by takeSum and takeNorm.
struct SumAndNorm {
  Tensor sum, norm;
};
SumAndNorm addLayerNorm(RankContext &ctx, const Tensor &a, const Tensor &b,
                        const Tensor &scale, const Tensor &shift, double eps);
SumAndNorm addRmsNorm(RankContext &ctx, const Tensor &a, const Tensor &b,
                      const Tensor &scale, double eps);
Tensor takeSum(RankContext &ctx, SumAndNorm &both);
Tensor takeNorm(RankContext &ctx, SumAndNorm &both);
Tensor rope(RankContext &ctx, const Tensor &x, int64_t headDim, double theta);
/// RoPE at positions counted from each sequence's offset.
Tensor rope(RankContext &ctx, const Tensor &x, const Ids &offsets,
            int64_t headDim, double theta);
/// `qLayout` / `kvLayout` are the layouts of q and k (whole, or split by
/// heads with `unit` = head_dim and, for k, `groups`).
Tensor attention(RankContext &ctx, const Tensor &q, const Tensor &k,
                 const Tensor &v, int64_t numHeads, int64_t numKvHeads,
                 const Layout &qLayout, const Layout &kvLayout, int64_t window);
/// Attention of queries at offsets[b] + i over a KV cache ([batch,
/// maxSeq, features], keys at their positions).
Tensor attention(RankContext &ctx, const Tensor &q, const Tensor &k,
                 const Tensor &v, const Ids &offsets, int64_t numHeads,
                 int64_t numKvHeads, const Layout &qLayout,
                 const Layout &kvLayout, int64_t window);
Tensor lmHead(RankContext &ctx, const Tensor &x, const Tensor &table);
/// Row lengths[b] - 1 of each sequence of x [batch, seq, n]: [batch, n].
Tensor lastToken(RankContext &ctx, const Tensor &x, const Ids &lengths);

/// Ends `x`'s life (tpc.release, after its last use): the rank's reference
/// to the buffer is dropped, so it is freed once no view holds it.
void release(RankContext &ctx, Tensor &x);

/// The rank's cache `name` (its shard of `globalFeatures` laid out by
/// `layout`), allocated on first use as [cacheBatch, maxSeq, local].
Tensor kvCache(RankContext &ctx, std::string_view name,
               int64_t globalFeatures, const Layout &layout, DType dtype);
/// Writes x [batch, seq, n] into `cache` at rows offsets[b] .. in place and
/// returns the cache (the same storage).
Tensor cacheUpdate(RankContext &ctx, const Tensor &cache, const Tensor &x,
                   const Ids &offsets);

//===----------------------------------------------------------------------===//
// Training (tpc-derive-training): the loss and the derivatives, in
// TrainingOps.cpp.
//===----------------------------------------------------------------------===//

/// Part `index` of a call that returns several tensors, moved out.
Tensor take(RankContext &ctx, std::vector<Tensor> &parts, int64_t index);
/// {loss, lse} per position, f32 [batch, seq]. `layout` is the logits'
/// (the vocabulary split or whole), `vocab` its global size.
std::vector<Tensor> crossEntropy(RankContext &ctx, const Tensor &logits,
                                 const Layout &layout, int64_t vocab,
                                 const Ids &targets, int64_t ignoreIndex);
Tensor crossEntropyGrad(RankContext &ctx, const Tensor &logits,
                        const Layout &layout, int64_t vocab,
                        const Ids &targets, const Tensor &lse,
                        const Tensor &dloss, int64_t ignoreIndex);
Tensor linearWeightGrad(RankContext &ctx, const Tensor &x, const Tensor &dy,
                        bool inOut);
Tensor sumRows(RankContext &ctx, const Tensor &x);
/// The rank's rows of the table gradient (`tableLayout`, `vocab` rows in
/// all).
Tensor embeddingGrad(RankContext &ctx, const Tensor &grad, const Ids &ids,
                     const Layout &tableLayout, int64_t vocab);
Tensor geluGrad(RankContext &ctx, const Tensor &x, const Tensor &dy);
Tensor siluGrad(RankContext &ctx, const Tensor &x, const Tensor &dy);
Tensor normGrad(RankContext &ctx, const Tensor &x, const Tensor &dy,
                const Tensor &scale, double eps, bool centered);
Tensor normScaleGrad(RankContext &ctx, const Tensor &x, const Tensor &dy,
                     double eps, bool centered);
Tensor ropeGrad(RankContext &ctx, const Tensor &dy, int64_t headDim,
                double theta);
/// {dq, dk, dv}; layouts as for attention.
std::vector<Tensor> attentionGrad(RankContext &ctx, const Tensor &q,
                                  const Tensor &k, const Tensor &v,
                                  const Tensor &dout, int64_t numHeads,
                                  int64_t numKvHeads, const Layout &qLayout,
                                  const Layout &kvLayout, int64_t window);
/// Joins tensors along the last dimension.
Tensor concatParts(RankContext &ctx, std::vector<const Tensor *> parts);
template <typename... Parts>
Tensor concat(RankContext &ctx, const Parts &...parts) {
  return concatParts(ctx, {&parts...});
}
/// Adds `grad` into the gradient of weight `name` (laid out alike).
/// `partial`: every rank's `grad` is a partial sum over the ranks; the
/// buffer is summed over them after the backward pass
/// (reducePartialGradients, one all-reduce for all such weights).
void accumulateGrad(RankContext &ctx, std::string_view name,
                    const Tensor &grad, bool partial = false);
/// accumulateGrad(name, linearWeightGrad(x, dy, inOut)) in one GEMM that
/// adds into the gradient buffer.
void accumulateLinearWeightGrad(RankContext &ctx, std::string_view name,
                                const Tensor &x, const Tensor &dy, bool inOut,
                                bool partial = false);
/// accumulateGrad(name, embeddingGrad(grad, ids)) without the table:
/// row ids[i] of the gradient of table `name` (`vocab` rows, laid out as
/// the weight was loaded) += grad[i], for the rows this rank holds.
void accumulateEmbeddingGrad(RankContext &ctx, std::string_view name,
                             const Tensor &grad, const Ids &ids,
                             int64_t vocab, bool partial = false);
/// The gradients `names` are complete: starts summing them over the
/// data-parallel replicas (ctx.gradientQueue): all-reduced, or with ZeRO-1
/// reduce-scattered; does nothing when the pass has no queue (dp = 1,
/// TPC_DP_OVERLAP=0, an earlier micro-batch).
void reduceGradients(RankContext &ctx,
                     std::initializer_list<std::string_view> names);

/// Collectives over the context's ranks. `layout` is the split one side of
/// the collective has (the input of a gather, the result of a scatter or
/// slice) and `globalSize` that dimension's global size.
void allReduce(RankContext &ctx, Tensor &x);
/// A whole copy of partial sums `x`.
Tensor allReduced(RankContext &ctx, const Tensor &x);
Tensor allGather(RankContext &ctx, const Tensor &x, const Layout &layout,
                 int64_t globalSize);
Tensor reduceScatter(RankContext &ctx, const Tensor &x, const Layout &layout);
Tensor allSlice(RankContext &ctx, const Tensor &x, const Layout &layout);

} // namespace tpc::program

#endif // TPC_RUNTIME_PROGRAM_OPS_H
