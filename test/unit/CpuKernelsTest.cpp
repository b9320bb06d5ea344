//===- CpuKernelsTest.cpp - CPU kernels against naive references ----------===//
//
// Each kernel against a plain reference written here, and the tensor
// parallel identities the partitioner relies on: shards computed per rank
// with the shared split rule recombine to the unsplit result.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/DType.h"
#include "runtime/cpu/BlasCore.h"
#include "runtime/cpu/DnnlLinear.h"
#include "runtime/cpu/Kernels.h"
#include "runtime/cpu/Threads.h"
#include "runtime/sharding/Split.h"

#include "gtest/gtest.h"

#include <cmath>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <vector>

using namespace tpc;
using Vec = std::vector<float>;

namespace {
Vec random(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  Vec v(n);
  for (float &x : v)
    x = dist(gen);
  return v;
}

/// The values rounded to bf16 (as stored), and back to f32.
std::vector<uint16_t> bf16(const Vec &v) {
  std::vector<uint16_t> out(v.size());
  narrow(v.data(), DType::BF16, out.data(), v.size());
  return out;
}
Vec f32(const std::vector<uint16_t> &v) {
  Vec out(v.size());
  widen(DType::BF16, v.data(), out.data(), v.size());
  return out;
}

/// Kernels split over three threads for the scope (TPC_THREADS), back to
/// the host's share when it ends, an ASSERT's early return included.
struct ThreeThreads {
  ThreeThreads() {
    setenv("TPC_THREADS", "3", 1);
    cpu::shareCores(1);
  }
  ~ThreeThreads() {
    unsetenv("TPC_THREADS");
    cpu::shareCores(1);
  }
};

void expectNear(const Vec &a, const Vec &b, float tol = 1e-4f) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    ASSERT_NEAR(a[i], b[i], tol) << "at " << i;
}

/// y = x W with W[in][out], plain loops.
Vec naiveMatmul(const Vec &x, int64_t rows, int64_t in, const Vec &w,
                int64_t out) {
  Vec y(rows * out, 0.0f);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o)
      for (int64_t i = 0; i < in; ++i)
        y[r * out + o] += x[r * in + i] * w[i * out + o];
  return y;
}

Vec transpose(const Vec &w, int64_t rows, int64_t cols) {
  Vec t(w.size());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      t[c * rows + r] = w[r * cols + c];
  return t;
}

/// Attention by the book: full score matrix, causal mask, softmax.
Vec naiveAttention(const Vec &q, const Vec &k, const Vec &v, int64_t seq,
                   int64_t heads, int64_t kvHeads, int64_t d) {
  Vec out(seq * heads * d, 0.0f);
  int64_t groups = heads / kvHeads;
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t i = 0; i < seq; ++i) {
      std::vector<double> p(seq, 0.0);
      double sum = 0;
      for (int64_t j = 0; j <= i; ++j) {
        double s = 0;
        for (int64_t e = 0; e < d; ++e)
          s += q[(i * heads + h) * d + e] *
               k[(j * kvHeads + h / groups) * d + e];
        p[j] = std::exp(s / std::sqrt(double(d)));
        sum += p[j];
      }
      for (int64_t j = 0; j <= i; ++j)
        for (int64_t e = 0; e < d; ++e)
          out[(i * heads + h) * d + e] +=
              float(p[j] / sum * v[(j * kvHeads + h / groups) * d + e]);
    }
  return out;
}

// OpenBLAS 0.3.21 takes some AVX-512 Xeons for a Prescott (SSE3): after
// shareCores, a CPU with AVX2 and FMA runs OpenBLAS's AVX2 (or AVX-512)
// kernels unless the user chose others.
TEST(CpuKernels, BlasRunsTheCpusVectorKernels) {
  cpu::shareCores(1);
  __builtin_cpu_init();
  if (std::getenv("OPENBLAS_CORETYPE") || !__builtin_cpu_supports("avx2") ||
      !__builtin_cpu_supports("fma"))
    GTEST_SKIP() << "OPENBLAS_CORETYPE is set, or the CPU has no AVX2";
  std::string core = cpu::blasCoreName();
  EXPECT_TRUE(core == "Haswell" || core == "Zen" || core == "SkylakeX" ||
              core == "Cooperlake" || core == "SapphireRapids")
      << "OpenBLAS runs its " << core << " kernels";
}

