//===- Ops.cpp - the calls a partitioned program makes, one per op --------===//
//
// The semantics of each op on one rank: result shapes, the rank's head and
// vocabulary offsets, which rank adds a bias, how a collective's pieces
// are packed. The arithmetic is the rank's backend's (Backend.h).
//
//===----------------------------------------------------------------------===//
#include "runtime/core/MemoryMeter.h"
#include "runtime/program/Ops.h"

#include "runtime/comm/Faults.h"
#include "runtime/program/DataParallelQueue.h"
#include "runtime/program/HostValues.h"
#include "runtime/weights/Safetensors.h"
#include "runtime/weights/Slice.h"

#include <numeric>
#include <stdexcept>

using namespace tpc;
using namespace tpc::program;

namespace {
Tensor like(RankContext &ctx, const Tensor &t) {
  return backendOf(ctx).empty(t.shape(), t.dtype());
}

void requireSameShape(const Tensor &a, const Tensor &b, const char *op) {
  if (a.shape() != b.shape())
    throw std::runtime_error(std::string(op) + ": operands differ in shape");
}

int64_t lastDim(const Tensor &t) { return t.shape().back(); }
int64_t rowsOf(const Tensor &t) { return t.numElements() / lastDim(t); }

/// A tensor seen as [outer, dim, inner] around dimension `d`.
struct Around {
  int64_t outer = 1, dim = 1, inner = 1;
};
Around around(const std::vector<int64_t> &shape, int d) {
  Around a;
  for (int i = 0; i < d; ++i)
    a.outer *= shape[i];
  a.dim = shape[d];
  for (size_t i = d + 1; i < shape.size(); ++i)
    a.inner *= shape[i];
  return a;
}

/// Moves a rank's `ranges` of a dimension between its local tensor (the
/// ranges side by side) and the global one. `toGlobal`: from the local
/// `src` (starting at element `srcAt`) into the global `dst`; otherwise
/// from the global `src` into the local `dst` (at `dstAt`). `srcDim` /
/// `dstDim` are the two tensors' sizes along the dimension; `a` gives the
/// sizes around it.
void copyRanges(Backend &backend, const Tensor &src, int64_t srcAt,
                int64_t srcDim, Tensor &dst, int64_t dstAt, int64_t dstDim,
                const Around &a, const std::vector<sharding::Range> &ranges,
                bool toGlobal) {
  int64_t local = 0;
  for (sharding::Range range : ranges) {
    int64_t srcOffset = (toGlobal ? local : range.begin) * a.inner;
    int64_t dstOffset = (toGlobal ? range.begin : local) * a.inner;
    backend.copyRows(src, srcAt + srcOffset, srcDim * a.inner, dst,
                     dstAt + dstOffset, dstDim * a.inner,
                     range.length() * a.inner, a.outer);
    local += range.length();
  }
}

/// `x` in f32 on its device: itself, or a converted copy. Collectives
/// reduce and move f32 (a 16-bit sum over ranks would round at every step).
Tensor asF32(Backend &backend, const Tensor &x) {
  return x.dtype() == DType::F32 ? x : backend.convert(x, DType::F32);
}

/// `x` (f32) back in `dtype`.
Tensor restore(Backend &backend, const Tensor &x, DType dtype) {
  return dtype == DType::F32 ? x : backend.convert(x, dtype);
}

float *f32(Tensor &t) { return static_cast<float *>(t.data()); }
} // namespace

Backend &tpc::program::backendOf(RankContext &ctx) {
  return ctx.backend ? *ctx.backend : cpuBackend();
}

sharding::DimSplit tpc::program::splitOf(const RankContext &ctx,
                                         const Layout &layout,
                                         int64_t globalSize) {
  return {globalSize, layout.unit, layout.sections, layout.groups, ctx.size};
}

