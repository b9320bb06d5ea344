//===- compare_tp.cpp - compiled tp = N against compiled tp = 1 -----------===//
//
// Links the programs tpc-compile generated for one model (--emit=cpp
// --program=all: forward, prefill and decode) at tp = 1, 2, 3, 4, with
// sequence parallelism at tp = 2 and 4, and in bf16 at tp = 1 and 3, and
// runs each on the same tokens and seeded weights with that many thread
// ranks:
//
//  - forward: the logits of every f32 degree equal tp = 1 within 1e-5, the
//    bf16 ones are within bf16's precision of f32 (and not equal: they
//    must round);
//  - generation (greedy, a batch of prompts of different lengths): at
//    every step, tp = 1's decode logits equal a full forward pass over the
//    same prefix within 1e-5 (incremental decode equals recomputation);
//    every f32 degree picks tp = 1's tokens with logits within 1e-5 of
//    its; bf16 replaying those tokens stays within bf16's precision.
//
//   tpc-e2e-<model> [--device cuda]
//
// With --device cuda, every rank runs on GPU 0 (virtual ranks, collectives
// staged through the host) and the GPU's logits must also equal the CPU's;
// without a usable GPU it says why and exits 77, which ctest counts as
// skipped.
//
//===----------------------------------------------------------------------===//
#include "runtime/comm/GlooCommunicator.h"
#include "runtime/program/Generate.h"
#if TPC_HAS_CUDA
#include "runtime/comm/NcclCommunicator.h"
#endif

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>

using tpc::program::Ids;
using tpc::program::RankContext;
using Forward = tpc::Tensor (*)(RankContext &, Ids);
using Program = tpc::program::GenerationProgram;

#define TPC_VARIANT(name)                                                      \
  tpc::Tensor forward_##name(RankContext &, Ids);                              \
  tpc::Tensor prefill_##name(RankContext &, Ids, Ids, Ids);                    \
  tpc::Tensor decode_##name(RankContext &, Ids, Ids, Ids);
TPC_VARIANT(tp1)
TPC_VARIANT(tp2)
TPC_VARIANT(tp3)
TPC_VARIANT(tp4)
TPC_VARIANT(sp2)
TPC_VARIANT(sp4)
TPC_VARIANT(bf16_tp1)
TPC_VARIANT(bf16_tp3)
#undef TPC_VARIANT