TEST(CpuKernels, LinearBothLayoutsAndBias) {
  int64_t rows = 5, in = 7, out = 3;
  Vec x = random(rows * in, 1), w = random(in * out, 2), b = random(out, 3);
  Vec want = naiveMatmul(x, rows, in, w, out);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o)
      want[r * out + o] += b[o];
  Vec y(rows * out);
  cpu::linear(x.data(), rows, in, w.data(), true, out, b.data(), y.data());
  expectNear(y, want);
  Vec wt = transpose(w, in, out);
  cpu::linear(x.data(), rows, in, wt.data(), false, out, b.data(), y.data());
  expectNear(y, want);
}

TEST(CpuKernels, FusedActivationAndResidualNorm) {
  int64_t rows = 6, in = 16, out = 40, h = 24;
  Vec x = random(rows * in, 4), w = random(in * out, 5), b = random(out, 6);
  Vec plain(rows * out), fused(rows * out), act(rows * out);
  cpu::linear(x.data(), rows, in, w.data(), true, out, b.data(), plain.data());
  cpu::geluTanh(plain.data(), rows * out, act.data());
  cpu::linear(x.data(), rows, in, w.data(), true, out, b.data(), fused.data(),
              Activation::Gelu);
  expectNear(fused, act, 1e-5f);
  cpu::silu(plain.data(), rows * out, act.data());
  cpu::linear(x.data(), rows, in, w.data(), true, out, b.data(), fused.data(),
              Activation::Silu);
  expectNear(fused, act, 1e-5f);

  Vec a = random(rows * h, 7), r = random(rows * h, 8), g = random(h, 9),
      sh = random(h, 10), sum(rows * h), want(rows * h), y(rows * h);
  cpu::add(a.data(), r.data(), rows * h, want.data());
  cpu::addNorm(a.data(), r.data(), rows, h, g.data(), sh.data(), 1e-5f,
               sum.data(), y.data());
  expectNear(sum, want, 0.0f);
  Vec normed(rows * h);
  cpu::layerNorm(want.data(), rows, h, g.data(), sh.data(), 1e-5f,
                 normed.data());
  expectNear(y, normed, 1e-5f);
  cpu::addNorm(a.data(), r.data(), rows, h, g.data(), nullptr, 1e-6f,
               sum.data(), y.data());
  cpu::rmsNorm(want.data(), rows, h, g.data(), 1e-6f, normed.data());
  expectNear(y, normed, 1e-5f);
}

// f32 linears through oneDNN, split over three threads into column blocks:
// in place below 16 rows and for [in, out] weights, through dense scratch
// blocks (several per thread at 300 rows) for [out, in] weights. Every
// column of every row is the plain product, with the bias and activation.
TEST(CpuKernels, F32LinearBlocksCoverEveryColumn) {
  ThreeThreads threads;
  int64_t in = 64, out = 2500;
  Vec w = random(in * out, 14), wt = transpose(w, in, out),
      b = random(out, 15);
  for (int64_t rows : {1, 15, 16, 300}) {
    Vec x = random(rows * in, 16);
    Vec want = naiveMatmul(x, rows, in, w, out);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t o = 0; o < out; ++o) {
        float &v = want[r * out + o];
        v += b[o];
        v = v / (1 + std::exp(-v));
      }
    for (bool inOut : {true, false}) {
      Vec y(rows * out, NAN);
      cpu::linear(x.data(), rows, in, inOut ? w.data() : wt.data(), inOut,
                  out, b.data(), y.data(), Activation::Silu);
      for (size_t i = 0; i < y.size(); ++i)
        ASSERT_NEAR(y[i], want[i], 1e-4f * (1 + std::fabs(want[i])))
            << "rows " << rows << " in_out " << inOut << " at " << i;
    }
  }
}