namespace {
/// The shard as a view of the mapped checkpoint, when the file's dtype is
/// the program's and the shard is one contiguous range of it, suitably
/// aligned; else nullopt.
std::optional<Tensor> inPlace(const weights::WeightStore::Entry &entry,
                              const weights::ShardSpec &spec,
                              const Layout &layout, DType dtype) {
  const weights::TensorInfo &t = *entry.tensor;
  bool sameType = (t.dtype == weights::DType::F32 && dtype == DType::F32) ||
                  (t.dtype == weights::DType::BF16 && dtype == DType::BF16) ||
                  (t.dtype == weights::DType::F16 && dtype == DType::F16);
  if (!sameType || t.shape != spec.globalShape)
    return std::nullopt;
  // Row-major, a shard is one contiguous range of the file when it takes
  // all of its split dimension (a split over one rank), or one range of it
  // with only size-1 dimensions before it.
  int64_t first = 0, inner = 1;
  if (layout.dim >= 0) {
    size_t dim = size_t(layout.dim);
    std::vector<sharding::Range> ranges =
        sharding::elementRanges(*spec.splits[dim], spec.rank);
    if (ranges.size() != 1)
      return std::nullopt;
    bool whole = ranges[0].begin == 0 && ranges[0].end == t.shape[dim];
    int64_t outer = 1;
    for (size_t d = 0; d < dim; ++d)
      outer *= t.shape[d];
    if (!whole && outer != 1)
      return std::nullopt;
    for (size_t d = dim + 1; d < t.shape.size(); ++d)
      inner *= t.shape[d];
    first = whole ? 0 : ranges[0].begin;
  }
  llvm::ArrayRef<uint8_t> bytes = entry.file->bytes(t);
  const uint8_t *data =
      bytes.data() + first * inner * int64_t(dtypeSize(dtype));
  if (uintptr_t(data) % dtypeSize(dtype) != 0)
    return std::nullopt;
  return Tensor::view(data, spec.localShape(), dtype);
}
} // namespace

Tensor tpc::program::weight(RankContext &ctx, std::string_view nameView,
                            std::initializer_list<int64_t> globalShapeList,
                            const Layout &layout, DType dtype) {
  if (ctx.weightQueue)
    ctx.weightQueue->awaitWeight(nameView);
  if (auto it = ctx.weights.find(nameView); it != ctx.weights.end())
    return it->second;
  std::string name(nameView);
  ctx.loadOrder.push_back(name);
  std::vector<int64_t> globalShape(globalShapeList);
  ctx.weightInfo[name] = {layout, globalShape};
  // Weights live across passes: not a pass's activations.
  MemoryMeter::Scope unmetered(nullptr);
  weights::ShardSpec spec;
  spec.globalShape = globalShape;
  spec.rank = ctx.rank;
  for (size_t d = 0; d < globalShape.size(); ++d)
    spec.splits.push_back(
        int(d) == layout.dim
            ? std::optional(splitOf(ctx, layout, globalShape[d]))
            : std::nullopt);
  std::string previous = comm::phase();
  comm::setPhase("loading weight '" + name + "'");
  comm::injectFault("weights", ctx.rank);
  Backend &backend = backendOf(ctx);
  std::vector<float> values;
  if (ctx.store) {
    std::optional<weights::WeightStore::Entry> entry =
        ctx.store->findModelTensor(name);
    if (!entry)
      throw std::runtime_error(ctx.store->path().str() + ": tensor '" + name +
                               "' is missing");
    // Held once: read in place from the mapped file when it already holds
    // the shard as the program stores it, else copied once and the file's
    // pages given back.
    if (std::optional<Tensor> view = inPlace(*entry, spec, layout, dtype);
        view && backend.device() == Device::Host && !ctx.trainable) {
      ctx.weights.emplace(name, *view);
      comm::setPhase(previous);
      return *view;
    }
    values = weights::sliceTensor(*entry->file, *entry->tensor, spec);
    entry->file->dropPages(*entry->tensor);
  } else {
    // Norm scales start at 1 as in a freshly initialized model; the rest
    // is small noise.
    bool isScale =
        globalShape.size() == 1 && name.find("bias") == std::string::npos;
    // A whole weight on a GPU is drawn there: billions of elements in
    // milliseconds instead of host work and a copy.
    if (weights::isWhole(spec) && backend.device() != Device::Host) {
      Tensor shard = backend.empty(spec.localShape(), dtype);
      if (backend.randomFill(shard, weights::randomKey(ctx.seed, name), 0.02f,
                             isScale ? 1.0f : 0.0f)) {
        ctx.weights.emplace(name, shard);
        comm::setPhase(previous);
        return shard;
      }
    }
    values = weights::randomShard(ctx.seed, name, spec, 0.02f);
    if (isScale)
      for (float &v : values)
        v += 1.0f;
  }
  // Rounded on the rank's threads (bf16 by the vector conversion: the
  // scalar one took a third of loading an f32 checkpoint into bf16).
  Tensor shard = Tensor::empty(spec.localShape(), dtype, Device::Host);
  allFromF32(values.data(), shard);
  if (backend.device() != Device::Host)
    shard = backend.convert(shard, dtype);
  ctx.weights.emplace(name, shard);
  comm::setPhase(previous);
  return shard;
}

