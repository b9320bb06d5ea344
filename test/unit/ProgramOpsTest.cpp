//===- ProgramOpsTest.cpp - the program calls reproduce tp = 1 at tp = N --===//
//
// A GPT-2-style model and a Llama-style GQA attention written with the
// calls generated code will make, in the layouts tpc-partition produces
// (vocab-parallel tied embedding and head, fused q|k|v split by whole
// heads, row-split projections with the bias on rank 0, uneven heads and
// shared KV heads): the logits at tp = 2 and 3 equal those at tp = 1.
//
//===----------------------------------------------------------------------===//
#include "runtime/comm/GlooCommunicator.h"
#if TPC_HAS_CUDA
#include "runtime/comm/NcclCommunicator.h"
#endif
#include "runtime/cpu/Kernels.h"
#include "runtime/program/Ops.h"

#include "gtest/gtest.h"

#include <chrono>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>

using namespace tpc;
using namespace tpc::program;
using namespace std::chrono_literals;

namespace {
constexpr int64_t kVocab = 11, kHidden = 16, kHeads = 4, kHeadDim = 4,
                  kInner = 32, kPositions = 8;

/// A 2-block GPT-2 stored in `dtype` (biases are small noise, norm scales
/// near 1, as random weights make them): every layout whole at tp = 1,
/// Megatron's otherwise.
std::vector<float> gpt2(RankContext &ctx, const Ids &ids, DType dtype) {
  bool split = ctx.size > 1;
  Layout whole;
  Layout rows = split ? Layout{0} : whole; // split dimension 0
  Layout cols = split ? Layout{1} : whole; // split dimension 1
  Layout qkvCols = split ? Layout{1, false, kHeadDim, 3} : whole;
  Layout qkvBias = split ? Layout{0, false, kHeadDim, 3} : whole;
  Layout headRows = split ? Layout{0, false, kHeadDim} : whole;
  Layout heads = split ? Layout{2, false, kHeadDim} : whole;

  Tensor wte = weight(ctx, "wte", {kVocab, kHidden}, rows, dtype);
  Tensor wpe = weight(ctx, "wpe", {kPositions, kHidden}, rows, dtype);
  Tensor x = add(ctx, embedding(ctx, wte, rows, kVocab, ids),
                 embedding(ctx, wpe, rows, kPositions, positions(ctx, ids)));
  if (split)
    allReduce(ctx, x); // the embeddings' partial sums, made whole
  for (int l = 0; l < 2; ++l) {
    std::string p = "h." + std::to_string(l) + ".";
    Tensor h =
        layerNorm(ctx, x, weight(ctx, p + "ln_1.w", {kHidden}, whole, dtype),
                  weight(ctx, p + "ln_1.bias", {kHidden}, whole, dtype), 1e-5);
    Tensor wqkv =
        weight(ctx, p + "c_attn.w", {kHidden, 3 * kHidden}, qkvCols, dtype);
    Tensor bqkv = weight(ctx, p + "c_attn.bias", {3 * kHidden}, qkvBias, dtype);
    std::vector<Tensor> qkv =
        program::split(ctx, linear(ctx, h, wqkv, &bqkv, true, false), 3);
    Tensor a =
        attention(ctx, qkv[0], qkv[1], qkv[2], kHeads, kHeads, heads, heads, 0);
    Tensor wo =
        weight(ctx, p + "c_proj.w", {kHidden, kHidden}, headRows, dtype);
    Tensor bo = weight(ctx, p + "c_proj.bias", {kHidden}, whole, dtype);
    Tensor o = linear(ctx, a, wo, &bo, true, split);
    if (split)
      allReduce(ctx, o);
    x = add(ctx, x, o);
    h = layerNorm(ctx, x, weight(ctx, p + "ln_2.w", {kHidden}, whole, dtype),
                  weight(ctx, p + "ln_2.bias", {kHidden}, whole, dtype), 1e-5);
    Tensor up =
        linear(ctx, h, weight(ctx, p + "fc.w", {kHidden, kInner}, cols, dtype),
               nullptr, true, false);
    Tensor wd = weight(ctx, p + "proj.w", {kInner, kHidden}, rows, dtype);
    Tensor bd = weight(ctx, p + "proj.bias", {kHidden}, whole, dtype);
    Tensor d = linear(ctx, gelu(ctx, up), wd, &bd, true, split);
    if (split)
      allReduce(ctx, d);
    x = add(ctx, x, d);
  }
  x = layerNorm(ctx, x, weight(ctx, "ln_f.w", {kHidden}, whole, dtype),
                weight(ctx, "ln_f.bias", {kHidden}, whole, dtype), 1e-5);
  Tensor logits = lmHead(ctx, x, wte);
  if (split)
    logits = allGather(ctx, logits, Layout{2}, kVocab);
  return logits.toFloats();
}

/// The model's logits at `tp` thread ranks, on the CPU or (`cuda`) as
/// virtual ranks on GPU 0 with collectives staged through the host.
std::vector<float> runAt(int tp, const Ids &ids, DType dtype = DType::F32,
                         bool cuda = false) {
  std::vector<float> logits;
  comm::runThreadRanks(tp, 20s, [&](comm::Communicator &comm) {
    std::unique_ptr<Backend> gpu;
    std::unique_ptr<comm::Communicator> staged;
#if TPC_HAS_CUDA
    if (cuda) {
      gpu = makeCudaBackend(0);
      staged = std::make_unique<comm::HostStagedCommunicator>(comm);
    }
#endif
    RankContext ctx{comm.rank(), comm.size(), staged ? staged.get() : &comm,
                    nullptr, 7};
    ctx.backend = gpu.get();
    std::vector<float> out = gpt2(ctx, ids, dtype);
    if (comm.rank() == 0)
      logits = out;
  });
  return logits;
}

double maxAbs(const std::vector<float> &values) {
  double m = 0;
  for (float v : values)
    m = std::max(m, std::fabs(double(v)));
  return m;
}

double maxDiff(const std::vector<float> &a, const std::vector<float> &b) {
  double m = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    m = std::max(m, std::fabs(double(a[i]) - b[i]));
  return m;
}

TEST(ProgramOps, Gpt2AtTp2And3EqualsTp1) {
  Ids ids{{1, 5, 10, 3, 0, 7, 2, 9, 4, 6}, 2, 5};
  std::vector<float> reference = runAt(1, ids);
  ASSERT_EQ(reference.size(), size_t(2 * 5 * kVocab));
  EXPECT_GT(maxAbs(reference), 1e-3)
      << "the logits should not be trivially zero";
  for (int tp : {2, 3}) {
    std::vector<float> logits = runAt(tp, ids);
    ASSERT_EQ(logits.size(), reference.size());
    for (size_t i = 0; i < logits.size(); ++i)
      ASSERT_NEAR(logits[i], reference[i], 1e-5)
          << "tp = " << tp << " at " << i;
  }
}

TEST(ProgramOps, Gpt2In16BitsRoundsAndStillMatchesAcrossDegrees) {
  // bf16 and f16 store every weight and activation rounded: the logits
  // differ from f32 (by the types' precision, not more), and tp = 3 stays
  // within a few rounding steps of tp = 1 (partial sums are added in a
  // different order before they are rounded).
  Ids ids{{1, 5, 10, 3, 0, 7, 2, 9, 4, 6}, 2, 5};
  std::vector<float> f32 = runAt(1, ids);
  double scale = maxAbs(f32);
  for (auto [dtype, epsilon] :
       {std::pair{DType::BF16, 0x1p-8}, std::pair{DType::F16, 0x1p-11}}) {
    std::vector<float> tp1 = runAt(1, ids, dtype);
    std::vector<float> tp3 = runAt(3, ids, dtype);
    ASSERT_EQ(tp1.size(), f32.size());
    ASSERT_EQ(tp3.size(), f32.size());
    double fromF32 = maxDiff(tp1, f32) / scale;
    EXPECT_GT(fromF32, 0.0) << dtypeName(dtype) << " computed like f32";
    EXPECT_LT(fromF32, 16 * epsilon) << dtypeName(dtype);
    EXPECT_LT(maxDiff(tp3, tp1) / scale, 16 * epsilon) << dtypeName(dtype);
  }
}

TEST(ProgramOps, Gpt2OnCudaEqualsCpu) {
  // The CUDA backend through the same calls: every op, the packing of the
  // collectives (copyRows) and the 16-bit conversions on the device.
  std::string why;
  if (cudaDeviceCount(&why) == 0)
    GTEST_SKIP() << "CUDA program path not run: " << why;
  Ids ids{{1, 5, 10, 3, 0, 7, 2, 9, 4, 6}, 2, 5};
  std::vector<float> cpu = runAt(1, ids);
  double scale = maxAbs(cpu);
  for (int tp : {1, 3}) {
    EXPECT_LT(maxDiff(runAt(tp, ids, DType::F32, true), cpu), 1e-5)
        << "f32 tp = " << tp;
    std::vector<float> bf16Cpu = runAt(tp, ids, DType::BF16);
    EXPECT_LT(maxDiff(runAt(tp, ids, DType::BF16, true), bf16Cpu) / scale,
              16 * 0x1p-8)
        << "bf16 tp = " << tp;
  }
}

TEST(ProgramOps, GqaAttentionUnevenHeadsSharedKv) {
  // 6 query heads over 2 KV heads on 4 ranks (2/2/1/1 heads, KV heads
  // shared): each rank's attention output is its columns of the whole one,
  // and an all-gather gives the whole one back.
  int64_t heads = 6, kvHeads = 2, d = 4, seq = 5;
  Ids ids{{0, 1, 2, 3, 4}, 1, seq};
  auto run = [&](int tp) {
    std::vector<float> result;
    comm::runThreadRanks(tp, 20s, [&](comm::Communicator &comm) {
      RankContext ctx{comm.rank(), comm.size(), &comm, nullptr, 3};
      bool split = tp > 1;
      Layout qCols = split ? Layout{0, false, d} : Layout{};
      Layout kvCols =
          split ? Layout{0, false, d, 1, heads / kvHeads} : Layout{};
      Layout qHeads = split ? Layout{2, false, d} : Layout{};
      Layout kvHeadsLayout =
          split ? Layout{2, false, d, 1, heads / kvHeads} : Layout{};
      DType dtype = DType::F32;
      Tensor x = embedding(ctx, weight(ctx, "emb", {8, 12}, Layout{}, dtype),
                           Layout{}, 8, ids);
      auto proj = [&](const char *name, int64_t out, const Layout &layout) {
        return linear(ctx, x, weight(ctx, name, {out, 12}, layout, dtype),
                      nullptr, false, false);
      };
      Tensor q = rope(ctx, proj("q", heads * d, qCols), d, 10000.0);
      Tensor k = rope(ctx, proj("k", kvHeads * d, kvCols), d, 10000.0);
      Tensor v = proj("v", kvHeads * d, kvCols);
      Tensor a =
          attention(ctx, q, k, v, heads, kvHeads, qHeads, kvHeadsLayout, 0);
      if (split)
        a = allGather(ctx, a, qHeads, heads * d);
      if (comm.rank() == 0)
        result = a.toFloats();
    });
    return result;
  };
  std::vector<float> reference = run(1), sharded = run(4);
  ASSERT_EQ(sharded.size(), reference.size());
  for (size_t i = 0; i < reference.size(); ++i)
    ASSERT_NEAR(sharded[i], reference[i], 1e-5) << "at " << i;
}

TEST(ProgramOps, ReduceScatterAndSliceRoundTrip) {
  // A partial sum reduce-scattered along the sequence and gathered back is
  // the all-reduced tensor; a slice of a whole tensor is its shard.
  comm::runThreadRanks(3, 20s, [](comm::Communicator &comm) {
    RankContext ctx{comm.rank(), comm.size(), &comm, nullptr, 0};
    std::vector<float> values(2 * 7 * 3);
    for (size_t i = 0; i < values.size(); ++i)
      values[i] = float(i % 5 + comm.rank());
    Tensor x = Tensor::fromFloats(values, {2, 7, 3}, DType::F32, Device::Host);
    Tensor whole = x.to(Device::Host, DType::F32);
    allReduce(ctx, whole);
    Layout seq{1};
    Tensor back = allGather(ctx, reduceScatter(ctx, x, seq), seq, 7);
    if (back.toFloats() != whole.toFloats())
      throw std::runtime_error("reduce_scatter + all_gather != all_reduce");
    Tensor slice = allSlice(ctx, whole, seq);
    Tensor again = allGather(ctx, slice, seq, 7);
    if (again.toFloats() != whole.toFloats())
      throw std::runtime_error("all_slice + all_gather != identity");
  });
}
TEST(ProgramOps, VocabParallelCrossEntropyWithIgnoredTargets) {
  // Logits [1, 4, 11] split over 3 ranks by vocabulary (4/4/3 columns):
  // every rank gets the loss and log-sum-exp of each position, computed
  // here in double; a position whose target is the ignore index has loss
  // 0 and a zero gradient; the gradient is dloss (softmax - onehot).
  const int64_t vocab = 11, seq = 4, ignore = -100;
  std::vector<float> logits(seq * vocab);
  for (size_t i = 0; i < logits.size(); ++i)
    logits[i] = float(std::sin(double(i) * 0.7) * 3.0);
  Ids targets{{3, 10, int32_t(ignore), 0}, 1, seq};
  std::vector<double> lse(seq), loss(seq);
  for (int64_t s = 0; s < seq; ++s) {
    double sum = 0;
    for (int64_t v = 0; v < vocab; ++v)
      sum += std::exp(double(logits[s * vocab + v]));
    lse[s] = std::log(sum);
    loss[s] = targets.values[s] == ignore
                  ? 0.0
                  : lse[s] - logits[s * vocab + targets.values[s]];
  }
  comm::runThreadRanks(3, 20s, [&](comm::Communicator &comm) {
    RankContext ctx{comm.rank(), comm.size(), &comm, nullptr, 0};
    Layout byVocab{2};
    Tensor whole =
        Tensor::fromFloats(logits, {1, seq, vocab}, DType::F32, Device::Host);
    Tensor mine = allSlice(ctx, whole, byVocab);
    std::vector<Tensor> parts =
        crossEntropy(ctx, mine, byVocab, vocab, targets, ignore);
    std::vector<float> gotLoss = parts[0].toFloats(),
                       gotLse = parts[1].toFloats();
    for (int64_t s = 0; s < seq; ++s) {
      if (std::fabs(gotLoss[s] - loss[s]) > 1e-5 ||
          std::fabs(gotLse[s] - lse[s]) > 1e-5)
        throw std::runtime_error("cross-entropy differs at position " +
                                 std::to_string(s));
    }
    Tensor dloss = Tensor::fromFloats(std::vector<float>(seq, 0.5f),
                                      {1, seq}, DType::F32, Device::Host);
    Tensor grad = allGather(
        ctx, crossEntropyGrad(ctx, mine, byVocab, vocab, targets, parts[1],
                              dloss, ignore),
        byVocab, vocab);
    std::vector<float> g = grad.toFloats();
    for (int64_t s = 0; s < seq; ++s)
      for (int64_t v = 0; v < vocab; ++v) {
        double want =
            targets.values[s] == ignore
                ? 0.0
                : 0.5 * (std::exp(logits[s * vocab + v] - lse[s]) -
                         (v == targets.values[s] ? 1.0 : 0.0));
        if (std::fabs(g[s * vocab + v] - want) > 1e-6)
          throw std::runtime_error("cross-entropy gradient differs at " +
                                   std::to_string(s) + ", " +
                                   std::to_string(v));
      }
  });
}
} // namespace