// bf16 GEMMs through oneDNN: the f32 GEMM of the same (bf16-exact) values,
// accumulated in f32 and rounded once, for both weight layouts, a bias and
// fused activations, at the row counts of a decode step and a prefill.
TEST(CpuKernels, Bf16LinearMatchesF32OfTheSameValues) {
  int64_t in = 96, out = 80;
  for (int64_t rows : {1, 5, 64}) {
    Vec x = random(rows * in, 11), w = random(in * out, 12),
        b = random(out, 13);
    std::vector<uint16_t> xb = bf16(x), wb = bf16(w), bb = bf16(b),
                          wtb = bf16(transpose(f32(bf16(w)), in, out)),
                          yb(rows * out);
    for (bool inOut : {true, false})
      for (Activation act :
           {Activation::None, Activation::Gelu, Activation::Silu}) {
        Vec want(rows * out);
        cpu::linear(f32(xb).data(), rows, in, f32(wb).data(), true, out,
                    f32(bb).data(), want.data(), act);
        if (!cpu::linearBf16(xb.data(), rows, in,
                             inOut ? wb.data() : wtb.data(), inOut, out,
                             bb.data(), yb.data(), act))
          GTEST_SKIP() << "oneDNN has no bf16 matmul on this CPU";
        Vec got = f32(yb);
        for (size_t i = 0; i < got.size(); ++i)
          ASSERT_NEAR(got[i], want[i], 1e-2f * (1 + std::fabs(want[i])))
              << "rows " << rows << " in_out " << inOut << " at " << i;
      }
  }
}

// bf16 linears split over three threads: [out, in] blocks of 96 rows or
// more and at least 512 columns a thread write y in place, up to 1024
// columns a call (1334 a thread here: two calls); fewer rows go through
// dense scratch blocks. Every column of every row is the f32 product of
// the same values, with the bias and activation.
TEST(CpuKernels, Bf16LinearBlocksCoverEveryColumn) {
  ThreeThreads threads;
  int64_t in = 64, out = 4000;
  std::vector<uint16_t> wb = bf16(random(in * out, 17)),
                        bb = bf16(random(out, 18));
  std::vector<uint16_t> wtb = bf16(transpose(f32(wb), in, out));
  bool skipped = false;
  for (int64_t rows : {16, 95, 96, 300}) {
    std::vector<uint16_t> xb = bf16(random(rows * in, 19)), yb(rows * out);
    Vec want(rows * out);
    cpu::linear(f32(xb).data(), rows, in, f32(wb).data(), true, out,
                f32(bb).data(), want.data(), Activation::Silu);
    if (!cpu::linearBf16(xb.data(), rows, in, wtb.data(), false, out,
                         bb.data(), yb.data(), Activation::Silu)) {
      skipped = true;
      break;
    }
    Vec got = f32(yb);
    for (size_t i = 0; i < got.size(); ++i)
      ASSERT_NEAR(got[i], want[i], 1e-2f * (1 + std::fabs(want[i])))
          << "rows " << rows << " at " << i;
  }
  if (skipped)
    GTEST_SKIP() << "oneDNN has no bf16 matmul on this CPU";
}

