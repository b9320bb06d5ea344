//===- CudaKernelsTest.cpp - CUDA kernels against the CPU kernels ---------===//
//
// Every CUDA kernel on random data against the CPU kernel (itself tested
// against naive references), in f32 and bf16. Skipped, saying why, where no
// CUDA device is present (every development and CI machine of this project
// so far: these have not yet run on a GPU).
//
//===----------------------------------------------------------------------===//
#include "runtime/cpu/Kernels.h"
#include "runtime/cuda/FlashAttention.h"
#include "runtime/cuda/Kernels.h"
#include "runtime/weights/Slice.h"

#include <cuda_runtime.h>

#include "gtest/gtest.h"

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

using namespace tpc;
using Vec = std::vector<float>;

namespace {
Vec random(size_t n, unsigned seed);

class CudaKernels : public ::testing::TestWithParam<cuda::DType> {
protected:
  void SetUp() override {
    std::string why;
    if (!cuda::deviceAvailable(&why))
      GTEST_SKIP() << "CUDA kernels not run: " << why;
    ctx = std::make_unique<cuda::Context>();
  }
  void TearDown() override {
    for (void *p : allocations)
      cudaFree(p);
  }

  cuda::DType dtype() const { return GetParam(); }
  float tolerance() const {
    return dtype() == cuda::DType::F32 ? 2e-4f : 5e-2f;
  }

  /// The values as the device dtype would hold them (bf16/f16 rounding).
  Vec rounded(const Vec &v) const {
    Vec out(v);
    if (dtype() == cuda::DType::BF16)
      for (float &x : out) {
        uint32_t bits;
        std::memcpy(&bits, &x, 4);
        bits = (bits + 0x7fff + ((bits >> 16) & 1)) & 0xffff0000u;
        std::memcpy(&x, &bits, 4);
      }
    return out;
  }

  void *upload(const Vec &v) {
    size_t n = v.size();
    std::vector<uint16_t> half(n);
    void *d = nullptr;
    cudaMalloc(&d, n * cuda::dtypeSize(dtype()));
    allocations.push_back(d);
    if (dtype() == cuda::DType::F32) {
      cudaMemcpy(d, v.data(), n * 4, cudaMemcpyHostToDevice);
      return d;
    }
    for (size_t i = 0; i < n; ++i) {
      uint32_t bits;
      std::memcpy(&bits, &v[i], 4);
      half[i] = uint16_t((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);
    }
    cudaMemcpy(d, half.data(), n * 2, cudaMemcpyHostToDevice);
    return d;
  }

  void *alloc(size_t n) {
    void *d = nullptr;
    cudaMalloc(&d, n * cuda::dtypeSize(dtype()));
    allocations.push_back(d);
    return d;
  }

  Vec download(const void *d, size_t n) {
    ctx->synchronize();
    Vec out(n);
    if (dtype() == cuda::DType::F32) {
      cudaMemcpy(out.data(), d, n * 4, cudaMemcpyDeviceToHost);
      return out;
    }
    std::vector<uint16_t> half(n);
    cudaMemcpy(half.data(), d, n * 2, cudaMemcpyDeviceToHost);
    for (size_t i = 0; i < n; ++i) {
      uint32_t bits = uint32_t(half[i]) << 16;
      std::memcpy(&out[i], &bits, 4);
    }
    return out;
  }

  void expectNear(const Vec &got, const Vec &want) {
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i)
      ASSERT_NEAR(got[i], want[i], tolerance() * (1 + std::fabs(want[i])))
          << "at " << i;
  }

  /// cuda::attention on one sequence of random q, k and v (seeds `seed`,
  /// + 1, + 2) equals the CPU kernel, for each window.
  void expectAttentionAsOnCpu(int64_t seq, int64_t d, int64_t qHeads,
                              int64_t kvHeads, int64_t qHeadBegin,
                              int64_t groups,
                              std::initializer_list<int64_t> windows,
                              unsigned seed) {
    Vec q = rounded(random(seq * qHeads * d, seed)),
        k = rounded(random(seq * kvHeads * d, seed + 1)),
        v = rounded(random(seq * kvHeads * d, seed + 2)), want(q.size());
    for (int64_t window : windows) {
      cpu::attention(q.data(), k.data(), v.data(), 1, seq, seq, qHeads,
                     kvHeads, d, qHeadBegin, 0, groups, window, nullptr,
                     want.data());
      void *dq = upload(q), *dk = upload(k), *dv = upload(v),
           *dout = alloc(q.size());
      cuda::attention(*ctx, dtype(), dq, dk, dv, 1, seq, seq, qHeads, kvHeads,
                      d, qHeadBegin, 0, groups, window, nullptr, dout);
      expectNear(download(dout, q.size()), want);
    }
  }

