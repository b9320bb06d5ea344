//===- ModelConfig.h - Hugging Face model descriptions ----------*- C++ -*-===//
//
// Reads a Hugging Face style config.json into one normalized description
// for every supported family (gpt2, llama, mistral, qwen2), accepting old
// and new key spellings. Anything tpc cannot reproduce exactly (an unknown
// model_type, a rope_scaling type, a non-tanh GeLU, ...) is an error that
// names the file, the field and what was expected: never a silently wrong
// model.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_COMPILER_MODELCONFIG_H
#define TPC_COMPILER_MODELCONFIG_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mlir::tpc {

enum class ModelFamily { Gpt2, Llama, Mistral, Qwen2 };

/// The `model_type` spelling of `family`.
llvm::StringRef familyName(ModelFamily family);

/// A transformer's hyper-parameters, normalized across families.
struct ModelConfig {
  std::string path; ///< The config file, for messages.
  ModelFamily family = ModelFamily::Gpt2;

  int64_t vocabSize = 0;
  int64_t hiddenSize = 0;
  int64_t numLayers = 0;
  int64_t numHeads = 0;
  int64_t numKvHeads = 0; ///< == numHeads without GQA.
  int64_t headDim = 0;
  int64_t intermediateSize = 0;
  int64_t maxPositions = 0;
  double normEpsilon = 0;
  double ropeTheta = 0; ///< Llama family only; GPT-2 learns positions.
  bool tieWordEmbeddings = false;
  bool qkvBias = false;    ///< Bias on the q, k, v projections.
  bool outputBias = false; ///< Bias on the attention output projection.
  bool mlpBias = false;    ///< Bias on the MLP projections.
  /// Attention looks back at most this many tokens (Mistral).
  std::optional<int64_t> slidingWindow;
  /// The checkpoint's dtype as the config states it ("float32", ...), if
  /// it does.
  std::optional<std::string> checkpointDtype;
  /// The ids that end a generated sequence: generation_config.json's
  /// `eos_token_id` when it is beside the config, else config.json's.
  std::vector<int64_t> eosTokenIds;
};

/// The most blocks a model may have (also for --num-layers).
inline constexpr int64_t kMaxModelLayers = 10000;

/// Reads the config at `path`: a config.json, or a directory holding one
/// (and, when there is one beside it, generation_config.json).
llvm::Expected<ModelConfig> readModelConfig(llvm::StringRef path);

/// Parses `text` as the contents of the config file `path`.
llvm::Expected<ModelConfig> parseModelConfig(llvm::StringRef text,
                                             llvm::StringRef path);

} // namespace mlir::tpc

#endif // TPC_COMPILER_MODELCONFIG_H