// Weights packed once (an inference program's): f32 and bf16, both source
// layouts ([out, in] and [in, out], both packed by hand), sizes
// that leave partial 64-column blocks and partial 16- / 32-row panels, over
// three threads. Every column of every row is the product of the plain
// weights, with the bias and activation.
TEST(CpuKernels, PackedLinearMatchesPlainWeights) {
  ThreeThreads threads;
  int64_t in = 100, out = 1250;
  Vec w = random(in * out, 21), wt = transpose(w, in, out),
      b = random(out, 22);
  std::vector<uint16_t> wb = bf16(w), bb = bf16(b);
  std::vector<uint16_t> wtb = bf16(transpose(f32(wb), in, out));
  bool skipped = false;
  for (int64_t rows : {1, 15, 16, 300})
    for (bool inOut : {true, false}) {
      Vec x = random(rows * in, 23);
      Vec want(rows * out);
      cpu::linear(x.data(), rows, in, w.data(), true, out, b.data(),
                  want.data(), Activation::Gelu);
      auto packed = cpu::packLinearF32(inOut ? w.data() : wt.data(), inOut,
                                       in, out);
      ASSERT_TRUE(packed) << "oneDNN packs f32 weights on every x86-64 CPU";
      Vec y(rows * out, NAN);
      cpu::linearPacked(x.data(), rows, *packed, b.data(), y.data(),
                        Activation::Gelu);
      for (size_t i = 0; i < y.size(); ++i)
        ASSERT_NEAR(y[i], want[i], 1e-4f * (1 + std::fabs(want[i])))
            << "f32 rows " << rows << " in_out " << inOut << " at " << i;

      std::vector<uint16_t> xb = bf16(x), yb(rows * out);
      Vec wantBf16(rows * out);
      cpu::linear(f32(xb).data(), rows, in, f32(wb).data(), true, out,
                  f32(bb).data(), wantBf16.data(), Activation::Silu);
      auto packedBf16 =
          cpu::packLinearBf16(inOut ? wb.data() : wtb.data(), inOut, in, out);
      if (!packedBf16) {
        skipped = true;
        continue;
      }
      cpu::linearPacked(xb.data(), rows, *packedBf16, bb.data(), yb.data(),
                        Activation::Silu);
      Vec got = f32(yb);
      for (size_t i = 0; i < got.size(); ++i)
        ASSERT_NEAR(got[i], wantBf16[i], 1e-2f * (1 + std::fabs(wantBf16[i])))
            << "bf16 rows " << rows << " in_out " << inOut << " at " << i;
    }
  if (skipped)
    GTEST_SKIP() << "oneDNN has no bf16 matmul on this CPU (f32 checked)";
}

// A weight from a mapped checkpoint (a consumed callback given) of 2 MiB
// and more gets its own mapping in huge pages; packing hands every byte of
// an [out, in] source to the callback exactly once, and the product is
// the plain weights' at a decode step's and a prompt's row counts.
TEST(CpuKernels, PackingAMappedWeightConsumesEverySourceByteOnce) {
  int64_t in = 1000, out = 1100; // 4.4 MB in f32, a partial last block
  Vec wt = random(in * out, 24), b = random(out, 25);
  Vec w = transpose(wt, out, in); // wt is [out, in]; w is [in, out]
  std::vector<int> seen(in * out, 0);
  auto packed = cpu::packLinearF32(
      wt.data(), /*inOut=*/false, in, out,
      [&](const void *begin, size_t bytes) {
        size_t first = static_cast<const float *>(begin) - wt.data();
        for (size_t i = first; i < first + bytes / sizeof(float); ++i)
          ++seen[i];
      });
  ASSERT_TRUE(packed);
  for (size_t i = 0; i < seen.size(); ++i)
    ASSERT_EQ(seen[i], 1) << "source element " << i;
  for (int64_t rows : {1, 40}) {
    Vec x = random(rows * in, 26), y(rows * out, NAN);
    Vec want(rows * out);
    cpu::linear(x.data(), rows, in, w.data(), true, out, b.data(),
                want.data(), Activation::None);
    cpu::linearPacked(x.data(), rows, *packed, b.data(), y.data(),
                      Activation::None);
    for (size_t i = 0; i < y.size(); ++i)
      ASSERT_NEAR(y[i], want[i], 1e-4f * (1 + std::fabs(want[i])))
          << "rows " << rows << " at " << i;
  }
}