Tensor tpc::program::linearWeight(RankContext &ctx, std::string_view name,
                                  std::initializer_list<int64_t> globalShape,
                                  const Layout &layout, DType dtype,
                                  bool inOut) {
  Tensor loaded = weight(ctx, name, globalShape, layout, dtype);
  // Training updates weights in place: they stay as loaded.
  if (ctx.trainable || ctx.preparedWeights.count(name))
    return loaded;
  ctx.preparedWeights.emplace(name);
  MemoryMeter::Scope unmetered(nullptr);
  // Held once: a view of the mapped checkpoint gives the file's pages back
  // as they are read (the largest weight is then never held twice); a
  // copy (a slice, a dtype conversion) is freed with its last tensor.
  std::optional<weights::WeightStore::Entry> entry;
  if (ctx.store)
    entry = ctx.store->findModelTensor(std::string(name));
  bool mapped = false;
  if (entry) {
    llvm::ArrayRef<uint8_t> file = entry->file->bytes(*entry->tensor);
    auto at = static_cast<const uint8_t *>(loaded.data());
    mapped = at >= file.data() && at < file.data() + file.size();
  }
  Backend::Consumed consumed;
  if (mapped)
    consumed = [&](const void *begin, size_t bytes) {
      entry->file->dropPages(begin, bytes);
    };
  Tensor prepared =
      backendOf(ctx).prepareLinearWeight(loaded, inOut, consumed);
  if (prepared.data() == loaded.data())
    return loaded;
  ctx.weights.find(name)->second = prepared;
  if (mapped)
    entry->file->dropPages(*entry->tensor);
  return prepared;
}

Tensor tpc::program::embedding(RankContext &ctx, const Tensor &table,
                               const Layout &tableLayout, int64_t vocab,
                               const Ids &ids) {
  int64_t rowBegin = 0;
  if (tableLayout.dim == 0)
    rowBegin =
        sharding::elementRanges(splitOf(ctx, tableLayout, vocab), ctx.rank)[0]
            .begin;
  int64_t hidden = table.shape()[1];
  Backend &backend = backendOf(ctx);
  Tensor out = backend.empty({ids.batch, ids.seq, hidden}, table.dtype());
  int64_t bad = backend.embedding(table, rowBegin, table.shape()[0], hidden,
                                  vocab, ids.values, out);
  if (bad >= 0)
    throw std::runtime_error("token id " + std::to_string(ids.values[bad]) +
                             " is outside the vocabulary of " +
                             std::to_string(vocab));
  return out;
}

