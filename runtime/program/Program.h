//===- Program.h - what a compiled program provides to its driver -*- C++
//-*-===//
//
// tpc-compile --emit=exe generates these definitions (the tp = N program,
// the tp = 1 program for --verify, and facts about the plan); the driver
// (Driver.cpp, the executable's main) uses them.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_PROGRAM_PROGRAM_H
#define TPC_RUNTIME_PROGRAM_PROGRAM_H

#include "runtime/program/Ops.h"

tpc::Tensor forward(tpc::program::RankContext &ctx, tpc::program::Ids ids);
tpc::Tensor forward_tp1(tpc::program::RankContext &ctx, tpc::program::Ids ids);

extern const int64_t tpc_program_tp;
extern const int64_t tpc_program_vocab;
extern const int64_t tpc_program_max_positions;
extern const int64_t tpc_program_collectives;
extern const int64_t tpc_program_weight_bytes_per_rank;
extern const char *const tpc_program_model;

#endif // TPC_RUNTIME_PROGRAM_PROGRAM_H