TEST(CpuKernels, ColumnThenRowSplitRecombines) {
  // An MLP up (column split) and down (row split, bias on rank 0 only) on 3
  // ranks with an uneven split of 10 columns: the partial sums add up to
  // the unsplit result.
  int64_t rows = 4, h = 6, inner = 10, ranks = 3;
  Vec x = random(rows * h, 4), w1 = random(h * inner, 5),
      w2 = random(inner * h, 6), b2 = random(h, 7);
  Vec hidden(rows * inner), want(rows * h);
  cpu::linear(x.data(), rows, h, w1.data(), true, inner, nullptr,
              hidden.data());
  cpu::linear(hidden.data(), rows, inner, w2.data(), true, h, b2.data(),
              want.data());

  Vec sum(rows * h, 0.0f);
  sharding::DimSplit split{inner, 1, 1, 1, ranks};
  for (int64_t r = 0; r < ranks; ++r) {
    sharding::Range cols = sharding::elementRanges(split, r)[0];
    int64_t n = cols.length();
    Vec w1r(h * n), w2r(n * h);
    for (int64_t i = 0; i < h; ++i)
      for (int64_t c = 0; c < n; ++c)
        w1r[i * n + c] = w1[i * inner + cols.begin + c];
    for (int64_t c = 0; c < n; ++c)
      for (int64_t o = 0; o < h; ++o)
        w2r[c * h + o] = w2[(cols.begin + c) * h + o];
    Vec hr(rows * n), part(rows * h);
    cpu::linear(x.data(), rows, h, w1r.data(), true, n, nullptr, hr.data());
    cpu::linear(hr.data(), rows, n, w2r.data(), true, h,
                r == 0 ? b2.data() : nullptr, part.data());
    cpu::add(sum.data(), part.data(), rows * h, sum.data());
  }
  expectNear(sum, want);
}

TEST(CpuKernels, VocabSplitEmbeddingSumsToTheLookup) {
  int64_t vocab = 11, hidden = 4, ranks = 3;
  Vec table = random(vocab * hidden, 8);
  std::vector<int32_t> ids = {0, 10, 5, 3, 7, 4};
  Vec full(ids.size() * hidden), sum(ids.size() * hidden, 0.0f);
  ASSERT_EQ(cpu::embedding(table.data(), 0, vocab, hidden, vocab, ids.data(),
                           ids.size(), full.data()),
            -1);
  sharding::DimSplit split{vocab, 1, 1, 1, ranks};
  for (int64_t r = 0; r < ranks; ++r) {
    sharding::Range rows = sharding::elementRanges(split, r)[0];
    Vec part(ids.size() * hidden);
    cpu::embedding(table.data() + rows.begin * hidden, rows.begin,
                   rows.length(), hidden, vocab, ids.data(), ids.size(),
                   part.data());
    cpu::add(sum.data(), part.data(), sum.size(), sum.data());
  }
  expectNear(sum, full);
  std::vector<int32_t> bad = {3, 11};
  EXPECT_EQ(cpu::embedding(table.data(), 0, vocab, hidden, vocab, bad.data(), 2,
                           full.data()),
            1);
}

TEST(CpuKernels, NormsAndActivations) {
  int64_t rows = 3, h = 8;
  Vec x = random(rows * h, 9), g = random(h, 10), b = random(h, 11);
  Vec y(rows * h);
  cpu::layerNorm(x.data(), rows, h, g.data(), b.data(), 1e-5f, y.data());
  for (int64_t r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < h; ++i)
      mean += x[r * h + i] / h;
    for (int64_t i = 0; i < h; ++i)
      var += (x[r * h + i] - mean) * (x[r * h + i] - mean) / h;
    for (int64_t i = 0; i < h; ++i)
      EXPECT_NEAR(y[r * h + i],
                  (x[r * h + i] - mean) / std::sqrt(var + 1e-5) * g[i] + b[i],
                  1e-4);
  }
  cpu::rmsNorm(x.data(), rows, h, g.data(), 1e-6f, y.data());
  for (int64_t r = 0; r < rows; ++r) {
    double ms = 0;
    for (int64_t i = 0; i < h; ++i)
      ms += x[r * h + i] * x[r * h + i] / h;
    for (int64_t i = 0; i < h; ++i)
      EXPECT_NEAR(y[r * h + i], x[r * h + i] / std::sqrt(ms + 1e-6) * g[i],
                  1e-4);
  }
  float in[3] = {-2.0f, 0.0f, 1.5f}, out[3];
  cpu::geluTanh(in, 3, out);
  EXPECT_NEAR(out[0], -0.0454023f, 1e-5);
  EXPECT_NEAR(out[1], 0.0f, 1e-7);
  EXPECT_NEAR(out[2], 1.3995725f, 1e-5);
  cpu::silu(in, 3, out);
  EXPECT_NEAR(out[0], -2.0f / (1.0f + std::exp(2.0f)), 1e-6);
  EXPECT_NEAR(out[2], 1.5f / (1.0f + std::exp(-1.5f)), 1e-6);
  // silu(gate) * up, over a length that is not a whole number of vectors.
  Vec gate(37), up(37), gated(37), silu(37);
  for (int i = 0; i < 37; ++i) {
    gate[i] = 0.25f * float(i - 18);
    up[i] = 1.0f - 0.05f * float(i);
  }
  cpu::siluMul(gate.data(), up.data(), 37, gated.data());
  cpu::silu(gate.data(), 37, silu.data());
  for (int i = 0; i < 37; ++i)
    EXPECT_NEAR(gated[i], silu[i] * up[i], 1e-6) << i;
}

