//===- Options.h - the command line of compiled programs --------*- C++ -*-===//
//
// The flags every tpc executable takes, defined with Abseil's flags
// (defaults, help text, typed parsing) and read by one loop that accepts
// the documented --with-dashes spellings, repeats --prompt, and turns every
// problem into one line naming the flag and what it expects. --help lists
// every flag with its default. The token-id parser (--tokens) is here too,
// apart from the program, so that it can be fuzzed.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_PROGRAM_OPTIONS_H
#define TPC_RUNTIME_PROGRAM_OPTIONS_H

#include "runtime/program/Ops.h"
#include "runtime/program/Sampling.h"

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace tpc::program {

/// A bad command line: the message is the whole one-line explanation.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Options {
  std::string weights;
  std::optional<uint64_t> seed; ///< --random-weights.
  std::string tokens;
  std::string device;
  std::string output;
  bool verify = false;
  int bench = 0;
  /// Seconds a collective may wait for a peer before the run fails.
  int timeout = 60;
  // Generation.
  std::vector<std::string> prompts;
  std::string promptsFile;
  std::string tokenizer;
  int64_t generate = 0;
  bool ignoreEos = false;
  std::optional<int64_t> maxSeq;
  SamplingParams sampling;
  /// Training (--data and the flags after it).
  struct Training {
    std::string data, dataType = "uint16", dataTensor;
    int64_t steps = 1, batch = 8, microBatch = 0, seqLen = 64, warmup = 0;
    std::string optimizer = "adamw";
    double lr = 1e-3, weightDecay = 0, clip = 1.0;
    std::string save, grads;
    bool shuffle = false;
  } training;
  /// --help was given: print help() and stop.
  bool help = false;
};

/// Parses `argv`; throws UsageError.
Options parseOptions(int argc, char **argv);

/// The usage text: what the program does and every flag with its default.
std::string help(const char *program);

/// "1,2,3;4,5" as sequences of token ids (of any lengths) below `vocab`;
/// throws UsageError naming the bad item.
std::vector<std::vector<int32_t>> parseSequences(const std::string &text,
                                                 int64_t vocab);

/// Sequences of one length as the forward program's [batch, seq] ids, at
/// most `maxPositions` long; throws UsageError.
Ids parseTokens(const std::string &text, int64_t vocab, int64_t maxPositions);

} // namespace tpc::program

#endif // TPC_RUNTIME_PROGRAM_OPTIONS_H
