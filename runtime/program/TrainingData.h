//===- TrainingData.h - token ids to train on, and their batches -*- C++ -*-===//
//
// The --data file of a training executable: a flat binary of uint16 or
// uint32 ids (nanoGPT's format), or a safetensors file holding them in an
// integer tensor. Every problem is a std::runtime_error with one line
// naming the file; the parser is fuzzed (test/fuzz/FuzzTrainingData.cpp).
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_PROGRAM_TRAININGDATA_H
#define TPC_RUNTIME_PROGRAM_TRAININGDATA_H

#include "runtime/program/Ops.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tpc::program {

/// The ids in `bytes`, the contents of the file `path`: a safetensors file
/// when the path ends in .safetensors (its tensor `tensor`, or its only
/// tensor when `tensor` is empty; U8, U16, U32, I32 or I64), else a flat
/// binary of `elementType` ("uint16" or "uint32") ids. Every id must be
/// below `vocab`, and there must be at least `minTokens` of them.
std::vector<int32_t> parseTokenData(std::string_view bytes,
                                    const std::string &path,
                                    const std::string &elementType,
                                    const std::string &tensor, int64_t vocab,
                                    int64_t minTokens);

/// parseTokenData of the file at `path`.
std::vector<int32_t> readTokenFile(const std::string &path,
                                   const std::string &elementType,
                                   const std::string &tensor, int64_t vocab,
                                   int64_t minTokens);

/// `--shuffle`'s window order: each epoch (pass over the data) a fresh
/// permutation of the windows, drawn from (seed, epoch), the same on every
/// rank; kept for the epoch being read.
class ShuffledWindows {
public:
  ShuffledWindows(int64_t windows, uint64_t seed)
      : windows(windows), seed(seed) {}
  /// The window read at position `index` of epoch `epoch`.
  int64_t at(int64_t epoch, int64_t index);

private:
  int64_t windows;
  uint64_t seed;
  int64_t epoch = -1;
  std::vector<int64_t> order;
};

/// Sequences first .. first + count (all when count < 0) of step `step`'s
/// batch: windows of seqLen + 1 tokens, taken in order (or as `shuffled`
/// orders them) and wrapping around into the next epoch; targets are the
/// ids shifted by one.
void trainingBatch(const std::vector<int32_t> &tokens, int64_t step,
                   int64_t batch, int64_t seqLen, Ids &ids, Ids &targets,
                   int64_t first = 0, int64_t count = -1,
                   ShuffledWindows *shuffled = nullptr);

} // namespace tpc::program

#endif // TPC_RUNTIME_PROGRAM_TRAININGDATA_H