TEST(CpuKernels, RopeRotatesHalvesByPosition) {
  // One head of 4 at position 2: pairs (0,2) and (1,3) rotate by 2 * f.
  Vec x = {0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4};
  cpu::rope(x.data(), 1, 3, 1, 4, 10000.0);
  double f0 = 2.0, f1 = 2.0 * std::pow(10000.0, -0.5);
  EXPECT_NEAR(x[8], 1 * std::cos(f0) - 3 * std::sin(f0), 1e-5);
  EXPECT_NEAR(x[10], 3 * std::cos(f0) + 1 * std::sin(f0), 1e-5);
  EXPECT_NEAR(x[9], 2 * std::cos(f1) - 4 * std::sin(f1), 1e-5);
  EXPECT_NEAR(x[11], 4 * std::cos(f1) + 2 * std::sin(f1), 1e-5);
}

TEST(CpuKernels, AttentionMatchesTheBookAndSplitsByHeads) {
  // 6 query heads over 2 KV heads (groups of 3), dealt to 4 ranks unevenly
  // (2/2/1/1): each rank's heads, with the KV heads its query heads use,
  // give exactly the columns of the unsplit attention.
  int64_t seq = 5, heads = 6, kvHeads = 2, d = 4, groups = 3, ranks = 4;
  Vec q = random(seq * heads * d, 12), k = random(seq * kvHeads * d, 13),
      v = random(seq * kvHeads * d, 14);
  Vec want = naiveAttention(q, k, v, seq, heads, kvHeads, d);
  Vec full(want.size());
  cpu::attention(q.data(), k.data(), v.data(), 1, seq, seq, heads, kvHeads, d,
                 0, 0, groups, 0, nullptr, full.data());
  expectNear(full, want);

  sharding::DimSplit qSplit{heads * d, d, 1, 1, ranks};
  sharding::DimSplit kvSplit{kvHeads * d, d, 1, groups, ranks};
  for (int64_t r = 0; r < ranks; ++r) {
    sharding::Range qh = sharding::unitRange(qSplit, r);
    sharding::Range kvh = sharding::unitRange(kvSplit, r);
    auto slice = [&](const Vec &t, int64_t allHeads, sharding::Range hs) {
      Vec out;
      for (int64_t s = 0; s < seq; ++s)
        out.insert(out.end(), t.begin() + (s * allHeads + hs.begin) * d,
                   t.begin() + (s * allHeads + hs.end) * d);
      return out;
    };
    Vec qr = slice(q, heads, qh), kr = slice(k, kvHeads, kvh),
        vr = slice(v, kvHeads, kvh), outR(qr.size());
    cpu::attention(qr.data(), kr.data(), vr.data(), 1, seq, seq, qh.length(),
                   kvh.length(), d, qh.begin, kvh.begin, groups, 0, nullptr,
                   outR.data());
    expectNear(outR, slice(want, heads, qh));
  }
}

