//===- compare_tp.cpp - compiled tp = N against compiled tp = 1 -----------===//
//
// Links the programs tpc-compile generated for one model (--emit=cpp) at
// tp = 1, 2, 3, 4 and with sequence parallelism at tp = 2 and 4, runs each
// on the same tokens and seeded weights with that many thread ranks, and
// requires the logits of every degree to equal tp = 1 (rank 0 holds the
// whole logits after the final all-gather).
//
//   tpc-e2e-<model>   (exit 0 when every degree matches)
//
//===----------------------------------------------------------------------===//
#include "runtime/comm/GlooCommunicator.h"
#include "runtime/program/Ops.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

using Forward = tpc::Tensor (*)(tpc::program::RankContext &, tpc::program::Ids);
tpc::Tensor forward_tp1(tpc::program::RankContext &, tpc::program::Ids);
tpc::Tensor forward_tp2(tpc::program::RankContext &, tpc::program::Ids);
tpc::Tensor forward_tp3(tpc::program::RankContext &, tpc::program::Ids);
tpc::Tensor forward_tp4(tpc::program::RankContext &, tpc::program::Ids);
tpc::Tensor forward_sp2(tpc::program::RankContext &, tpc::program::Ids);
tpc::Tensor forward_sp4(tpc::program::RankContext &, tpc::program::Ids);

namespace {
std::vector<float> run(Forward forward, int ranks,
                       const tpc::program::Ids &ids) {
  std::vector<float> logits;
  tpc::comm::runThreadRanks(
      ranks, std::chrono::seconds(30), [&](tpc::comm::Communicator &comm) {
        tpc::program::RankContext ctx{comm.rank(), comm.size(), &comm,
                                      nullptr,     1234,        ids.seq};
        tpc::Tensor out = forward(ctx, ids);
        if (comm.rank() == 0)
          logits = out.toFloats();
      });
  return logits;
}
} // namespace

int main() {
  // Two sequences of 7 tokens, ids below every tiny model's vocabulary.
  tpc::program::Ids ids{
      {5, 17, 88, 3, 42, 0, 64, 8, 1, 77, 23, 50, 31, 9}, 2, 7};
  std::vector<float> reference = run(forward_tp1, 1, ids);
  double scale = 0;
  for (float v : reference)
    scale = std::max(scale, std::fabs(double(v)));
  std::printf("%s: %zu logits, max |logit| %.4g\n", TPC_E2E_MODEL,
              reference.size(), scale);
  bool ok = scale > 1e-3;
  struct Degree {
    const char *name;
    Forward forward;
    int ranks;
  };
  for (Degree d : {Degree{"tp=2", forward_tp2, 2},
                   {"tp=3", forward_tp3, 3},
                   {"tp=4", forward_tp4, 4},
                   {"tp=2 sp", forward_sp2, 2},
                   {"tp=4 sp", forward_sp4, 4}}) {
    std::vector<float> logits = run(d.forward, d.ranks, ids);
    double diff = logits.size() == reference.size() ? 0 : INFINITY;
    for (size_t i = 0; i < logits.size() && i < reference.size(); ++i)
      diff = std::max(diff, std::fabs(double(logits[i]) - reference[i]));
    bool match = diff <= 1e-5;
    ok &= match;
    std::printf("  %-8s max |logits - tp=1| %.3g %s\n", d.name, diff,
                match ? "ok" : "MISMATCH");
  }
  return ok ? 0 : 1;
}
