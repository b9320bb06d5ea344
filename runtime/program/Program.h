//===- Program.h - what a compiled program provides to its driver -*- C++
//-*-===//
//
// tpc-compile --emit=exe generates these definitions (the tp = N programs,
// the tp = 1 programs for --verify, and facts about the plan); the driver
// (Driver.cpp, the executable's main) uses them. The generation programs
// exist when the model has an attention to cache: they are weak here, and
// null when the generated code does not define them. So are the tp = 1
// programs, which a tp = 1 (dp = 1) executable does not define: its own
// programs are the reference (referenceOf).
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_PROGRAM_PROGRAM_H
#define TPC_RUNTIME_PROGRAM_PROGRAM_H

#include "runtime/program/Ops.h"

tpc::Tensor forward(tpc::program::RankContext &ctx, tpc::program::Ids ids);
__attribute__((weak)) tpc::Tensor forward_tp1(tpc::program::RankContext &ctx,
                                              tpc::program::Ids ids);

/// ids [batch, seq], offsets and lengths [batch, 1] -> last-token logits.
#define TPC_GENERATION_PROGRAM(name)                                           \
  __attribute__((weak)) tpc::Tensor name(                                      \
      tpc::program::RankContext &ctx, tpc::program::Ids ids,                   \
      tpc::program::Ids offsets, tpc::program::Ids lengths)
TPC_GENERATION_PROGRAM(prefill);
TPC_GENERATION_PROGRAM(decode);
TPC_GENERATION_PROGRAM(prefill_tp1);
TPC_GENERATION_PROGRAM(decode_tp1);
#undef TPC_GENERATION_PROGRAM

/// The training step (tpc-compile --train): ids and next-token targets
/// [batch, seq] and the loss's gradient per position (f32 [batch, seq]) ->
/// the loss of every position; every weight's gradient is added into
/// ctx.grads.
#define TPC_TRAINING_PROGRAM(name)                                             \
  __attribute__((weak)) tpc::Tensor name(                                      \
      tpc::program::RankContext &ctx, tpc::program::Ids ids,                   \
      tpc::program::Ids targets, tpc::Tensor dloss)
TPC_TRAINING_PROGRAM(train_step);
TPC_TRAINING_PROGRAM(train_step_tp1);
#undef TPC_TRAINING_PROGRAM

/// The tp = 1 program --verify compares `program` with: `tp1`, or the
/// program itself where the executable has no separate tp = 1 copy.
template <typename F> F *referenceOf(F *tp1, F *program) {
  return tp1 ? tp1 : program;
}

extern const int64_t tpc_program_tp;
/// Data-parallel replicas of the tp ranks (training; 1 otherwise).
extern const int64_t tpc_program_dp;
/// 1 when the optimizer state is sharded over dp (ZeRO-1), 2 when the
/// gradients are too (ZeRO-2), else 0.
extern const int64_t tpc_program_zero_stage;
extern const int64_t tpc_program_vocab;
extern const int64_t tpc_program_max_positions;
/// Collectives of one forward pass and of one decode step.
extern const int64_t tpc_program_collectives;
extern const int64_t tpc_program_decode_collectives;
/// Collectives of one training step (0 without one).
extern const int64_t tpc_program_train_collectives;
extern const int64_t tpc_program_weight_bytes_per_rank;
/// KV-cache bytes the largest rank holds per position of one sequence.
extern const int64_t tpc_program_kv_bytes_per_position;
/// How prefill and decode lay out the vocabulary of their logits.
extern const tpc::program::Layout tpc_program_logits_layout;
/// The ids that end a generated sequence: the first tpc_program_eos_ids_count.
extern const int64_t tpc_program_eos_ids_count;
extern const int64_t tpc_program_eos_ids[];
/// The largest rank's planned activation peaks of a forward pass and of a
/// decode step (tpc-plan-memory): triples of bytes (fixed, per sequence,
/// per token); the peak of a run is the largest triple's value at its
/// batch and sequence length.
extern const int64_t tpc_program_forward_activation_peaks_count;
extern const int64_t tpc_program_forward_activation_peaks[];
extern const int64_t tpc_program_decode_activation_peaks_count;
extern const int64_t tpc_program_decode_activation_peaks[];
extern const int64_t tpc_program_train_activation_peaks_count;
extern const int64_t tpc_program_train_activation_peaks[];
extern const char *const tpc_program_model;
/// "f32", "bf16" or "f16": the program's weights and activations.
extern const char *const tpc_program_dtype;
/// tokenizer.json beside the model the program was compiled from, or "".
extern const char *const tpc_program_tokenizer;

#endif // TPC_RUNTIME_PROGRAM_PROGRAM_H