  std::unique_ptr<cuda::Context> ctx;
  std::vector<void *> allocations;
};

Vec random(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  Vec v(n);
  for (float &x : v)
    x = dist(gen);
  return v;
}

TEST_P(CudaKernels, RandomWeightsEqualTheHostDraw) {
  // --random-weights on a GPU draws a whole weight there: the same values
  // as weights::randomShard (then rounded as the host rounds them).
  const int64_t rows = 37, cols = 129;
  weights::ShardSpec spec;
  spec.globalShape = {rows, cols};
  spec.splits = {std::nullopt, std::nullopt};
  uint64_t key = weights::randomKey(42, "model.layers.0.mlp.up_proj.weight");
  for (float offset : {0.0f, 1.0f}) {
    Vec want = weights::randomShard(42, "model.layers.0.mlp.up_proj.weight",
                                    spec, 0.02f);
    for (float &v : want)
      v += offset;
    void *d = alloc(rows * cols);
    cuda::randomFill(*ctx, dtype(), key, 0.02f, offset, rows * cols, d);
    EXPECT_EQ(download(d, rows * cols), rounded(want));
  }
}

TEST_P(CudaKernels, LinearBothLayouts) {
  int64_t rows = 7, in = 33, out = 20;
  Vec x = rounded(random(rows * in, 1)), w = rounded(random(in * out, 2)),
      b = rounded(random(out, 3)), want(rows * out);
  void *dx = upload(x), *dw = upload(w), *db = upload(b),
       *dy = alloc(rows * out);
  for (bool inOut : {true, false})
    for (Activation act :
         {Activation::None, Activation::Gelu, Activation::Silu}) {
      cpu::linear(x.data(), rows, in, w.data(), inOut, out, b.data(),
                  want.data(), act);
      if (dtype() != DType::F32 && act != Activation::None) {
        // The GPU rounds the GEMM's result before its epilogue.
        Vec plain(rows * out);
        cpu::linear(x.data(), rows, in, w.data(), inOut, out, b.data(),
                    plain.data());
        plain = rounded(plain);
        for (float &v : plain)
          v = act == Activation::Gelu
                  ? 0.5f * v *
                        (1.0f + std::tanh(0.7978845608028654f *
                                          (v + 0.044715f * v * v * v)))
                  : v / (1.0f + std::exp(-v));
        want = plain;
      }
      cuda::linear(*ctx, dtype(), dx, rows, in, dw, inOut, out, db, act, dy);
      expectNear(download(dy, rows * out), want);
    }
}

TEST_P(CudaKernels, ResidualAddAndNorms) {
  int64_t rows = 5, h = 64;
  Vec a = rounded(random(rows * h, 11)), b = rounded(random(rows * h, 12)),
      g = rounded(random(h, 13)), s = rounded(random(h, 14)),
      sum(rows * h), want(rows * h);
  void *da = upload(a), *db = upload(b), *dg = upload(g), *ds = upload(s),
       *dsum = alloc(rows * h), *dy = alloc(rows * h);
  for (bool layer : {true, false}) {
    cpu::addNorm(a.data(), b.data(), rows, h, g.data(),
                 layer ? s.data() : nullptr, 1e-5f, sum.data(), want.data());
    if (layer)
      cuda::addLayerNorm(*ctx, dtype(), da, db, rows, h, dg, ds, 1e-5f, dsum,
                         dy);
    else
      cuda::addRmsNorm(*ctx, dtype(), da, db, rows, h, dg, 1e-5f, dsum, dy);
    expectNear(download(dsum, rows * h), sum);
    expectNear(download(dy, rows * h), want);
  }
}

TEST_P(CudaKernels, NormsActivationsAndRope) {
  int64_t rows = 4, h = 64;
  Vec x = rounded(random(rows * h, 4)), g = rounded(random(h, 5)),
      s = rounded(random(h, 6)), want(rows * h);
  void *dx = upload(x), *dg = upload(g), *ds = upload(s), *dy = alloc(rows * h);
  cpu::layerNorm(x.data(), rows, h, g.data(), s.data(), 1e-5f, want.data());
  cuda::layerNorm(*ctx, dtype(), dx, rows, h, dg, ds, 1e-5f, dy);
  expectNear(download(dy, rows * h), want);
  cpu::rmsNorm(x.data(), rows, h, g.data(), 1e-6f, want.data());
  cuda::rmsNorm(*ctx, dtype(), dx, rows, h, dg, 1e-6f, dy);
  expectNear(download(dy, rows * h), want);
  cpu::geluTanh(x.data(), rows * h, want.data());
  cuda::geluTanh(*ctx, dtype(), dx, rows * h, dy);
  expectNear(download(dy, rows * h), want);
  cpu::silu(x.data(), rows * h, want.data());
  cuda::silu(*ctx, dtype(), dx, rows * h, dy);
  expectNear(download(dy, rows * h), want);
  Vec r = x;
  cpu::rope(r.data(), 1, rows, 4, 16, 10000.0);
  cuda::rope(*ctx, dtype(), dx, 1, rows, 4, 16, 10000.0);
  expectNear(download(dx, rows * h), r);
}

TEST_P(CudaKernels, ElementwiseVectorizedAndNot) {
  // 256 elements: 16-byte vectors; 257: one element a thread.
  for (int64_t n : {256, 257}) {
    Vec a = rounded(random(n, 71)), b = rounded(random(n, 72)), want(n);
    void *da = upload(a), *db = upload(b), *dy = alloc(n);
    cpu::add(a.data(), b.data(), n, want.data());
    cuda::add(*ctx, dtype(), da, db, n, dy);
    expectNear(download(dy, n), want);
    cpu::mul(a.data(), b.data(), n, want.data());
    cuda::mul(*ctx, dtype(), da, db, n, dy);
    expectNear(download(dy, n), want);
    cpu::silu(a.data(), n, want.data());
    cuda::silu(*ctx, dtype(), da, n, dy);
    expectNear(download(dy, n), want);
    cpu::siluMul(a.data(), b.data(), n, want.data());
    cuda::siluMul(*ctx, dtype(), da, db, n, dy);
    expectNear(download(dy, n), want);
  }
}

TEST_P(CudaKernels, GqaAttentionOnARanksHeads) {
  // Rank 1 of 3 holding query heads 2..3 of 6 (groups of 3): head 2 reads
  // KV head 0 and head 3 KV head 1, so it holds both; with and without a
  // sliding window of 4.
  expectAttentionAsOnCpu(/*seq=*/9, /*d=*/16, /*qHeads=*/2, /*kvHeads=*/2,
                         /*qHeadBegin=*/2, /*groups=*/3, {0, 4}, /*seed=*/7);
}

TEST_P(CudaKernels, LongPromptAttentionInChunksOfQueries) {
  // 1300 queries of Llama-sized heads (128): more than one chunk of query
  // rows for the cuBLAS path (each chunk sees the keys up to its last row),
  // 21 blocks of 64 rows, the last one partial, for the fused 16-bit
  // kernel; GQA; with and without a sliding window that crosses chunk and
  // block boundaries.
  expectAttentionAsOnCpu(/*seq=*/1300, /*d=*/128, /*qHeads=*/4,
                         /*kvHeads=*/2, /*qHeadBegin=*/0, /*groups=*/2,
                         {0, 700}, /*seed=*/27);
}

TEST_P(CudaKernels, AttentionOverACacheAndRopeFromAnOffset) {
  // Decode: 2 sequences, one new token each at positions 4 and 6 of a
  // 10-position cache, against the CPU kernels.
  int64_t cache = 10, d = 16, qHeads = 2, kvHeads = 1, batch = 2;
  Vec q = rounded(random(batch * qHeads * d, 17)),
      k = rounded(random(batch * cache * kvHeads * d, 18)),
      v = rounded(random(batch * cache * kvHeads * d, 19)), want(q.size());
  std::vector<int32_t> offsets = {4, 6};
  cpu::attention(q.data(), k.data(), v.data(), batch, 1, cache, qHeads,
                 kvHeads, d, 0, 0, 2, 0, offsets.data(), want.data());
  void *dq = upload(q), *dk = upload(k), *dv = upload(v),
       *dout = alloc(q.size());
  cuda::attention(*ctx, dtype(), dq, dk, dv, batch, 1, cache, qHeads, kvHeads,
                  d, 0, 0, 2, 0, offsets.data(), dout);
  expectNear(download(dout, q.size()), want);

  Vec r = q;
  cpu::rope(r.data(), batch, 1, qHeads, d, 10000.0, offsets.data());
  cuda::rope(*ctx, dtype(), dq, batch, 1, qHeads, d, 10000.0, offsets.data());
  expectNear(download(dq, q.size()), r);
}

TEST_P(CudaKernels, DecodeRowsLinearAndLmHead) {
  // 1 and 2 rows against a [out, in] weight: the GEMV kernel (bias and
  // activation inside it); 3 and more: cuBLAS again.
  int64_t in = 96, out = 37;
  Vec w = rounded(random(in * out, 31)), b = rounded(random(out, 32));
  void *dw = upload(w), *db = upload(b);
  for (int64_t rows : {1, 2, 3}) {
    Vec x = rounded(random(rows * in, 33 + unsigned(rows))), want(rows * out);
    void *dx = upload(x), *dy = alloc(rows * out);
    for (Activation act :
         {Activation::None, Activation::Gelu, Activation::Silu}) {
      cpu::linear(x.data(), rows, in, w.data(), /*inOut=*/false, out, b.data(),
                  want.data(), act);
      cuda::linear(*ctx, dtype(), dx, rows, in, dw, /*inOut=*/false, out, db,
                   act, dy);
      expectNear(download(dy, rows * out), want);
    }
    cpu::linear(x.data(), rows, in, w.data(), /*inOut=*/false, out, nullptr,
                want.data());
    cuda::lmHead(*ctx, dtype(), dx, rows, in, dw, out, dy);
    expectNear(download(dy, rows * out), want);
  }
}

TEST_P(CudaKernels, RowArgmaxAsOnCpu) {
  // Greedy decoding's pick on the device: ties go to the lowest column,
  // NaN never wins, a row of NaN has none (-1), -inf can.
  int64_t rows = 5, cols = 3001;
  Vec x = rounded(random(rows * cols, 61));
  float nan = std::nanf("");
  x[0 * cols + 17] = x[0 * cols + 2900] = 9.0f; // a tie
  x[1 * cols + 5] = nan;
  x[1 * cols + 6] = 12.0f;
  for (int64_t c = 0; c < cols; ++c) {
    x[2 * cols + c] = nan;
    x[3 * cols + c] = -INFINITY;
  }
  std::vector<cpu::ArgmaxEntry> want(rows);
  cpu::localArgmax(x.data(), rows, cols, 0, want.data());
  std::vector<float> values(rows);
  std::vector<int64_t> indices(rows);
  cuda::rowArgmax(*ctx, dtype(), upload(x), rows, cols, values.data(),
                  indices.data());
  for (int64_t r = 0; r < rows; ++r) {
    EXPECT_EQ(indices[r], want[r].index) << "row " << r;
    if (want[r].index >= 0) {
      EXPECT_EQ(values[r], want[r].value) << "row " << r;
    }
  }
  EXPECT_EQ(indices[0], 17);
  EXPECT_EQ(indices[1], 6);
  EXPECT_EQ(indices[2], -1);
  EXPECT_EQ(indices[3], 0);
}

TEST_P(CudaKernels, KvCacheWriteAtEachSequencesOffset) {
  int64_t batch = 3, seq = 2, width = 8, capacity = 6;
  Vec x = rounded(random(batch * seq * width, 41));
  Vec cache(batch * capacity * width, 0.0f), want = cache;
  std::vector<int32_t> offsets = {0, 4, 1};
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < seq * width; ++i)
      want[(b * capacity + offsets[b]) * width + i] = x[b * seq * width + i];
  void *dx = upload(x), *dc = upload(cache);
  cuda::writeCache(*ctx, dtype(), dx, batch, seq, width, dc, capacity,
                   ctx->deviceInts(offsets.data(), batch));
  EXPECT_EQ(download(dc, cache.size()), want);
}

