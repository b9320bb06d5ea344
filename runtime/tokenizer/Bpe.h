//===- Bpe.h - the byte-pair encoding model ---------------------*- C++ -*-===//
//
// Hugging Face's BPE model: a word (one pre-tokenized piece) starts as its
// characters, each a vocabulary token (or, with byte fallback, its bytes as
// <0xXX> tokens, or the unknown token); the pair of adjacent symbols whose
// merge ranks first is merged, leftmost first, until no merge applies. With
// `ignoreMerges` a word that is itself a token is that token (Llama-3).
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_TOKENIZER_BPE_H
#define TPC_RUNTIME_TOKENIZER_BPE_H

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tpc::tokenizer {

struct BpeOptions {
  /// The unknown token's id, for characters the vocabulary lacks.
  std::optional<int32_t> unknownId;
  /// Consecutive unknown characters become one unknown token.
  bool fuseUnknown = false;
  /// Characters the vocabulary lacks become their bytes' <0xXX> tokens.
  bool byteFallback = false;
  /// A word that is a token is that token, merges or not.
  bool ignoreMerges = false;
};

class Bpe {
public:
  /// `vocab` maps tokens to ids; `merges` are pairs in rank order, each
  /// merging into a token of the vocabulary. The error names the first
  /// merge that refers to a token the vocabulary lacks.
  static llvm::Expected<Bpe>
  build(llvm::StringMap<int32_t> vocab,
        const std::vector<std::pair<std::string, std::string>> &merges,
        BpeOptions options);

  /// Appends the ids of `word` (valid UTF-8).
  void encode(std::string_view word, std::vector<int32_t> &ids) const;

  std::optional<int32_t> idOf(std::string_view token) const;
  /// The token of `id`, or null.
  const std::string *tokenOf(int32_t id) const;
  /// One more than the largest id.
  int64_t size() const { return int64_t(tokens.size()); }

private:
  void merge(std::string_view word, std::vector<int32_t> &ids) const;

  llvm::StringMap<int32_t> vocab;
  std::vector<std::string> tokens; ///< By id ("" where no token has it).
  /// (left id, right id) -> (rank, merged id).
  llvm::DenseMap<uint64_t, std::pair<int32_t, int32_t>> merges;
  BpeOptions options;
  /// Words seen before (bounded), as Hugging Face's BPE caches them.
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache;
  mutable std::unique_ptr<std::mutex> cacheLock =
      std::make_unique<std::mutex>();
};

} // namespace tpc::tokenizer

#endif // TPC_RUNTIME_TOKENIZER_BPE_H
