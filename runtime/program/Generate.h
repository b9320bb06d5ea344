//===- Generate.h - the text generation loop of one rank --------*- C++ -*-===//
//
// Runs a batch of prompts through a compiled model's prefill program, then
// its decode program one token per sequence at a time, against the KV
// caches the programs keep in the rank's context. Every rank runs the same
// loop in step: the programs' collectives and the distributed sampling
// keep them together, and every rank picks the same tokens.
//
// Prompts of different lengths are right-padded for the prefill; each
// sequence then decodes at its own position, so padding is overwritten
// before any query could see it. A sequence ends at one of the model's
// end-of-sequence ids, after `maxNewTokens`, or when its cache is full.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_PROGRAM_GENERATE_H
#define TPC_RUNTIME_PROGRAM_GENERATE_H

#include "runtime/program/Sampling.h"

#include <functional>
#include <string>
#include <vector>

namespace tpc::program {

/// A program of the generation pair: ids [batch, seq], offsets [batch, 1]
/// (tokens already cached), lengths [batch, 1] (real tokens of this call)
/// to the logits of each sequence's last token, [batch, local vocab].
using GenerationProgram = Tensor (*)(RankContext &, Ids, Ids, Ids);

struct GenerationPrograms {
  GenerationProgram prefill = nullptr, decode = nullptr;
  /// How the programs lay out the vocabulary of their logits.
  Layout logitsLayout;
  int64_t vocab = 0;
};

struct GenerationRequest {
  std::vector<std::vector<int32_t>> prompts;
  int64_t maxNewTokens = 0;
  SamplingParams sampling;
  std::vector<int64_t> eosTokenIds;
  /// Positions each sequence's cache holds (prompt + generated).
  int64_t maxSeq = 0;
  /// Keep every step's logits, gathered whole (for --output and --verify).
  bool keepLogits = false;
  /// Teacher forcing (verification): feed these tokens instead of the
  /// sampled ones; a sequence generates as many steps as it has tokens.
  const std::vector<std::vector<int32_t>> *forcedTokens = nullptr;
  /// Called on rank 0 after each step with the tokens it produced and which
  /// sequences produced one.
  std::function<void(int64_t step, const std::vector<int32_t> &tokens,
                     const std::vector<bool> &produced)>
      onStep;
};

/// Why a sequence stopped.
enum class StopReason { EndOfSequence, Length, CacheFull };
std::string describe(StopReason reason);

struct GenerationResult {
  /// The tokens each sequence generated (an end-of-sequence id included).
  std::vector<std::vector<int32_t>> tokens;
  std::vector<StopReason> stopReasons;
  /// The token sampling picked at each step for each sequence (under
  /// teacher forcing, the model's own pick), [steps][batch].
  std::vector<std::vector<int32_t>> picked;
  /// With keepLogits: each step's logits, [steps][batch * vocab].
  std::vector<std::vector<float>> logits;
  /// Seconds of the prefill with the first token's sampling, and of each
  /// decode step with its sampling.
  double prefillSeconds = 0;
  std::vector<double> stepSeconds;
};

/// Generates on this rank; `host` is the rank's communicator over host
/// memory (sampling). Throws std::runtime_error on bad input.
GenerationResult generate(RankContext &ctx, comm::Communicator &host,
                          const GenerationPrograms &programs,
                          const GenerationRequest &request);

} // namespace tpc::program

#endif // TPC_RUNTIME_PROGRAM_GENERATE_H