TEST_P(CudaKernels, AttentionVariantsOnABatchOverACache) {
  // The fused kernel's default and each variant of its tiles (the wgmma
  // kernel's too where the device runs it), head dimensions 64 and 128:
  // two sequences of 150 new queries at positions 0 and 90 of a
  // 240-position cache (prefill, then a chunk after a prefix), GQA, with
  // and without a window of 100; blocks wholly visible, on the diagonal,
  // past the cache's end and at the window's edge. f32 (no fused kernel):
  // the cuBLAS path on the same inputs.
  int64_t batch = 2, seq = 150, cache = 240, qHeads = 4, kvHeads = 2;
  std::vector<int32_t> offsets = {0, 90};
  for (int64_t d : {64, 128}) {
    Vec q = rounded(random(batch * seq * qHeads * d, 51)),
        k = rounded(random(batch * cache * kvHeads * d, 52)),
        v = rounded(random(batch * cache * kvHeads * d, 53)), want(q.size());
    void *dq = upload(q), *dk = upload(k), *dv = upload(v),
         *dout = alloc(q.size());
    for (int64_t window : {0, 100}) {
      cpu::attention(q.data(), k.data(), v.data(), batch, seq, cache, qHeads,
                     kvHeads, d, 0, 0, 2, window, offsets.data(),
                     want.data());
      if (dtype() == DType::F32) {
        cuda::attention(*ctx, dtype(), dq, dk, dv, batch, seq, cache, qHeads,
                        kvHeads, d, 0, 0, 2, window, offsets.data(), dout);
        expectNear(download(dout, q.size()), want);
        continue;
      }
      std::vector<cuda::FlashTiles> variants = {{0, 64, 4}, {1, 64, 4}};
      if (d == 128)
        variants.insert(variants.end(), {{2, 64, 4}, {2, 32, 4}, {1, 64, 8}});
      if (cuda::flashAttentionHasWgmma())
        variants.insert(variants.end(),
                        {{0, 128, 0, 2}, {0, 64, 0, 2}, {0, 64, 0, 3}});
      for (cuda::FlashTiles tiles : variants)
        for (int splits : {1, 3}) {
          SCOPED_TRACE("d " + std::to_string(d) + " window " +
                       std::to_string(window) + " tiles " +
                       std::to_string(tiles.rowTiles) + " x " +
                       std::to_string(tiles.keys) + " x " +
                       std::to_string(tiles.warps) + " warpgroups " +
                       std::to_string(tiles.warpgroups) + " key shares " +
                       std::to_string(splits));
          cuda::flashAttention(*ctx, dtype(), dq, dk, dv, batch, seq, cache,
                               qHeads, kvHeads, d, 0, 0, 2, window,
                               ctx->deviceInts(offsets.data(), batch), dout,
                               cache, tiles, splits);
          expectNear(download(dout, q.size()), want);
        }
    }
  }
}

