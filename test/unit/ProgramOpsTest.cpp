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
#include "runtime/program/Ops.h"

#include "gtest/gtest.h"

#include <chrono>
#include <cmath>

using namespace tpc;
using namespace tpc::program;
using namespace std::chrono_literals;

namespace {
constexpr int64_t kVocab = 11, kHidden = 16, kHeads = 4, kHeadDim = 4,
                  kInner = 32, kPositions = 8;

std::vector<Tensor> split3(const Tensor &qkv);

/// A 2-block GPT-2: every layout whole at tp = 1, Megatron's otherwise.
std::vector<float> gpt2(RankContext &ctx, const Ids &ids) {
  bool split = ctx.size > 1;
  Layout whole;
  Layout rows = split ? Layout{0} : whole; // split dimension 0
  Layout cols = split ? Layout{1} : whole; // split dimension 1
  Layout qkvCols = split ? Layout{1, false, kHeadDim, 3} : whole;
  Layout qkvBias = split ? Layout{0, false, kHeadDim, 3} : whole;
  Layout headRows = split ? Layout{0, false, kHeadDim} : whole;
  Layout heads = split ? Layout{2, false, kHeadDim} : whole;

  Tensor wte = weight(ctx, "wte", {kVocab, kHidden}, rows);
  Tensor wpe = weight(ctx, "wpe", {kPositions, kHidden}, rows);
  Tensor x = add(embedding(ctx, wte, rows, kVocab, ids),
                 embedding(ctx, wpe, rows, kPositions, positions(ids)));
  if (split)
    allReduce(ctx, x); // the embeddings' partial sums, made whole
  for (int l = 0; l < 2; ++l) {
    std::string p = "h." + std::to_string(l) + ".";
    Tensor h = layerNorm(x, weight(ctx, p + "ln_1.w", {kHidden}, whole),
                         weight(ctx, p + "ln_1.b", {kHidden}, whole), 1e-5);
    Tensor wqkv = weight(ctx, p + "c_attn.w", {kHidden, 3 * kHidden}, qkvCols);
    Tensor bqkv = weight(ctx, p + "c_attn.b", {3 * kHidden}, qkvBias);
    std::vector<Tensor> qkv = split3(linear(ctx, h, wqkv, &bqkv, true, false));
    Tensor a =
        attention(ctx, qkv[0], qkv[1], qkv[2], kHeads, kHeads, heads, heads, 0);
    Tensor wo = weight(ctx, p + "c_proj.w", {kHidden, kHidden}, headRows);
    Tensor bo = weight(ctx, p + "c_proj.b", {kHidden}, whole);
    Tensor o = linear(ctx, a, wo, &bo, true, split);
    if (split)
      allReduce(ctx, o);
    x = add(x, o);
    h = layerNorm(x, weight(ctx, p + "ln_2.w", {kHidden}, whole),
                  weight(ctx, p + "ln_2.b", {kHidden}, whole), 1e-5);
    Tensor up = linear(ctx, h, weight(ctx, p + "fc.w", {kHidden, kInner}, cols),
                       nullptr, true, false);
    Tensor wd = weight(ctx, p + "proj.w", {kInner, kHidden}, rows);
    Tensor bd = weight(ctx, p + "proj.b", {kHidden}, whole);
    Tensor d = linear(ctx, gelu(up), wd, &bd, true, split);
    if (split)
      allReduce(ctx, d);
    x = add(x, d);
  }
  x = layerNorm(x, weight(ctx, "ln_f.w", {kHidden}, whole),
                weight(ctx, "ln_f.b", {kHidden}, whole), 1e-5);
  Tensor logits = lmHead(x, wte);
  if (split)
    logits = allGather(ctx, logits, Layout{2}, kVocab);
  return logits.toFloats();
}

std::vector<Tensor> split3(const Tensor &qkv) { return split(qkv, 3); }

std::vector<float> runAt(int tp, const Ids &ids) {
  std::vector<float> logits;
  comm::runThreadRanks(tp, 20s, [&](comm::Communicator &comm) {
    RankContext ctx{comm.rank(), comm.size(), &comm, nullptr, 7};
    std::vector<float> out = gpt2(ctx, ids);
    if (comm.rank() == 0)
      logits = out;
  });
  return logits;
}

TEST(ProgramOps, Gpt2AtTp2And3EqualsTp1) {
  Ids ids{{1, 5, 10, 3, 0, 7, 2, 9, 4, 6}, 2, 5};
  std::vector<float> reference = runAt(1, ids);
  ASSERT_EQ(reference.size(), size_t(2 * 5 * kVocab));
  double spread = 0;
  for (float v : reference)
    spread = std::max(spread, std::fabs(double(v)));
  EXPECT_GT(spread, 1e-3) << "the logits should not be trivially zero";
  for (int tp : {2, 3}) {
    std::vector<float> logits = runAt(tp, ids);
    ASSERT_EQ(logits.size(), reference.size());
    for (size_t i = 0; i < logits.size(); ++i)
      ASSERT_NEAR(logits[i], reference[i], 1e-5)
          << "tp = " << tp << " at " << i;
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
      Tensor x = embedding(ctx, weight(ctx, "emb", {8, 12}, Layout{}), Layout{},
                           8, ids);
      auto proj = [&](const char *name, int64_t out, const Layout &layout) {
        return linear(ctx, x, weight(ctx, name, {out, 12}, layout), nullptr,
                      false, false);
      };
      Tensor q = rope(proj("q", heads * d, qCols), d, 10000.0);
      Tensor k = rope(proj("k", kvHeads * d, kvCols), d, 10000.0);
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
} // namespace
