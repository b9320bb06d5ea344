//===- compare_tp.cpp - compiled tp = N against compiled tp = 1 -----------===//
//
// Links the programs tpc-compile generated for one model (--emit=cpp) at
// tp = 1, 2, 3, 4, with sequence parallelism at tp = 2 and 4, and in bf16
// at tp = 1 and 3; runs each on the same tokens and seeded weights with
// that many thread ranks, and requires the logits of every f32 degree to
// equal tp = 1 within 1e-5, and the bf16 ones to be within bf16's precision
// of f32 (and not equal to it: they must round).
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
#include "runtime/program/Ops.h"
#if TPC_HAS_CUDA
#include "runtime/comm/NcclCommunicator.h"
#endif

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>

using Forward = tpc::Tensor (*)(tpc::program::RankContext &, tpc::program::Ids);
tpc::Tensor forward_tp1(tpc::program::RankContext &, tpc::program::Ids);
tpc::Tensor forward_tp2(tpc::program::RankContext &, tpc::program::Ids);
tpc::Tensor forward_tp3(tpc::program::RankContext &, tpc::program::Ids);
tpc::Tensor forward_tp4(tpc::program::RankContext &, tpc::program::Ids);
tpc::Tensor forward_sp2(tpc::program::RankContext &, tpc::program::Ids);
tpc::Tensor forward_sp4(tpc::program::RankContext &, tpc::program::Ids);
tpc::Tensor forward_bf16_tp1(tpc::program::RankContext &, tpc::program::Ids);
tpc::Tensor forward_bf16_tp3(tpc::program::RankContext &, tpc::program::Ids);

namespace {
std::vector<float> run(Forward forward, int ranks, const tpc::program::Ids &ids,
                       bool cuda) {
  std::vector<float> logits;
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
        tpc::program::RankContext ctx{
            comm.rank(), comm.size(), staged ? staged.get() : &comm,
            nullptr,     1234,        ids.seq};
        ctx.backend = gpu.get();
        tpc::Tensor out = forward(ctx, ids);
        if (comm.rank() == 0)
          logits = out.toFloats();
      });
  return logits;
}

double maxDiff(const std::vector<float> &a, const std::vector<float> &b) {
  if (a.size() != b.size())
    return INFINITY;
  double diff = 0;
  for (size_t i = 0; i < a.size(); ++i)
    diff = std::max(diff, std::fabs(double(a[i]) - b[i]));
  return diff;
}
} // namespace

int main(int argc, char **argv) {
  bool cuda = argc == 3 && std::strcmp(argv[1], "--device") == 0 &&
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
  // Two sequences of 7 tokens, ids below every tiny model's vocabulary.
  tpc::program::Ids ids{
      {5, 17, 88, 3, 42, 0, 64, 8, 1, 77, 23, 50, 31, 9}, 2, 7};
  std::vector<float> reference = run(forward_tp1, 1, ids, /*cuda=*/false);
  double scale = 0;
  for (float v : reference)
    scale = std::max(scale, std::fabs(double(v)));
  std::printf("%s: %zu logits, max |logit| %.4g; on %s\n", TPC_E2E_MODEL,
              reference.size(), scale, cuda ? "cuda:0" : "the cpu");
  bool ok = scale > 1e-3;
  auto expect = [&](const char *name, double diff, double limit) {
    bool match = diff <= limit;
    ok &= match;
    std::printf("  %-12s max |logits - cpu tp=1 f32| %.3g %s\n", name, diff,
                match ? "ok" : "MISMATCH");
  };
  struct Degree {
    const char *name;
    Forward forward;
    int ranks;
  };
  for (Degree d : {Degree{"tp=1", forward_tp1, 1},
                   {"tp=2", forward_tp2, 2},
                   {"tp=3", forward_tp3, 3},
                   {"tp=4", forward_tp4, 4},
                   {"tp=2 sp", forward_sp2, 2},
                   {"tp=4 sp", forward_sp4, 4}}) {
    if (!cuda && d.ranks == 1)
      continue; // That is the reference itself.
    expect(d.name, maxDiff(run(d.forward, d.ranks, ids, cuda), reference),
           1e-5);
  }
  // bf16 keeps 8 bits of mantissa: a few rounding steps of the largest
  // logit, and never zero.
  double bf16Limit = 0.03 * scale;
  std::vector<float> bf16 = run(forward_bf16_tp1, 1, ids, cuda);
  double bf16Diff = maxDiff(bf16, reference);
  expect("bf16 tp=1", bf16Diff, bf16Limit);
  if (bf16Diff == 0) {
    std::printf("  bf16 tp=1 equals f32: it did not round\n");
    ok = false;
  }
  expect("bf16 tp=3", maxDiff(run(forward_bf16_tp3, 3, ids, cuda), reference),
         bf16Limit);
  return ok ? 0 : 1;
}
