//===- runtime_bench.cpp - CPU runtime throughput -------------------------===//
//
// 1. GEMM GFLOP/s through tpc::cpu::linear against OpenBLAS's cblas_sgemm
//    called directly, on the GEMM shapes of a GPT-2 small block (ratio close
//    to 1 means the runtime adds nothing).
// 2. Gloo all-reduce time on 4 thread ranks, 4 KB to 16 MB.
//
//   build/bench/tpc-runtime-bench
//
//===----------------------------------------------------------------------===//
#include "runtime/comm/GlooCommunicator.h"
#include "runtime/cpu/Kernels.h"

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

using Clock = std::chrono::steady_clock;

template <typename Fn> double bestSeconds(int runs, Fn &&fn) {
  double best = 1e30;
  for (int i = 0; i < runs; ++i) {
    auto start = Clock::now();
    fn();
    best = std::min(
        best, std::chrono::duration<double>(Clock::now() - start).count());
  }
  return best;
}

int main() {
  std::printf("GEMM, f32, rows x in -> out (best of 5)\n");
  std::printf("%-22s%14s%14s%8s\n", "shape", "runtime GF/s", "openblas GF/s",
              "ratio");
  struct Shape {
    int64_t rows, in, out;
    bool inOut;
  };
  for (Shape s : {Shape{512, 768, 2304, true}, Shape{512, 768, 3072, true},
                  Shape{512, 3072, 768, true}, Shape{512, 768, 768, false}}) {
    std::vector<float> x(s.rows * s.in, 0.5f), w(s.in * s.out, 0.25f),
        y(s.rows * s.out);
    double flops = 2.0 * s.rows * s.in * s.out;
    double tRuntime = bestSeconds(5, [&] {
      tpc::cpu::linear(x.data(), s.rows, s.in, w.data(), s.inOut, s.out,
                       nullptr, y.data());
    });
    double tBlas = bestSeconds(5, [&] {
      cblas_sgemm(CblasRowMajor, CblasNoTrans,
                  s.inOut ? CblasNoTrans : CblasTrans, s.rows, s.out, s.in,
                  1.0f, x.data(), s.in, w.data(), s.inOut ? s.out : s.in, 0.0f,
                  y.data(), s.out);
    });
    char name[64];
    std::snprintf(name, sizeof(name), "%ldx%ld->%ld %s", long(s.rows),
                  long(s.in), long(s.out), s.inOut ? "in_out" : "out_in");
    std::printf("%-22s%14.1f%14.1f%8.2f\n", name, flops / tRuntime / 1e9,
                flops / tBlas / 1e9, tBlas / tRuntime);
  }

  // OpenBLAS's workers busy-wait after a GEMM; on a small machine they
  // would steal the cores the rank threads need.
  openblas_set_num_threads(1);
  std::printf("\nGloo all-reduce, 4 thread ranks over loopback (best of 5)\n");
  std::printf("%10s%12s%14s\n", "bytes", "time us", "algo GB/s");
  for (size_t bytes = 4096; bytes <= (16u << 20); bytes *= 4) {
    double best = 0;
    tpc::comm::runThreadRanks(
        4, std::chrono::seconds(60), [&](tpc::comm::Communicator &comm) {
          std::vector<float> data(bytes / 4, 1.0f);
          comm.allReduceSum(data.data(), data.size()); // warm-up
          double t = 1e30;
          for (int i = 0; i < 5; ++i) {
            comm.barrier();
            auto start = Clock::now();
            comm.allReduceSum(data.data(), data.size());
            t = std::min(t, std::chrono::duration<double>(Clock::now() -
                                                           start)
                                .count());
          }
          if (comm.rank() == 0)
            best = t;
        });
    std::printf("%10zu%12.1f%14.2f\n", bytes, best * 1e6,
                2.0 * 3 / 4 * bytes / best / 1e9);
  }
  return 0;
}