namespace {
/// A [rows, width] tensor of `dtype` holding values drawn from `seed`.
Tensor randomTensor(int64_t rows, int64_t width, DType dtype, unsigned seed) {
  std::vector<float> values(size_t(rows * width));
  for (size_t i = 0; i < values.size(); ++i)
    values[i] = std::sin(float(i * 7 + seed * 131)) * 2.0f;
  return Tensor::fromFloats(values, {rows, width}, dtype, Device::Host);
}

Tensor widened(const Tensor &t) {
  return Tensor::fromFloats(t.toFloats(), t.shape(), DType::F32, Device::Host);
}

void expectRoundedEqual(const Tensor &f32, const Tensor &bf16,
                        const char *what) {
  std::vector<float> want = f32.toFloats(), got = bf16.toFloats();
  ASSERT_EQ(want.size(), got.size()) << what;
  for (size_t i = 0; i < want.size(); ++i)
    ASSERT_EQ(bf16ToFloat(floatToBf16(want[i])), got[i])
        << what << ", element " << i;
}
} // namespace

// 16-bit norms and elementwise ops run a few rows at a time on every thread
// (no whole f32 copies): per element, the f32 op of the same values,
// rounded. Sizes that make several blocks per thread and a ragged last one.
TEST(ProgramOps, SixteenBitRowOpsEqualTheF32OpRounded) {
  Backend &cpu = cpuBackend();
  int64_t rows = 37, hidden = 1000;
  Tensor a = randomTensor(rows, hidden, DType::BF16, 1),
         b = randomTensor(rows, hidden, DType::BF16, 2),
         scale = randomTensor(1, hidden, DType::BF16, 3),
         shift = randomTensor(1, hidden, DType::BF16, 4);
  Tensor a32 = widened(a), b32 = widened(b), scale32 = widened(scale),
         shift32 = widened(shift);
  auto like = [](const Tensor &t) {
    return Tensor::empty(t.shape(), t.dtype(), Device::Host);
  };
  Tensor sum = like(a), y = like(a), sum32 = like(a32), y32 = like(a32);
  cpu.addNorm(a, b, rows, hidden, scale, &shift, 1e-5f, sum, y);
  cpu.addNorm(a32, b32, rows, hidden, scale32, &shift32, 1e-5f, sum32, y32);
  expectRoundedEqual(sum32, sum, "addNorm sum");
  expectRoundedEqual(y32, y, "addNorm");
  cpu.rmsNorm(a, rows, hidden, scale, 1e-6f, y);
  cpu.rmsNorm(a32, rows, hidden, scale32, 1e-6f, y32);
  expectRoundedEqual(y32, y, "rmsNorm");
  cpu.siluMul(a, b, y);
  cpu.siluMul(a32, b32, y32);
  expectRoundedEqual(y32, y, "siluMul");
  cpu.geluTanh(a, y);
  cpu.geluTanh(a32, y32);
  expectRoundedEqual(y32, y, "geluTanh");
  cpu.add(a, b, y);
  cpu.add(a32, b32, y32);
  expectRoundedEqual(y32, y, "add");
  // RoPE: blocks of rows that straddle the two sequences, each from its
  // own offset; and its inverse (positions from 0).
  int64_t seq = rows / 2 + 1, heads = 4, headDim = 250;
  Tensor x = randomTensor(2 * seq, heads * headDim, DType::BF16, 5);
  // The reference: the kernel over the whole batch at once.
  Tensor x32 = widened(x);
  std::vector<int32_t> offsets = {5, 100};
  cpu.rope(x, 2, seq, heads, headDim, 10000.0, offsets);
  cpu::rope(static_cast<float *>(x32.data()), 2, seq, heads, headDim, 10000.0,
            offsets.data());
  expectRoundedEqual(x32, x, "rope");
  x32 = widened(x);
  cpu.ropeInverse(x, 2, seq, heads, headDim, 10000.0);
  cpu::rope(static_cast<float *>(x32.data()), 2, seq, heads, headDim, 10000.0,
            nullptr, /*inverse=*/true);
  expectRoundedEqual(x32, x, "rope inverse");
}