namespace {
struct Variant {
  const char *name;
  Forward forward;
  Program prefill, decode;
  int ranks;
};
#define TPC_VARIANT(name, ranks)                                               \
  Variant{#name, forward_##name, prefill_##name, decode_##name, ranks}

bool cuda = false;

/// Runs `body` on `ranks` thread ranks, each with its context (on GPU 0
/// with --device cuda) and its host communicator.
void onRanks(int ranks,
             const std::function<void(RankContext &,
                                      tpc::comm::Communicator &)> &body) {
  tpc::comm::runThreadRanks(
      ranks, std::chrono::seconds(30), [&](tpc::comm::Communicator &comm) {
        std::unique_ptr<tpc::program::Backend> gpu;
        std::unique_ptr<tpc::comm::Communicator> staged;
        if (cuda) {
          gpu = tpc::program::makeCudaBackend(0);
#if TPC_HAS_CUDA
          staged = std::make_unique<tpc::comm::HostStagedCommunicator>(comm);
#endif
        }
        RankContext ctx;
        ctx.rank = comm.rank();
        ctx.size = comm.size();
        ctx.comm = staged ? staged.get() : &comm;
        ctx.seed = 1234;
        ctx.backend = gpu.get();
        body(ctx, comm);
      });
}

std::vector<float> run(Forward forward, int ranks, const Ids &ids,
                       bool onCuda) {
  bool saved = cuda;
  cuda = onCuda;
  std::vector<float> logits;
  onRanks(ranks, [&](RankContext &ctx, tpc::comm::Communicator &comm) {
    ctx.seq = ids.seq;
    tpc::Tensor out = forward(ctx, ids);
    if (comm.rank() == 0)
      logits = out.toFloats();
  });
  cuda = saved;
  return logits;
}

tpc::program::GenerationResult
generate(const Variant &v, const tpc::program::GenerationRequest &request,
         int64_t vocab) {
  tpc::program::GenerationResult result;
  onRanks(v.ranks, [&](RankContext &ctx, tpc::comm::Communicator &comm) {
    // The programs' logits are vocabulary-split as the plan chose: plain
    // balanced shards of the vocabulary at tp > 1.
    tpc::program::Layout layout;
    layout.dim = v.ranks > 1 ? 1 : -1;
    tpc::program::GenerationResult mine = tpc::program::generate(
        ctx, comm, {v.prefill, v.decode, layout, vocab}, request);
    if (comm.rank() == 0)
      result = std::move(mine);
  });
  return result;
}

double maxDiff(const std::vector<float> &a, const std::vector<float> &b) {
  if (a.size() != b.size())
    return INFINITY;
  double diff = 0;
  for (size_t i = 0; i < a.size(); ++i)
    diff = std::max(diff, std::fabs(double(a[i]) - b[i]));
  return diff;
}

double largest(const std::vector<float> &a) {
  double scale = 0;
  for (float v : a)
    scale = std::max(scale, std::fabs(double(v)));
  return scale;
}

bool ok = true;
void expect(const char *what, const char *name, double diff, double limit) {
  bool match = diff <= limit;
  ok &= match;
  std::printf("  %-8s %-12s max |diff| %.3g %s\n", what, name, diff,
              match ? "ok" : "MISMATCH");
}
} // namespace

int main(int argc, char **argv) {
  cuda = argc == 3 && std::strcmp(argv[1], "--device") == 0 &&
         std::strcmp(argv[2], "cuda") == 0;
  if (argc > 1 && !cuda) {
    std::fprintf(stderr, "usage: %s [--device cuda]\n", argv[0]);
    return 2;
  }
  std::string why;
  if (cuda && tpc::program::cudaDeviceCount(&why) == 0) {
    std::printf("%s: skipped, no CUDA device (%s)\n", TPC_E2E_MODEL,
                why.c_str());
    return 77;
  }
  const Variant tp1 = TPC_VARIANT(tp1, 1);
  const Variant degrees[] = {tp1,
                             TPC_VARIANT(tp2, 2),
                             TPC_VARIANT(tp3, 3),
                             TPC_VARIANT(tp4, 4),
                             TPC_VARIANT(sp2, 2),
                             TPC_VARIANT(sp4, 4)};
  const Variant bf16[] = {TPC_VARIANT(bf16_tp1, 1), TPC_VARIANT(bf16_tp3, 3)};

  // --- Forward: two sequences of 7 tokens, ids below every vocabulary.
  Ids ids{{5, 17, 88, 3, 42, 0, 64, 8, 1, 77, 23, 50, 31, 9}, 2, 7};
  std::vector<float> reference = run(tp1.forward, 1, ids, /*onCuda=*/false);
  double scale = largest(reference);
  int64_t vocab = int64_t(reference.size()) / (ids.batch * ids.seq);
  std::printf("%s: %zu logits, max |logit| %.4g; on %s\n", TPC_E2E_MODEL,
              reference.size(), scale, cuda ? "cuda:0" : "the cpu");
  ok &= scale > 1e-3;
  for (const Variant &v : degrees) {
    if (!cuda && v.ranks == 1 && &v == &degrees[0])
      continue; // That is the reference itself.
    expect("forward", v.name,
           maxDiff(run(v.forward, v.ranks, ids, cuda), reference), 1e-5);
  }
  // bf16 keeps 8 bits of mantissa: a few rounding steps of the largest
  // logit, and never zero.
  double bf16Limit = 0.03 * scale;
  std::vector<float> rounded = run(bf16[0].forward, 1, ids, cuda);
  double bf16Diff = maxDiff(rounded, reference);
  expect("forward", bf16[0].name, bf16Diff, bf16Limit);
  if (bf16Diff == 0) {
    std::printf("  bf16 tp=1 equals f32: it did not round\n");
    ok = false;
  }
  expect("forward", bf16[1].name,
         maxDiff(run(bf16[1].forward, bf16[1].ranks, ids, cuda), reference),
         bf16Limit);

  // --- Generation: prompts of different lengths; long enough to cross a
  // sliding window of 16 (tiny-mistral) while generating.
  tpc::program::GenerationRequest request;
  request.prompts = {{5, 17, 88, 3, 42, 0, 64, 8, 1, 77, 23, 50},
                     {31, 9, 2},
                     {7, 7, 60, 12, 4, 33, 18, 2}};
  request.maxNewTokens = 10;
  request.maxSeq = 40;
  request.keepLogits = true;
  bool saved = cuda;
  cuda = false;
  tpc::program::GenerationResult base = generate(tp1, request, vocab);
  cuda = saved;

  // Incremental decode equals recomputation: each step's logits against a
  // full forward pass of tp = 1 over the prompt and the tokens so far.
  double recompute = 0;
  for (size_t b = 0; b < request.prompts.size(); ++b)
    for (size_t step = 0; step < base.tokens[b].size(); ++step) {
      std::vector<int32_t> prefix = request.prompts[b];
      prefix.insert(prefix.end(), base.tokens[b].begin(),
                    base.tokens[b].begin() + step);
      Ids one{prefix, 1, int64_t(prefix.size())};
      std::vector<float> full = run(tp1.forward, 1, one, /*onCuda=*/false);
      std::vector<float> last(full.end() - vocab, full.end());
      std::vector<float> decoded(base.logits[step].begin() + b * vocab,
                                 base.logits[step].begin() + (b + 1) * vocab);
      recompute = std::max(recompute, maxDiff(decoded, last));
    }
  expect("decode", "= forward", recompute, 1e-5);

  auto stepLogits = [&](const tpc::program::GenerationResult &r) {
    std::vector<float> all;
    for (const auto &step : r.logits)
      all.insert(all.end(), step.begin(), step.end());
    return all;
  };
  std::vector<float> baseLogits = stepLogits(base);
  for (const Variant &v : degrees) {
    if (!cuda && v.ranks == 1 && &v == &degrees[0])
      continue;
    tpc::program::GenerationResult r = generate(v, request, vocab);
    if (r.tokens != base.tokens) {
      std::printf("  generate %-12s tokens differ from tp=1\n", v.name);
      ok = false;
    }
    expect("generate", v.name, maxDiff(stepLogits(r), baseLogits), 1e-5);
  }
  // bf16 replays tp = 1's f32 tokens: its logits at every step within
  // bf16's precision.
  tpc::program::GenerationRequest replay = request;
  replay.forcedTokens = &base.tokens;
  double generationLimit = 0.03 * largest(baseLogits);
  for (const Variant &v : bf16)
    expect("generate", v.name,
           maxDiff(stepLogits(generate(v, replay, vocab)), baseLogits),
           generationLimit);
  return ok ? 0 : 1;
}