Ids tpc::program::positions(RankContext &, const Ids &ids) {
  Ids out = ids;
  for (int64_t b = 0; b < ids.batch; ++b)
    for (int64_t s = 0; s < ids.seq; ++s)
      out.values[b * ids.seq + s] = int32_t(s);
  return out;
}

Ids tpc::program::positions(RankContext &, const Ids &ids,
                            const Ids &offsets) {
  Ids out = ids;
  for (int64_t b = 0; b < ids.batch; ++b)
    for (int64_t s = 0; s < ids.seq; ++s)
      out.values[b * ids.seq + s] = offsets.values[b] + int32_t(s);
  return out;
}

Tensor tpc::program::linear(RankContext &ctx, const Tensor &x,
                            const Tensor &weight, const Tensor *bias,
                            bool inOut, bool resultPartial, Activation act) {
  int64_t in = inOut ? weight.shape()[0] : weight.shape()[1];
  int64_t out = inOut ? weight.shape()[1] : weight.shape()[0];
  if (lastDim(x) != in)
    throw std::runtime_error("linear: input features " +
                             std::to_string(lastDim(x)) + " but weight takes " +
                             std::to_string(in));
  std::vector<int64_t> shape = x.shape();
  shape.back() = out;
  Backend &backend = backendOf(ctx);
  Tensor y = backend.empty(shape, x.dtype());
  bool addBias = bias && (!resultPartial || ctx.rank == 0);
  if (resultPartial && act != Activation::None)
    throw std::runtime_error("linear: an activation of a partial sum");
  backend.linear(x, rowsOf(x), in, weight, inOut, out, addBias ? bias : nullptr,
                 act, y);
  return y;
}

Tensor tpc::program::splitPiece(RankContext &ctx, const Tensor &x,
                                int64_t pieces, int64_t index) {
  int64_t width = lastDim(x) / pieces;
  std::vector<int64_t> shape = x.shape();
  shape.back() = width;
  Backend &backend = backendOf(ctx);
  Tensor t = backend.empty(shape, x.dtype());
  backend.copyRows(x, index * width, lastDim(x), t, 0, width, width, rowsOf(x));
  return t;
}

std::vector<Tensor> tpc::program::split(RankContext &ctx, const Tensor &x,
                                        int64_t pieces) {
  std::vector<Tensor> out;
  for (int64_t p = 0; p < pieces; ++p)
    out.push_back(splitPiece(ctx, x, pieces, p));
  return out;
}

Tensor tpc::program::linearNoBias(RankContext &ctx, const Tensor &x,
                                  const Tensor &weight, bool inOut,
                                  Activation act) {
  return linear(ctx, x, weight, nullptr, inOut, false, act);
}

Tensor tpc::program::linearBias(RankContext &ctx, const Tensor &x,
                                const Tensor &weight, const Tensor &bias,
                                bool inOut, bool resultPartial,
                                Activation act) {
  return linear(ctx, x, weight, &bias, inOut, resultPartial, act);
}

Tensor tpc::program::add(RankContext &ctx, const Tensor &a, const Tensor &b) {
  requireSameShape(a, b, "add");
  Tensor out = like(ctx, a);
  backendOf(ctx).add(a, b, out);
  return out;
}

Tensor tpc::program::mul(RankContext &ctx, const Tensor &a, const Tensor &b) {
  requireSameShape(a, b, "mul");
  Tensor out = like(ctx, a);
  backendOf(ctx).mul(a, b, out);
  return out;
}

Tensor tpc::program::gelu(RankContext &ctx, const Tensor &x) {
  Tensor out = like(ctx, x);
  backendOf(ctx).geluTanh(x, out);
  return out;
}

Tensor tpc::program::silu(RankContext &ctx, const Tensor &x) {
  Tensor out = like(ctx, x);
  backendOf(ctx).silu(x, out);
  return out;
}