// The fused gradient accumulations (tpc-fuse) add what the unfused pairs
// add, and say which weight's buffer does not fit.
TEST(ProgramOps, FusedGradientAccumulationsEqualTheUnfusedPairs) {
  auto run = [](bool fused) {
    RankContext ctx;
    ctx.trainable = true;
    Layout whole;
    weight(ctx, "w", {5, 3}, whole, DType::F32);
    weight(ctx, "wte", {7, 3}, whole, DType::F32);
    Tensor x = randomTensor(4, 5, DType::F32, 11),
           dy = randomTensor(4, 3, DType::F32, 12);
    Ids ids{{6, 0, 6, 2}, 1, 4};
    for (int contribution = 0; contribution < 2; ++contribution) {
      if (fused) {
        accumulateLinearWeightGrad(ctx, "w", x, dy, /*inOut=*/true);
        accumulateEmbeddingGrad(ctx, "wte", dy, ids, 7);
      } else {
        accumulateGrad(ctx, "w", linearWeightGrad(ctx, x, dy, true));
        accumulateGrad(ctx, "wte", embeddingGrad(ctx, dy, ids, whole, 7));
      }
    }
    return std::pair{ctx.grads.at("w").toFloats(),
                     ctx.grads.at("wte").toFloats()};
  };
  auto [w, wte] = run(true);
  auto [wantW, wantWte] = run(false);
  EXPECT_EQ(w, wantW);
  ASSERT_EQ(wte.size(), wantWte.size());
  for (size_t i = 0; i < wte.size(); ++i)
    EXPECT_NEAR(wte[i], wantWte[i], 1e-6) << "table element " << i;

  RankContext ctx;
  Tensor x = randomTensor(4, 5, DType::F32, 11),
         dy = randomTensor(4, 3, DType::F32, 12);
  Ids ids{{0, 1, 2, 3}, 1, 4};
  try {
    accumulateEmbeddingGrad(ctx, "wte", dy, ids, 7);
    FAIL() << "an unloaded table was accumulated into";
  } catch (const std::runtime_error &e) {
    EXPECT_STREQ(e.what(),
                 "accumulate_embedding_grad: 'wte' is not a loaded weight");
  }
  accumulateGrad(ctx, "w", randomTensor(2, 3, DType::F32, 13));
  try {
    accumulateLinearWeightGrad(ctx, "w", x, dy, /*inOut=*/true);
    FAIL() << "a [5, 3] gradient went into a [2, 3] buffer";
  } catch (const std::runtime_error &e) {
    EXPECT_STREQ(e.what(), "accumulate_linear_weight_grad: the gradient of "
                           "'w' is not laid out like the weight");
  }
}