TEST(CpuKernels, ArgmaxAcrossVocabShards) {
  // 2 rows over a vocabulary of 7 split 3/2/2: the merged per-rank
  // candidates equal the argmax of the whole row; ties go to the lowest id,
  // NaN never wins.
  float nan = std::nanf("");
  Vec logits = {0.1f, 2.0f, -1.0f, 5.0f,  nan,   0.0f,  5.0f,
                nan,  nan,  -3.0f, -3.0f, -4.0f, -9.0f, -3.0f};
  int64_t vocab = 7, rows = 2, ranks = 3;
  sharding::DimSplit split{vocab, 1, 1, 1, ranks};
  std::vector<cpu::ArgmaxEntry> candidates(ranks * rows);
  for (int64_t r = 0; r < ranks; ++r) {
    sharding::Range cols = sharding::elementRanges(split, r)[0];
    Vec local;
    for (int64_t row = 0; row < rows; ++row)
      for (int64_t c = cols.begin; c < cols.end; ++c)
        local.push_back(logits[row * vocab + c]);
    cpu::localArgmax(local.data(), rows, cols.length(), cols.begin,
                     &candidates[r * rows]);
  }
  std::vector<int64_t> ids(rows);
  cpu::mergeArgmax(candidates.data(), ranks, rows, ids.data());
  EXPECT_EQ(ids, std::vector<int64_t>({3, 2}));
}

TEST(CpuKernels, SlidingWindowMasksOldKeys) {
  // With window 1 every token attends only to itself: the output is v.
  int64_t seq = 4, d = 2;
  Vec q = random(seq * d, 15), k = random(seq * d, 16), v = random(seq * d, 17);
  Vec out(seq * d);
  cpu::attention(q.data(), k.data(), v.data(), 1, seq, seq, 1, 1, d, 0, 0, 1, 1,
                 nullptr, out.data());
  expectNear(out, v);
}

TEST(CpuKernels, RopeFromAnOffsetContinuesTheSequence) {
  // Rotating tokens 3..5 alone, starting at offset 3, equals rotating the
  // whole sequence 0..5 and keeping those rows; per sequence of a batch.
  int64_t seq = 6, heads = 2, d = 8, batch = 2;
  Vec whole = random(batch * seq * heads * d, 21);
  Vec tail;
  for (int64_t b = 0; b < batch; ++b)
    tail.insert(tail.end(), whole.begin() + (b * seq + 3) * heads * d,
                whole.begin() + (b + 1) * seq * heads * d);
  cpu::rope(whole.data(), batch, seq, heads, d, 10000.0);
  std::vector<int32_t> offsets = {3, 3};
  cpu::rope(tail.data(), batch, 3, heads, d, 10000.0, offsets.data());
  Vec want;
  for (int64_t b = 0; b < batch; ++b)
    want.insert(want.end(), whole.begin() + (b * seq + 3) * heads * d,
                whole.begin() + (b + 1) * seq * heads * d);
  expectNear(tail, want);
}

TEST(CpuKernels, AttentionRejectsAQueryHeadWithoutItsKvHead) {
  // Found on the GPU: a test gave a rank query heads 2..3 of 6 (groups of
  // 3) but only KV head 0, so head 3's KV head 1 was read past k and v.
  std::vector<float> q(9 * 2 * 8), k(9 * 8), v(9 * 8), out(q.size());
  try {
    cpu::attention(q.data(), k.data(), v.data(), 1, 9, 9, 2, 1, 8, 2, 0, 3, 0,
                   nullptr, out.data());
    ADD_FAILURE() << "no error";
  } catch (const std::invalid_argument &e) {
    EXPECT_STREQ(e.what(), "attention: query head 3 uses KV head 1, which "
                           "this rank does not hold");
  }
  // Holding both KV heads is fine.
  std::vector<float> k2(9 * 2 * 8), v2(k2.size());
  EXPECT_NO_THROW(cpu::attention(q.data(), k2.data(), v2.data(), 1, 9, 9, 2,
                                 2, 8, 2, 0, 3, 0, nullptr, out.data()));
}