Tensor tpc::program::siluMul(RankContext &ctx, const Tensor &gate,
                             const Tensor &up) {
  requireSameShape(gate, up, "silu_mul");
  Tensor out = like(ctx, gate);
  backendOf(ctx).siluMul(gate, up, out);
  return out;
}

Tensor tpc::program::layerNorm(RankContext &ctx, const Tensor &x,
                               const Tensor &scale, const Tensor &shift,
                               double eps) {
  Tensor out = like(ctx, x);
  backendOf(ctx).layerNorm(x, rowsOf(x), lastDim(x), scale, shift, float(eps),
                           out);
  return out;
}

Tensor tpc::program::rmsNorm(RankContext &ctx, const Tensor &x,
                             const Tensor &scale, double eps) {
  Tensor out = like(ctx, x);
  backendOf(ctx).rmsNorm(x, rowsOf(x), lastDim(x), scale, float(eps), out);
  return out;
}

SumAndNorm tpc::program::addLayerNorm(RankContext &ctx, const Tensor &a,
                                     const Tensor &b, const Tensor &scale,
                                     const Tensor &shift, double eps) {
  requireSameShape(a, b, "add_layer_norm");
  SumAndNorm both{like(ctx, a), like(ctx, a)};
  backendOf(ctx).addNorm(a, b, rowsOf(a), lastDim(a), scale, &shift,
                         float(eps), both.sum, both.norm);
  return both;
}

SumAndNorm tpc::program::addRmsNorm(RankContext &ctx, const Tensor &a,
                                   const Tensor &b, const Tensor &scale,
                                   double eps) {
  requireSameShape(a, b, "add_rms_norm");
  SumAndNorm both{like(ctx, a), like(ctx, a)};
  backendOf(ctx).addNorm(a, b, rowsOf(a), lastDim(a), scale, nullptr,
                         float(eps), both.sum, both.norm);
  return both;
}

Tensor tpc::program::takeSum(RankContext &, SumAndNorm &both) {
  return std::move(both.sum);
}

Tensor tpc::program::takeNorm(RankContext &, SumAndNorm &both) {
  return std::move(both.norm);
}

Tensor tpc::program::rope(RankContext &ctx, const Tensor &x, int64_t headDim,
                          double theta) {
  return rope(ctx, x, Ids{}, headDim, theta);
}

Tensor tpc::program::rope(RankContext &ctx, const Tensor &x,
                          const Ids &offsets, int64_t headDim, double theta) {
  Backend &backend = backendOf(ctx);
  Tensor out = backend.convert(x, x.dtype());
  backend.rope(out, x.shape()[0], x.shape()[1], lastDim(x) / headDim, headDim,
               theta, offsets.values);
  return out;
}

Tensor tpc::program::attention(RankContext &ctx, const Tensor &q,
                               const Tensor &k, const Tensor &v,
                               int64_t numHeads, int64_t numKvHeads,
                               const Layout &qLayout, const Layout &kvLayout,
                               int64_t window) {
  return attention(ctx, q, k, v, Ids{}, numHeads, numKvHeads, qLayout,
                   kvLayout, window);
}

Tensor tpc::program::attention(RankContext &ctx, const Tensor &q,
                               const Tensor &k, const Tensor &v,
                               const Ids &offsets, int64_t numHeads,
                               int64_t numKvHeads, const Layout &qLayout,
                               const Layout &kvLayout, int64_t window) {
  int64_t headDim = qLayout.dim >= 0 ? qLayout.unit : lastDim(q) / numHeads;
  int64_t groups = numHeads / numKvHeads;
  auto firstHead = [&](const Layout &layout, int64_t heads) -> int64_t {
    if (layout.dim < 0)
      return 0;
    return sharding::unitRange(splitOf(ctx, layout, heads * headDim), ctx.rank)
        .begin;
  };
  Tensor out = like(ctx, q);
  backendOf(ctx).attention(
      q, k, v, q.shape()[0], q.shape()[1], k.shape()[1], lastDim(q) / headDim,
      lastDim(k) / headDim, headDim, firstHead(qLayout, numHeads),
      firstHead(kvLayout, numKvHeads), groups, window, offsets.values, out);
  return out;
}

