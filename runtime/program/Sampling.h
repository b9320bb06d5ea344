//===- Sampling.h - the next token from vocabulary-split logits -*- C++ -*-===//
//
// Every rank holds the logits of its share of the vocabulary (as the plan
// lays out the LM head) and every rank must pick the same next token, with
// as little traffic as the sampling method allows:
//
//  - greedy: each rank's best (value, id) per sequence, all-gathered, the
//    best of those; no rank sees another's logits;
//  - top-k: each rank's k best candidates, all-gathered and merged;
//  - temperature / top-p without top-k: the logits are gathered (the
//    nucleus can be any part of the vocabulary).
//
// Randomness is a counter-based hash of (seed, step, sequence), the same on
// every rank and independent of the degree, so tp = N samples the tokens
// tp = 1 does from equal logits. Filters follow Hugging Face's order:
// temperature, then top-k, then top-p (the smallest set of most likely
// tokens whose probability reaches p).
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_PROGRAM_SAMPLING_H
#define TPC_RUNTIME_PROGRAM_SAMPLING_H

#include "runtime/program/Ops.h"

#include <cstdint>
#include <vector>

namespace tpc::program {

struct SamplingParams {
  /// 0 picks the most likely token (greedy); otherwise logits are divided
  /// by it before sampling.
  double temperature = 0;
  /// Keep only the k most likely tokens (0: all).
  int64_t topK = 0;
  /// Keep the smallest set of most likely tokens whose probability reaches
  /// p (1: all).
  double topP = 1;
  uint64_t seed = 0;

  bool greedy() const { return temperature == 0; }
};

/// The logits of every sequence's step on this rank: [rows, local vocab],
/// columns laid out by `layout` (split along dimension 1, or whole) over a
/// vocabulary of `vocab`.
struct ShardedLogits {
  std::vector<float> values;
  int64_t rows = 0, localVocab = 0;
  /// The global id of local column 0.
  int64_t vocabBegin = 0;
  int64_t vocab = 0;
  /// True when every rank holds the whole vocabulary.
  bool whole = true;
};

/// The rank's logits (any device, any element type) as f32 on the host.
ShardedLogits shardedLogits(RankContext &ctx, const Tensor &logits,
                            const Layout &layout, int64_t vocab);

/// Greedy sampleTokens from the rank's logits where they are (any device,
/// any element type): only each row's best (value, id) leaves the device.
std::vector<int32_t> greedyTokens(RankContext &ctx, comm::Communicator &comm,
                                  const Tensor &logits, const Layout &layout,
                                  int64_t vocab);
/// All of the logits, [rows, vocab], on every rank (a collective).
std::vector<float> gatherLogits(comm::Communicator &comm,
                                const ShardedLogits &logits,
                                const Layout &layout);

/// The next token of every row, the same on every rank (a collective over
/// `comm`, which moves host memory). `step` numbers the calls of one
/// generation, so that each step draws fresh randomness.
std::vector<int32_t> sampleTokens(comm::Communicator &comm,
                                  const ShardedLogits &logits,
                                  const Layout &layout,
                                  const SamplingParams &params, uint64_t step);

/// The distribution a token is sampled from, as logits over the whole
/// vocabulary (one row): temperature-scaled, -inf outside top-k / top-p;
/// the logits themselves when greedy.
std::vector<float> processedLogits(const float *row, int64_t vocab,
                                   const SamplingParams &params);

} // namespace tpc::program

#endif // TPC_RUNTIME_PROGRAM_SAMPLING_H
