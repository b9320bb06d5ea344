//===- Tokenizer.h - Hugging Face tokenizer.json, encode and decode -*- C++ -*-//
//
// Reads a tokenizer.json as users have it from the Hugging Face hub and
// runs it as the Rust tokenizers crate does: added (special) tokens are
// cut out of the text first; each remaining segment is normalized,
// pre-tokenized and encoded by the BPE model; the post-processor adds the
// template's special tokens (a BOS). Decoding maps ids back to tokens and
// runs the decoders. Byte-level BPE (GPT-2, Llama-3, Qwen2) and
// SentencePiece-style BPE with byte fallback (Llama-2, TinyLlama, Mistral)
// are both this pipeline with different components (Components.h).
//
// Every problem with the file is an error naming the file and the field.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_TOKENIZER_TOKENIZER_H
#define TPC_RUNTIME_TOKENIZER_TOKENIZER_H

#include "runtime/tokenizer/Bpe.h"
#include "runtime/tokenizer/Components.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <memory>
#include <string>
#include <vector>

namespace tpc::tokenizer {

/// A token the vocabulary adds to the model's (special or not), matched
/// in the raw text before anything else.
struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool special = false;
  /// Absorb the whitespace on its left / right; match only as a whole word.
  bool lstrip = false, rstrip = false, singleWord = false;
};

class Tokenizer {
public:
  /// Reads the tokenizer.json at `path`.
  static llvm::Expected<Tokenizer> load(llvm::StringRef path);
  /// Reads `text` as the contents of a tokenizer.json called `path`.
  static llvm::Expected<Tokenizer> parse(llvm::StringRef text,
                                         llvm::StringRef path);

  /// The ids of `text` (UTF-8; an error names the first invalid byte),
  /// with the post-processor's special tokens when `addSpecialTokens`.
  llvm::Expected<std::vector<int32_t>> encode(llvm::StringRef text,
                                              bool addSpecialTokens = true) const;

  /// The text of `ids` (ids without a token are skipped), as UTF-8 with
  /// U+FFFD where the bytes are not.
  std::string decode(llvm::ArrayRef<int32_t> ids,
                     bool skipSpecialTokens = false) const;

  /// One more than the largest id of the model or the added tokens.
  int64_t vocabSize() const;
  /// The token of `id`, or null.
  const std::string *tokenOf(int32_t id) const;
  bool isSpecial(int32_t id) const;

private:
  Tokenizer() = default;

  /// `text` cut at added tokens: (segment, added token or null).
  std::vector<std::pair<std::string_view, const AddedToken *>>
  splitAddedTokens(std::string_view text) const;

  std::string path;
  std::shared_ptr<const Bpe> model;
  std::vector<AddedToken> added;
  std::shared_ptr<const Normalizer> normalizer;
  std::shared_ptr<const PreTokenizer> preTokenizer;
  std::shared_ptr<const Decoder> decoder;
  /// The ids the post-processor puts before and after a sequence.
  std::vector<int32_t> prefix, suffix;
};

} // namespace tpc::tokenizer

#endif // TPC_RUNTIME_TOKENIZER_TOKENIZER_H
