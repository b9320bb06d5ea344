//===- TrainingOps.cpp - the loss and derivative calls of a training step -===//
//
// What generated code calls for the ops tpc-derive-training adds (see
// Ops.h): shapes, the rank's vocabulary and head offsets, the collectives
// inside the vocab-parallel cross-entropy; the arithmetic is the backend's.
//
//===----------------------------------------------------------------------===//
#include "runtime/program/Ops.h"
#include "runtime/program/DataParallelQueue.h"
#include "runtime/core/MemoryMeter.h"

#include <cmath>
#include <cstring>
#include <stdexcept>

using namespace tpc;
using namespace tpc::program;

namespace {
int64_t lastDim(const Tensor &t) { return t.shape().back(); }
int64_t rowsOf(const Tensor &t) { return t.numElements() / lastDim(t); }
float *f32(Tensor &t) { return static_cast<float *>(t.data()); }

/// The first global index of the rank's part of a dimension of `size`
/// laid out by `layout` along `dim` (0 when whole).
int64_t firstIndex(RankContext &ctx, const Layout &layout, int dim,
                   int64_t size) {
  if (layout.dim != dim)
    return 0;
  return sharding::elementRanges(splitOf(ctx, layout, size), ctx.rank)[0]
      .begin;
}

/// The per-position shape [batch, seq] of a [batch, seq, n] tensor.
std::vector<int64_t> positionsOf(const Tensor &t) {
  return {t.shape()[0], t.shape()[1]};
}
} // namespace

Tensor tpc::program::take(RankContext &, std::vector<Tensor> &parts,
                          int64_t index) {
  return std::move(parts.at(size_t(index)));
}

std::vector<Tensor> tpc::program::crossEntropy(RankContext &ctx,
                                               const Tensor &logits,
                                               const Layout &layout,
                                               int64_t vocab,
                                               const Ids &targets,
                                               int64_t ignoreIndex) {
  for (int32_t t : targets.values)
    if (t != ignoreIndex && (t < 0 || t >= vocab))
      throw std::runtime_error("target id " + std::to_string(t) +
                               " is outside the vocabulary of " +
                               std::to_string(vocab));
  Backend &backend = backendOf(ctx);
  int64_t rows = rowsOf(logits), localVocab = lastDim(logits);
  bool split = layout.dim == 2;
  int64_t vocabBegin = firstIndex(ctx, layout, 2, vocab);
  // Megatron's vocab-parallel cross-entropy: the ranks agree on each row's
  // maximum (a gather of [rows] per rank), then sum their exponentials and
  // target logits (one all-reduce of [2, rows]); the logits stay split.
  Tensor max = backend.empty({rows}, DType::F32);
  backend.rowMax(logits, rows, localVocab, max);
  if (split) {
    Tensor all = backend.empty({rows * ctx.size}, DType::F32);
    backend.synchronize();
    ctx.comm->allGather(f32(max), f32(all),
                        std::vector<size_t>(ctx.size, size_t(rows)));
    for (int64_t r = 0; r < rows; ++r)
      for (int rank = 0; rank < ctx.size; ++rank)
        f32(max)[r] = std::max(f32(max)[r], f32(all)[rank * rows + r]);
  }
  Tensor sums = backend.empty({2, rows}, DType::F32);
  Tensor sumExp = backend.empty({rows}, DType::F32),
         target = backend.empty({rows}, DType::F32);
  backend.sumExpAndTarget(logits, rows, localVocab, vocabBegin, max,
                          targets.values, sumExp, target);
  if (split) {
    std::copy(f32(sumExp), f32(sumExp) + rows, f32(sums));
    std::copy(f32(target), f32(target) + rows, f32(sums) + rows);
    backend.synchronize();
    ctx.comm->allReduceSum(f32(sums), size_t(2 * rows));
    std::copy(f32(sums), f32(sums) + rows, f32(sumExp));
    std::copy(f32(sums) + rows, f32(sums) + 2 * rows, f32(target));
  }
  Tensor loss = backend.empty(positionsOf(logits), DType::F32);
  Tensor lse = backend.empty(positionsOf(logits), DType::F32);
  for (int64_t r = 0; r < rows; ++r) {
    f32(lse)[r] = std::log(f32(sumExp)[r]) + f32(max)[r];
    f32(loss)[r] = targets.values[r] == ignoreIndex
                       ? 0.0f
                       : f32(lse)[r] - f32(target)[r];
  }
  return {loss, lse};
}

Tensor tpc::program::crossEntropyGrad(RankContext &ctx, const Tensor &logits,
                                      const Layout &layout, int64_t vocab,
                                      const Ids &targets, const Tensor &lse,
                                      const Tensor &dloss,
                                      int64_t ignoreIndex) {
  Backend &backend = backendOf(ctx);
  Tensor out = backend.empty(logits.shape(), logits.dtype());
  backend.crossEntropyGrad(logits, rowsOf(logits), lastDim(logits),
                           firstIndex(ctx, layout, 2, vocab), targets.values,
                           lse, dloss, ignoreIndex, out);
  return out;
}

