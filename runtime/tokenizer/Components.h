//===- Components.h - normalizers, pre-tokenizers, decoders -----*- C++ -*-===//
//
// The pipeline stages of a Hugging Face tokenizer.json, each built from
// its JSON object (with its "type") and run the way the Rust tokenizers
// crate runs it:
//
//  - normalizers: NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace,
//    Strip, Sequence;
//  - pre-tokenizers: ByteLevel, Split, Metaspace, Digits, Whitespace,
//    WhitespaceSplit, Sequence;
//  - decoders: ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace,
//    Sequence.
//
// Anything else is an error naming the field, not a silently different
// tokenizer.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_TOKENIZER_COMPONENTS_H
#define TPC_RUNTIME_TOKENIZER_COMPONENTS_H

#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

#include <memory>
#include <string>
#include <vector>

namespace tpc::tokenizer {

/// Where a component's JSON is, for messages: "PATH: field 'WHERE'".
struct JsonPlace {
  std::string file;
  std::string field;
  JsonPlace child(const std::string &key) const {
    return {file, field.empty() ? key : field + "." + key};
  }
  JsonPlace element(size_t index) const {
    return {file, field + "[" + std::to_string(index) + "]"};
  }
  /// "FILE: field 'FIELD': MESSAGE" as an error.
  llvm::Error error(const llvm::Twine &message) const;
};

class Normalizer {
public:
  virtual ~Normalizer() = default;
  virtual std::string normalize(std::string text) const = 0;
};

/// A piece of pre-tokenized text; `atStart` when it begins the input (the
/// "first" prepend scheme prepends only there).
struct Piece {
  std::string text;
  bool atStart = false;
};

class PreTokenizer {
public:
  virtual ~PreTokenizer() = default;
  /// Splits (and may rewrite) every piece.
  virtual std::vector<Piece> split(std::vector<Piece> pieces) const = 0;
};

class Decoder {
public:
  virtual ~Decoder() = default;
  /// Rewrites the token strings (the decoders' chain of Hugging Face).
  virtual std::vector<std::string>
  decode(std::vector<std::string> tokens) const = 0;
};

llvm::Expected<std::unique_ptr<Normalizer>>
makeNormalizer(const llvm::json::Value &json, const JsonPlace &place);
llvm::Expected<std::unique_ptr<PreTokenizer>>
makePreTokenizer(const llvm::json::Value &json, const JsonPlace &place);
llvm::Expected<std::unique_ptr<Decoder>>
makeDecoder(const llvm::json::Value &json, const JsonPlace &place);

} // namespace tpc::tokenizer

#endif // TPC_RUNTIME_TOKENIZER_COMPONENTS_H