Tensor tpc::program::lastToken(RankContext &ctx, const Tensor &x,
                               const Ids &lengths) {
  int64_t batch = x.shape()[0], seq = x.shape()[1], width = lastDim(x);
  Backend &backend = backendOf(ctx);
  Tensor out = backend.empty({batch, width}, x.dtype());
  for (int64_t b = 0; b < batch; ++b) {
    int64_t length = lengths.values[b];
    if (length < 1 || length > seq)
      throw std::runtime_error("sequence " + std::to_string(b) + " has " +
                               std::to_string(length) +
                               " tokens; expected 1 to " + std::to_string(seq));
    backend.copyRows(x, (b * seq + length - 1) * width, width, out, b * width,
                     width, width, 1);
  }
  return out;
}

void tpc::program::release(RankContext &, Tensor &x) { x = Tensor(); }

Tensor tpc::program::kvCache(RankContext &ctx, std::string_view nameView,
                             int64_t globalFeatures, const Layout &layout,
                             DType dtype) {
  if (auto it = ctx.caches.find(nameView); it != ctx.caches.end())
    return it->second;
  std::string name(nameView);
  // Caches live across calls: not a call's activations.
  MemoryMeter::Scope unmetered(nullptr);
  if (ctx.cacheBatch < 1 || ctx.maxSeq < 1)
    throw std::runtime_error("KV cache '" + name +
                             "': no batch and maximum sequence length were "
                             "set for the caches");
  int64_t features =
      layout.dim == 2
          ? sharding::localSize(splitOf(ctx, layout, globalFeatures), ctx.rank)
          : globalFeatures;
  Tensor cache =
      backendOf(ctx).empty({ctx.cacheBatch, ctx.maxSeq, features}, dtype);
  ctx.caches.emplace(name, cache);
  return cache;
}

Tensor tpc::program::cacheUpdate(RankContext &ctx, const Tensor &cache,
                                 const Tensor &x, const Ids &offsets) {
  int64_t batch = x.shape()[0], seq = x.shape()[1], width = lastDim(x);
  int64_t capacity = cache.shape()[1];
  if (batch != cache.shape()[0] || width != lastDim(cache))
    throw std::runtime_error(
        "KV cache update: " + std::to_string(batch) + " sequences of " +
        std::to_string(width) + " features for a cache of " +
        std::to_string(cache.shape()[0]) + " of " +
        std::to_string(lastDim(cache)));
  for (int64_t b = 0; b < batch; ++b) {
    int64_t begin = offsets.values[b];
    if (begin < 0 || begin + seq > capacity)
      throw std::runtime_error(
          "sequence " + std::to_string(b) + " reaches position " +
          std::to_string(begin + seq) + ", past the KV cache's " +
          std::to_string(capacity) + " (--max-seq)");
  }
  // Writes into the cache's own storage: the caller's handle sees them.
  Tensor target = cache;
  backendOf(ctx).writeCache(x, batch, seq, width, target, capacity,
                            offsets.values);
  return target;
}

Tensor tpc::program::lmHead(RankContext &ctx, const Tensor &x,
                            const Tensor &table) {
  std::vector<int64_t> shape = x.shape();
  shape.back() = table.shape()[0];
  Backend &backend = backendOf(ctx);
  Tensor out = backend.empty(shape, x.dtype());
  backend.lmHead(x, rowsOf(x), lastDim(x), table, table.shape()[0], out);
  return out;
}

void tpc::program::allReduce(RankContext &ctx, Tensor &x) {
  x = allReduced(ctx, x);
}