TEST(CpuKernels, AttentionOverACacheEqualsTheWholeSequence) {
  // The last 2 of 7 tokens as queries at offset 5 over a cache of 12
  // positions (7 filled, the rest garbage that must not be read) give the
  // last 2 rows of causal attention over all 7, with GQA and a window.
  int64_t seq = 7, cache = 12, heads = 4, kvHeads = 2, d = 4, groups = 2;
  for (int64_t window : {0, 3}) {
    Vec q = random(seq * heads * d, 31), k = random(seq * kvHeads * d, 32),
        v = random(seq * kvHeads * d, 33);
    Vec full(q.size());
    cpu::attention(q.data(), k.data(), v.data(), 1, seq, seq, heads, kvHeads,
                   d, 0, 0, groups, window, nullptr, full.data());
    Vec kc(cache * kvHeads * d, std::nanf("")), vc = kc;
    std::copy(k.begin(), k.end(), kc.begin());
    std::copy(v.begin(), v.end(), vc.begin());
    Vec qTail(q.begin() + 5 * heads * d, q.end()), out(qTail.size());
    std::vector<int32_t> offsets = {5};
    cpu::attention(qTail.data(), kc.data(), vc.data(), 1, 2, cache, heads,
                   kvHeads, d, 0, 0, groups, window, offsets.data(),
                   out.data());
    expectNear(out, Vec(full.begin() + 5 * heads * d, full.end()));
  }
}
TEST(CpuKernels, AttentionOverBf16KeysEqualsTheWidenedOnes) {
  // bf16 keys and values widened block by block as the kernel reads them:
  // the same result, bit for bit, as attention over their f32 copies. Two
  // sequences over a 300-position cache (two blocks of keys, NaN past the
  // filled part, which must not be read), GQA, with and without a window,
  // and a prefill with no cache.
  int64_t batch = 2, seq = 3, cache = 300, heads = 4, kvHeads = 2, d = 8;
  int64_t features = kvHeads * d;
  Vec q = random(batch * seq * heads * d, 41);
  std::vector<uint16_t> k(batch * cache * features, 0x7fc0),
      v(batch * cache * features, 0x7fc0); // bf16 NaN
  Vec kw(k.size(), std::nanf("")), vw(v.size(), std::nanf(""));
  std::vector<int32_t> offsets = {280, 17};
  for (int64_t b = 0; b < batch; ++b) {
    int64_t filled = (offsets[b] + seq) * features;
    Vec kr = random(filled, 42 + b), vr = random(filled, 44 + b);
    for (int64_t i = 0; i < filled; ++i) {
      int64_t at = b * cache * features + i;
      k[at] = floatToBf16(kr[i]);
      v[at] = floatToBf16(vr[i]);
      kw[at] = bf16ToFloat(k[at]);
      vw[at] = bf16ToFloat(v[at]);
    }
  }
  for (int64_t window : {0, 100}) {
    Vec want(q.size()), got(q.size());
    cpu::attention(q.data(), kw.data(), vw.data(), batch, seq, cache, heads,
                   kvHeads, d, 0, 0, 2, window, offsets.data(), want.data());
    cpu::attentionBf16Kv(q.data(), k.data(), v.data(), batch, seq, cache,
                         heads, kvHeads, d, 0, 0, 2, window, offsets.data(),
                         got.data());
    for (size_t i = 0; i < want.size(); ++i)
      ASSERT_EQ(want[i], got[i]) << "window " << window << ", element " << i;
  }
  // Prefill: keys at positions 0..seq-1 of a [batch, seq] tensor.
  int64_t prefill = 260;
  Vec qp = random(prefill * heads * d, 46), kp = random(prefill * features, 47),
      vp = random(prefill * features, 48);
  std::vector<uint16_t> k16(kp.size()), v16(vp.size());
  for (size_t i = 0; i < kp.size(); ++i) {
    k16[i] = floatToBf16(kp[i]);
    v16[i] = floatToBf16(vp[i]);
    kp[i] = bf16ToFloat(k16[i]);
    vp[i] = bf16ToFloat(v16[i]);
  }
  Vec want(qp.size()), got(qp.size());
  cpu::attention(qp.data(), kp.data(), vp.data(), 1, prefill, prefill, heads,
                 kvHeads, d, 0, 0, 2, 0, nullptr, want.data());
  cpu::attentionBf16Kv(qp.data(), k16.data(), v16.data(), 1, prefill, prefill,
                       heads, kvHeads, d, 0, 0, 2, 0, nullptr, got.data());
  for (size_t i = 0; i < want.size(); ++i)
    ASSERT_EQ(want[i], got[i]) << "prefill, element " << i;
}
} // namespace