TEST_P(CudaKernels, DecodeAttentionWithSharedKeysOverALongCache) {
  // Decode: one new query per sequence at positions 1999 and 700 of a
  // 2048-position cache, GQA 4/2, head dimension 128, with and without a
  // window of 300: the keys shared by 1, 2, 5 and 16 blocks (some shares
  // of the shorter sequence see no key; with the window some shares start
  // past it), and as cuda::attention chooses, against the CPU kernel.
  int64_t batch = 2, cache = 2048, d = 128, qHeads = 4, kvHeads = 2;
  std::vector<int32_t> offsets = {1999, 700};
  Vec q = rounded(random(batch * qHeads * d, 81)),
      k = rounded(random(batch * cache * kvHeads * d, 82)),
      v = rounded(random(batch * cache * kvHeads * d, 83)), want(q.size());
  void *dq = upload(q), *dk = upload(k), *dv = upload(v),
       *dout = alloc(q.size());
  for (int64_t window : {0, 300}) {
    cpu::attention(q.data(), k.data(), v.data(), batch, 1, cache, qHeads,
                   kvHeads, d, 0, 0, 2, window, offsets.data(), want.data());
    cuda::attention(*ctx, dtype(), dq, dk, dv, batch, 1, cache, qHeads,
                    kvHeads, d, 0, 0, 2, window, offsets.data(), dout);
    expectNear(download(dout, q.size()), want);
    if (dtype() == DType::F32)
      continue; // (no fused kernel)
    for (int splits : {1, 2, 5, 16}) {
      SCOPED_TRACE("window " + std::to_string(window) + " key shares " +
                   std::to_string(splits));
      cuda::flashAttention(*ctx, dtype(), dq, dk, dv, batch, 1, cache, qHeads,
                           kvHeads, d, 0, 0, 2, window,
                           ctx->deviceInts(offsets.data(), batch), dout, 2000,
                           {}, splits);
      expectNear(download(dout, q.size()), want);
    }
  }
}

// f16 runs the same kernels as bf16 with another storage type; this test's
// upload converts to bf16 only, so f16 is not checked here yet.
INSTANTIATE_TEST_SUITE_P(DTypes, CudaKernels,
                         ::testing::Values(cuda::DType::F32, cuda::DType::BF16),
                         [](const auto &info) {
                           return info.param == cuda::DType::F32 ? "f32"
                                                                 : "bf16";
                         });
} // namespace