Tensor tpc::program::allReduced(RankContext &ctx, const Tensor &x) {
  Backend &backend = backendOf(ctx);
  Tensor sum = backend.convert(x, DType::F32);
  backend.synchronize();
  ctx.comm->allReduceSum(f32(sum), sum.numElements());
  return restore(backend, sum, x.dtype());
}

Tensor tpc::program::allGather(RankContext &ctx, const Tensor &x,
                               const Layout &layout, int64_t globalSize) {
  if (globalSize < 0)
    globalSize = ctx.seq;
  Backend &backend = backendOf(ctx);
  sharding::DimSplit split = splitOf(ctx, layout, globalSize);
  Around local = around(x.shape(), layout.dim);
  std::vector<size_t> counts;
  for (int r = 0; r < ctx.size; ++r)
    counts.push_back(sharding::localSize(split, r) * local.outer * local.inner);
  Tensor mine = asF32(backend, x);
  Tensor gathered = backend.empty(
      {int64_t(std::accumulate(counts.begin(), counts.end(), size_t(0)))},
      DType::F32);
  backend.synchronize();
  ctx.comm->allGather(f32(mine), f32(gathered), counts);
  std::vector<int64_t> shape = x.shape();
  shape[layout.dim] = globalSize;
  Tensor out = backend.empty(shape, DType::F32);
  // Each rank's block is [outer, localSize(r), inner]: put its ranges back.
  size_t at = 0;
  for (int r = 0; r < ctx.size; ++r) {
    copyRanges(backend, gathered, int64_t(at), sharding::localSize(split, r),
               out, 0, globalSize, local, sharding::elementRanges(split, r),
               /*toGlobal=*/true);
    at += counts[r];
  }
  return restore(backend, out, x.dtype());
}

Tensor tpc::program::reduceScatter(RankContext &ctx, const Tensor &x,
                                   const Layout &layout) {
  if (layout.groups > 1)
    throw std::runtime_error("reduce_scatter cannot produce shared KV heads");
  Backend &backend = backendOf(ctx);
  int64_t globalSize = x.shape()[layout.dim];
  sharding::DimSplit split = splitOf(ctx, layout, globalSize);
  Around whole = around(x.shape(), layout.dim);
  Tensor full = asF32(backend, x);
  // Pack every rank's part contiguously, rank after rank.
  std::vector<size_t> counts;
  for (int r = 0; r < ctx.size; ++r)
    counts.push_back(sharding::localSize(split, r) * whole.outer * whole.inner);
  Tensor packed = backend.empty(
      {int64_t(std::accumulate(counts.begin(), counts.end(), size_t(0)))},
      DType::F32);
  size_t at = 0;
  for (int r = 0; r < ctx.size; ++r) {
    copyRanges(backend, full, 0, globalSize, packed, int64_t(at),
               sharding::localSize(split, r), whole,
               sharding::elementRanges(split, r), /*toGlobal=*/false);
    at += counts[r];
  }
  std::vector<int64_t> shape = x.shape();
  shape[layout.dim] = sharding::localSize(split, ctx.rank);
  Tensor out = backend.empty(shape, DType::F32);
  backend.synchronize();
  ctx.comm->reduceScatterSum(f32(packed), f32(out), counts);
  return restore(backend, out, x.dtype());
}

Tensor tpc::program::allSlice(RankContext &ctx, const Tensor &x,
                              const Layout &layout) {
  Backend &backend = backendOf(ctx);
  int64_t globalSize = x.shape()[layout.dim];
  sharding::DimSplit split = splitOf(ctx, layout, globalSize);
  std::vector<int64_t> shape = x.shape();
  shape[layout.dim] = sharding::localSize(split, ctx.rank);
  Tensor out = backend.empty(shape, x.dtype());
  copyRanges(backend, x, 0, globalSize, out, 0, shape[layout.dim],
             around(x.shape(), layout.dim),
             sharding::elementRanges(split, ctx.rank), /*toGlobal=*/false);
  return out;
}
