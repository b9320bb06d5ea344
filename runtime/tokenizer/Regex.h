//===- Regex.h - Unicode regular expressions through PCRE2 ------*- C++ -*-===//
//
// The patterns tokenizer.json files carry (GPT-2's and Llama-3's
// pre-tokenizer splits: \p{L}, \p{N}, (?i:...), (?!\S)) compiled by PCRE2
// in UTF mode with Unicode properties for \s, \w and \d, as the Oniguruma
// engine of Hugging Face's tokenizers treats them.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_TOKENIZER_REGEX_H
#define TPC_RUNTIME_TOKENIZER_REGEX_H

#include "llvm/Support/Error.h"

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tpc::tokenizer {

class Regex {
public:
  /// Compiles `pattern`; the error says where and why it does not compile.
  static llvm::Expected<Regex> compile(std::string_view pattern);

  /// The [begin, end) byte ranges of the successive non-overlapping matches
  /// in `text` (valid UTF-8), left to right; an empty match advances one
  /// character.
  std::vector<std::pair<size_t, size_t>> findAll(std::string_view text) const;

private:
  struct Impl;
  std::shared_ptr<Impl> impl;
};

} // namespace tpc::tokenizer

#endif // TPC_RUNTIME_TOKENIZER_REGEX_H