// The CPU backend's packed weights: linear() on one gives the product of
// the weight as loaded, and operands of another shape or type (which no
// program passes: it packs its own weights in its own type) are rejected
// with a message instead of being read as the wrong layout.
TEST(ProgramOps, PackedWeightMultipliesAndRejectsMismatchedOperands) {
  Backend &cpu = cpuBackend();
  int64_t in = 64, out = 32, rows = 2;
  Tensor w = Tensor::fromFloats(std::vector<float>(in * out, 0.5f), {out, in},
                                DType::F32, Device::Host);
  Tensor packed = cpu.prepareLinearWeight(w, /*inOut=*/false, {});
  if (packed.data() == w.data())
    GTEST_SKIP() << "oneDNN packs no weights on this CPU";
  Tensor x = Tensor::fromFloats(std::vector<float>(rows * in, 1.0f),
                                {rows, in}, DType::F32, Device::Host);
  Tensor y = cpu.empty({rows, out}, DType::F32);
  cpu.linear(x, rows, in, packed, false, out, nullptr, Activation::None, y);
  for (float v : y.toFloats())
    ASSERT_EQ(v, 32.0f);

  auto rejected = [&](const Tensor &input, int64_t width) {
    Tensor result = cpu.empty({rows, out}, input.dtype());
    try {
      cpu.linear(input, rows, width, packed, false, out, nullptr,
                 Activation::None, result);
    } catch (const std::logic_error &e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  const std::string message =
      "linear: operands do not match the packed weight's shape and type";
  EXPECT_EQ(rejected(x.to(Device::Host, DType::BF16), in), message);
  EXPECT_EQ(rejected(x, in - 1), message);
}