Tensor tpc::program::linearWeightGrad(RankContext &ctx, const Tensor &x,
                                      const Tensor &dy, bool inOut) {
  int64_t in = lastDim(x), out = lastDim(dy);
  Backend &backend = backendOf(ctx);
  Tensor dw = backend.empty(inOut ? std::vector<int64_t>{in, out}
                                  : std::vector<int64_t>{out, in},
                            x.dtype());
  backend.linearWeightGrad(x, dy, rowsOf(x), in, out, inOut, dw);
  return dw;
}

Tensor tpc::program::sumRows(RankContext &ctx, const Tensor &x) {
  Backend &backend = backendOf(ctx);
  Tensor out = backend.empty({lastDim(x)}, x.dtype());
  backend.sumRows(x, rowsOf(x), lastDim(x), out);
  return out;
}

Tensor tpc::program::embeddingGrad(RankContext &ctx, const Tensor &grad,
                                   const Ids &ids, const Layout &tableLayout,
                                   int64_t vocab) {
  int64_t localRows =
      tableLayout.dim == 0
          ? sharding::localSize(splitOf(ctx, tableLayout, vocab), ctx.rank)
          : vocab;
  Backend &backend = backendOf(ctx);
  Tensor table = backend.empty({localRows, lastDim(grad)}, grad.dtype());
  backend.embeddingGrad(grad, ids.values, lastDim(grad),
                        firstIndex(ctx, tableLayout, 0, vocab), localRows,
                        table);
  return table;
}

Tensor tpc::program::geluGrad(RankContext &ctx, const Tensor &x,
                              const Tensor &dy) {
  Tensor dx = backendOf(ctx).empty(x.shape(), x.dtype());
  backendOf(ctx).activationGrad(Activation::Gelu, x, dy, dx);
  return dx;
}

Tensor tpc::program::siluGrad(RankContext &ctx, const Tensor &x,
                              const Tensor &dy) {
  Tensor dx = backendOf(ctx).empty(x.shape(), x.dtype());
  backendOf(ctx).activationGrad(Activation::Silu, x, dy, dx);
  return dx;
}

Tensor tpc::program::normGrad(RankContext &ctx, const Tensor &x,
                              const Tensor &dy, const Tensor &scale,
                              double eps, bool centered) {
  Tensor dx = backendOf(ctx).empty(x.shape(), x.dtype());
  backendOf(ctx).normGrad(x, dy, scale, rowsOf(x), lastDim(x), float(eps),
                          centered, dx);
  return dx;
}

Tensor tpc::program::normScaleGrad(RankContext &ctx, const Tensor &x,
                                   const Tensor &dy, double eps,
                                   bool centered) {
  Tensor ds = backendOf(ctx).empty({lastDim(x)}, x.dtype());
  backendOf(ctx).normScaleGrad(x, dy, rowsOf(x), lastDim(x), float(eps),
                               centered, ds);
  return ds;
}

Tensor tpc::program::ropeGrad(RankContext &ctx, const Tensor &dy,
                              int64_t headDim, double theta) {
  Backend &backend = backendOf(ctx);
  Tensor out = backend.convert(dy, dy.dtype());
  backend.ropeInverse(out, dy.shape()[0], dy.shape()[1], lastDim(dy) / headDim,
                      headDim, theta);
  return out;
}

std::vector<Tensor> tpc::program::attentionGrad(
    RankContext &ctx, const Tensor &q, const Tensor &k, const Tensor &v,
    const Tensor &dout, int64_t numHeads, int64_t numKvHeads,
    const Layout &qLayout, const Layout &kvLayout, int64_t window) {
  int64_t headDim = qLayout.dim >= 0 ? qLayout.unit : lastDim(q) / numHeads;
  auto firstHead = [&](const Layout &layout, int64_t heads) -> int64_t {
    if (layout.dim < 0)
      return 0;
    return sharding::unitRange(splitOf(ctx, layout, heads * headDim), ctx.rank)
        .begin;
  };
  Backend &backend = backendOf(ctx);
  Tensor dq = backend.empty(q.shape(), q.dtype());
  Tensor dk = backend.empty(k.shape(), k.dtype());
  Tensor dv = backend.empty(v.shape(), v.dtype());
  backend.attentionGrad(q, k, v, dout, q.shape()[0], q.shape()[1],
                        lastDim(q) / headDim, lastDim(k) / headDim, headDim,
                        firstHead(qLayout, numHeads),
                        firstHead(kvLayout, numKvHeads),
                        numHeads / numKvHeads, window, dq, dk, dv);
  return {dq, dk, dv};
}

Tensor tpc::program::concatParts(RankContext &ctx,
                                 std::vector<const Tensor *> parts) {
  std::vector<int64_t> shape = parts.front()->shape();
  int64_t width = 0;
  for (const Tensor *part : parts)
    width += lastDim(*part);
  shape.back() = width;
  Backend &backend = backendOf(ctx);
  Tensor out = backend.empty(shape, parts.front()->dtype());
  int64_t at = 0;
  for (const Tensor *part : parts) {
    backend.copyRows(*part, 0, lastDim(*part), out, at, width, lastDim(*part),
                     rowsOf(*part));
    at += lastDim(*part);
  }
  return out;
}

