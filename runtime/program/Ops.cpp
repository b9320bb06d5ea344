//===- Ops.cpp - the calls a partitioned program makes, one per op --------===//
#include "runtime/program/Ops.h"

#include "runtime/cpu/Kernels.h"
#include "runtime/weights/Slice.h"

#include <numeric>
#include <stdexcept>

using namespace tpc;
using namespace tpc::program;

namespace {
float *f32(Tensor &t) { return static_cast<float *>(t.data()); }
const float *f32(const Tensor &t) {
  return static_cast<const float *>(t.data());
}

Tensor like(const Tensor &t) {
  return Tensor::empty(t.shape(), DType::F32, Device::Host);
}

void requireHostF32(const Tensor &t, const char *op) {
  if (t.device() != Device::Host || t.dtype() != DType::F32)
    throw std::runtime_error(std::string(op) +
                             ": the CPU program works on host f32 tensors");
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
/// `src` into the global `dst`; otherwise from the global `src` into the
/// local `dst`. `srcDim`/`dstDim` are the two tensors' sizes along the
/// dimension; `a` gives the sizes around it.
void copyRanges(const float *src, int64_t srcDim, float *dst, int64_t dstDim,
                const Around &a, const std::vector<sharding::Range> &ranges,
                bool toGlobal) {
  int64_t local = 0;
  for (sharding::Range range : ranges) {
    for (int64_t o = 0; o < a.outer; ++o) {
      int64_t globalAt =
          (o * (toGlobal ? dstDim : srcDim) + range.begin) * a.inner;
      int64_t localAt = (o * (toGlobal ? srcDim : dstDim) + local) * a.inner;
      const float *from = src + (toGlobal ? localAt : globalAt);
      float *to = dst + (toGlobal ? globalAt : localAt);
      std::copy(from, from + range.length() * a.inner, to);
    }
    local += range.length();
  }
}
} // namespace

sharding::DimSplit tpc::program::splitOf(const RankContext &ctx,
                                         const Layout &layout,
                                         int64_t globalSize) {
  return {globalSize, layout.unit, layout.sections, layout.groups, ctx.size};
}

Tensor tpc::program::weight(RankContext &ctx, const std::string &name,
                            const std::vector<int64_t> &globalShape,
                            const Layout &layout) {
  if (auto it = ctx.weights.find(name); it != ctx.weights.end())
    return it->second;
  weights::ShardSpec spec;
  spec.globalShape = globalShape;
  spec.rank = ctx.rank;
  for (size_t d = 0; d < globalShape.size(); ++d)
    spec.splits.push_back(
        int(d) == layout.dim
            ? std::optional(splitOf(ctx, layout, globalShape[d]))
            : std::nullopt);
  std::vector<float> values;
  if (ctx.store) {
    std::optional<weights::WeightStore::Entry> entry = ctx.store->find(name);
    if (!entry)
      throw std::runtime_error(ctx.store->path().str() + ": tensor '" + name +
                               "' is missing");
    values = weights::sliceTensor(*entry->file, *entry->tensor, spec);
  } else {
    // Norm scales start at 1 as in a freshly initialized model; the rest
    // is small noise.
    bool isScale =
        globalShape.size() == 1 && name.find("bias") == std::string::npos;
    values = weights::randomShard(ctx.seed, name, spec, 0.02f);
    if (isScale)
      for (float &v : values)
        v += 1.0f;
  }
  Tensor shard =
      Tensor::fromFloats(values, spec.localShape(), DType::F32, Device::Host);
  ctx.weights.emplace(name, shard);
  return shard;
}

Tensor tpc::program::embedding(RankContext &ctx, const Tensor &table,
                               const Layout &tableLayout, int64_t vocab,
                               const Ids &ids) {
  requireHostF32(table, "embedding");
  int64_t rowBegin = 0;
  if (tableLayout.dim == 0)
    rowBegin =
        sharding::elementRanges(splitOf(ctx, tableLayout, vocab), ctx.rank)[0]
            .begin;
  int64_t hidden = table.shape()[1];
  Tensor out =
      Tensor::empty({ids.batch, ids.seq, hidden}, DType::F32, Device::Host);
  int64_t bad =
      cpu::embedding(f32(table), rowBegin, table.shape()[0], hidden, vocab,
                     ids.values.data(), ids.values.size(), f32(out));
  if (bad >= 0)
    throw std::runtime_error("token id " + std::to_string(ids.values[bad]) +
                             " is outside the vocabulary of " +
                             std::to_string(vocab));
  return out;
}

Ids tpc::program::positions(const Ids &ids) {
  Ids out = ids;
  for (int64_t b = 0; b < ids.batch; ++b)
    for (int64_t s = 0; s < ids.seq; ++s)
      out.values[b * ids.seq + s] = int32_t(s);
  return out;
}

Tensor tpc::program::linear(RankContext &ctx, const Tensor &x,
                            const Tensor &weight, const Tensor *bias,
                            bool inOut, bool resultPartial) {
  requireHostF32(x, "linear");
  int64_t in = inOut ? weight.shape()[0] : weight.shape()[1];
  int64_t out = inOut ? weight.shape()[1] : weight.shape()[0];
  if (lastDim(x) != in)
    throw std::runtime_error("linear: input features " +
                             std::to_string(lastDim(x)) + " but weight takes " +
                             std::to_string(in));
  std::vector<int64_t> shape = x.shape();
  shape.back() = out;
  Tensor y = Tensor::empty(shape, DType::F32, Device::Host);
  bool addBias = bias && (!resultPartial || ctx.rank == 0);
  cpu::linear(f32(x), rowsOf(x), in, f32(weight), inOut, out,
              addBias ? f32(*bias) : nullptr, f32(y));
  return y;
}

Tensor tpc::program::splitPiece(const Tensor &x, int64_t pieces,
                                int64_t index) {
  int64_t width = lastDim(x) / pieces, rows = rowsOf(x);
  std::vector<int64_t> shape = x.shape();
  shape.back() = width;
  Tensor t = Tensor::empty(shape, DType::F32, Device::Host);
  for (int64_t r = 0; r < rows; ++r)
    std::copy(f32(x) + r * lastDim(x) + index * width,
              f32(x) + r * lastDim(x) + (index + 1) * width,
              f32(t) + r * width);
  return t;
}

std::vector<Tensor> tpc::program::split(const Tensor &x, int64_t pieces) {
  std::vector<Tensor> out;
  for (int64_t p = 0; p < pieces; ++p)
    out.push_back(splitPiece(x, pieces, p));
  return out;
}

Tensor tpc::program::linearNoBias(RankContext &ctx, const Tensor &x,
                                  const Tensor &weight, bool inOut) {
  return linear(ctx, x, weight, nullptr, inOut, false);
}

Tensor tpc::program::linearBias(RankContext &ctx, const Tensor &x,
                                const Tensor &weight, const Tensor &bias,
                                bool inOut, bool resultPartial) {
  return linear(ctx, x, weight, &bias, inOut, resultPartial);
}

Tensor tpc::program::add(const Tensor &a, const Tensor &b) {
  requireSameShape(a, b, "add");
  Tensor out = like(a);
  cpu::add(f32(a), f32(b), a.numElements(), f32(out));
  return out;
}

Tensor tpc::program::mul(const Tensor &a, const Tensor &b) {
  requireSameShape(a, b, "mul");
  Tensor out = like(a);
  cpu::mul(f32(a), f32(b), a.numElements(), f32(out));
  return out;
}

Tensor tpc::program::gelu(const Tensor &x) {
  Tensor out = like(x);
  cpu::geluTanh(f32(x), x.numElements(), f32(out));
  return out;
}

Tensor tpc::program::silu(const Tensor &x) {
  Tensor out = like(x);
  cpu::silu(f32(x), x.numElements(), f32(out));
  return out;
}

Tensor tpc::program::layerNorm(const Tensor &x, const Tensor &scale,
                               const Tensor &shift, double eps) {
  Tensor out = like(x);
  cpu::layerNorm(f32(x), rowsOf(x), lastDim(x), f32(scale), f32(shift),
                 float(eps), f32(out));
  return out;
}

Tensor tpc::program::rmsNorm(const Tensor &x, const Tensor &scale, double eps) {
  Tensor out = like(x);
  cpu::rmsNorm(f32(x), rowsOf(x), lastDim(x), f32(scale), float(eps), f32(out));
  return out;
}

Tensor tpc::program::rope(const Tensor &x, int64_t headDim, double theta) {
  Tensor out = x.to(Device::Host, DType::F32);
  cpu::rope(f32(out), x.shape()[0], x.shape()[1], lastDim(x) / headDim, headDim,
            theta);
  return out;
}

Tensor tpc::program::attention(RankContext &ctx, const Tensor &q,
                               const Tensor &k, const Tensor &v,
                               int64_t numHeads, int64_t numKvHeads,
                               const Layout &qLayout, const Layout &kvLayout,
                               int64_t window) {
  int64_t headDim = qLayout.dim >= 0 ? qLayout.unit : lastDim(q) / numHeads;
  int64_t groups = numHeads / numKvHeads;
  auto firstHead = [&](const Layout &layout, int64_t heads) -> int64_t {
    if (layout.dim < 0)
      return 0;
    return sharding::unitRange(splitOf(ctx, layout, heads * headDim), ctx.rank)
        .begin;
  };
  Tensor out = like(q);
  cpu::attention(f32(q), f32(k), f32(v), q.shape()[0], q.shape()[1],
                 lastDim(q) / headDim, lastDim(k) / headDim, headDim,
                 firstHead(qLayout, numHeads), firstHead(kvLayout, numKvHeads),
                 groups, window, f32(out));
  return out;
}

Tensor tpc::program::lmHead(const Tensor &x, const Tensor &table) {
  std::vector<int64_t> shape = x.shape();
  shape.back() = table.shape()[0];
  Tensor out = Tensor::empty(shape, DType::F32, Device::Host);
  cpu::lmHead(f32(x), rowsOf(x), lastDim(x), f32(table), table.shape()[0],
              f32(out));
  return out;
}

void tpc::program::allReduce(RankContext &ctx, Tensor &x) {
  ctx.comm->allReduceSum(f32(x), x.numElements());
}

Tensor tpc::program::allReduced(RankContext &ctx, const Tensor &x) {
  Tensor out = x.to(Device::Host, DType::F32);
  allReduce(ctx, out);
  return out;
}

Tensor tpc::program::allGather(RankContext &ctx, const Tensor &x,
                               const Layout &layout, int64_t globalSize) {
  if (globalSize < 0)
    globalSize = ctx.seq;
  sharding::DimSplit split = splitOf(ctx, layout, globalSize);
  Around local = around(x.shape(), layout.dim);
  std::vector<size_t> counts;
  for (int r = 0; r < ctx.size; ++r)
    counts.push_back(sharding::localSize(split, r) * local.outer * local.inner);
  std::vector<float> gathered(
      std::accumulate(counts.begin(), counts.end(), size_t(0)));
  ctx.comm->allGather(f32(x), gathered.data(), counts);
  std::vector<int64_t> shape = x.shape();
  shape[layout.dim] = globalSize;
  Tensor out = Tensor::empty(shape, DType::F32, Device::Host);
  // Each rank's block is [outer, localSize(r), inner]: put its ranges back.
  size_t at = 0;
  for (int r = 0; r < ctx.size; ++r) {
    copyRanges(gathered.data() + at, sharding::localSize(split, r), f32(out),
               globalSize, local, sharding::elementRanges(split, r),
               /*toGlobal=*/true);
    at += counts[r];
  }
  return out;
}

Tensor tpc::program::reduceScatter(RankContext &ctx, const Tensor &x,
                                   const Layout &layout) {
  if (layout.groups > 1)
    throw std::runtime_error("reduce_scatter cannot produce shared KV heads");
  int64_t globalSize = x.shape()[layout.dim];
  sharding::DimSplit split = splitOf(ctx, layout, globalSize);
  Around whole = around(x.shape(), layout.dim);
  // Pack every rank's part contiguously, rank after rank.
  std::vector<size_t> counts;
  std::vector<float> packed;
  for (int r = 0; r < ctx.size; ++r) {
    int64_t size = sharding::localSize(split, r);
    std::vector<float> part(size * whole.outer * whole.inner);
    copyRanges(f32(x), globalSize, part.data(), size, whole,
               sharding::elementRanges(split, r), /*toGlobal=*/false);
    counts.push_back(part.size());
    packed.insert(packed.end(), part.begin(), part.end());
  }
  std::vector<int64_t> shape = x.shape();
  shape[layout.dim] = sharding::localSize(split, ctx.rank);
  Tensor out = Tensor::empty(shape, DType::F32, Device::Host);
  ctx.comm->reduceScatterSum(packed.data(), f32(out), counts);
  return out;
}

Tensor tpc::program::allSlice(RankContext &ctx, const Tensor &x,
                              const Layout &layout) {
  int64_t globalSize = x.shape()[layout.dim];
  sharding::DimSplit split = splitOf(ctx, layout, globalSize);
  std::vector<int64_t> shape = x.shape();
  shape[layout.dim] = sharding::localSize(split, ctx.rank);
  Tensor out = Tensor::empty(shape, DType::F32, Device::Host);
  copyRanges(f32(x), globalSize, f32(out), shape[layout.dim],
             around(x.shape(), layout.dim),
             sharding::elementRanges(split, ctx.rank), /*toGlobal=*/false);
  return out;
}