namespace {
/// Records that weight `name`'s gradient is a partial sum over the ranks
/// (summed after the backward pass, reducePartialGradients).
void notePartial(RankContext &ctx, std::string_view name, bool partial) {
  if (partial && ctx.size > 1 && !ctx.partialGrads.count(name))
    ctx.partialGrads.emplace(name);
}

/// The f32 gradient buffer of weight `name`, of `shape` (the weight's on
/// this rank): the one the step has, or a zero one for its first
/// contribution (or the first after ZeRO-2 freed it). `op` names the
/// caller in the error for a buffer of another shape.
Tensor &gradientBuffer(RankContext &ctx, std::string_view name,
                       const std::vector<int64_t> &shape, bool partial,
                       const char *op) {
  notePartial(ctx, name, partial);
  auto it = ctx.grads.find(name);
  if (it == ctx.grads.end() || it->second.numElements() == 0) {
    // Gradients are not activations: the pass's meter does not count them.
    MemoryMeter::Scope unmetered(nullptr);
    Tensor buffer = Tensor::empty(shape, DType::F32, Device::Host);
    std::memset(buffer.data(), 0, size_t(buffer.bytes()));
    Backend &backend = backendOf(ctx);
    if (backend.device() != Device::Host)
      buffer = backend.convert(buffer, DType::F32);
    it = ctx.grads.insert_or_assign(std::string(name), buffer).first;
  }
  if (it->second.shape() != shape)
    throw std::runtime_error(std::string(op) + ": the gradient of '" +
                             std::string(name) +
                             "' is not laid out like the weight");
  return it->second;
}
} // namespace

void tpc::program::accumulateGrad(RankContext &ctx, std::string_view name,
                                  const Tensor &grad, bool partial) {
  Backend &backend = backendOf(ctx);
  auto it = ctx.grads.find(name);
  if (it == ctx.grads.end() || it->second.numElements() == 0) {
    // A copy: the program may still read `grad` as an activation.
    notePartial(ctx, name, partial);
    MemoryMeter::Scope unmetered(nullptr);
    ctx.grads[std::string(name)] = backend.convert(grad, DType::F32);
    return;
  }
  Tensor &buffer = gradientBuffer(ctx, name, grad.shape(), partial,
                                  "accumulate_grad");
  Tensor widened =
      grad.dtype() == DType::F32 ? grad : backend.convert(grad, DType::F32);
  backend.add(buffer, widened, buffer);
}


void tpc::program::accumulateLinearWeightGrad(RankContext &ctx,
                                              std::string_view name,
                                              const Tensor &x,
                                              const Tensor &dy, bool inOut,
                                              bool partial) {
  int64_t in = lastDim(x), out = lastDim(dy);
  Tensor &buffer = gradientBuffer(
      ctx, name,
      inOut ? std::vector<int64_t>{in, out} : std::vector<int64_t>{out, in},
      partial, "accumulate_linear_weight_grad");
  backendOf(ctx).linearWeightGrad(x, dy, rowsOf(x), in, out, inOut, buffer,
                                  /*addInto=*/true);
}

void tpc::program::accumulateEmbeddingGrad(RankContext &ctx,
                                           std::string_view name,
                                           const Tensor &grad, const Ids &ids,
                                           int64_t vocab, bool partial) {
  auto info = ctx.weightInfo.find(name);
  if (info == ctx.weightInfo.end())
    throw std::runtime_error("accumulate_embedding_grad: '" +
                             std::string(name) + "' is not a loaded weight");
  const Layout &layout = info->second.layout;
  int64_t hidden = lastDim(grad);
  int64_t localRows =
      layout.dim == 0
          ? sharding::localSize(splitOf(ctx, layout, vocab), ctx.rank)
          : vocab;
  Tensor &buffer = gradientBuffer(ctx, name, {localRows, hidden}, partial,
                                  "accumulate_embedding_grad");
  Backend &backend = backendOf(ctx);
  backend.embeddingGrad(grad, ids.values, hidden,
                        firstIndex(ctx, layout, 0, vocab), localRows, buffer,
                        /*addInto=*/true);
}

void tpc::program::reduceGradients(
    RankContext &ctx, std::initializer_list<std::string_view> names) {
  if (!ctx.gradientQueue)
    return;
  // Sums over dp and over tp commute, so an all-reduce may go first; a
  // reduce-scatter keeps only this replica's part, so gradients that the
  // tp ranks still complete after the backward pass wait for that.
  bool scatters = ctx.gradientQueue->reduction() ==
                  DataParallelQueue::Reduction::ReduceScatter;
  std::vector<std::string_view> started;
  std::vector<Tensor *> grads;
  for (std::string_view name : names) {
    auto it = ctx.grads.find(name);
    if (it == ctx.grads.end() || (scatters && awaitsTpReduction(ctx, name)))
      continue;
    started.push_back(name);
    grads.push_back(&it->second);
  }
  if (!started.empty())
    ctx.gradientQueue->start(std::move(started), std::move(grads));
}
