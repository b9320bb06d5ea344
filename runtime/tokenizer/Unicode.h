//===- Unicode.h - UTF-8, normalization and GPT-2's byte alphabet -*- C++ -*-===//
//
// The text handling tokenizers need: UTF-8 decoding and validation, lossy
// conversion of arbitrary bytes to UTF-8 (as Rust's String::from_utf8_lossy,
// which Hugging Face's decoders use), Unicode normalization forms and
// lowercasing through ICU, and the byte-level BPE alphabet (GPT-2's
// bytes_to_unicode: every byte as one printable character).
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_TOKENIZER_UNICODE_H
#define TPC_RUNTIME_TOKENIZER_UNICODE_H

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tpc::tokenizer {

/// The byte offset of the first invalid UTF-8 sequence in `text`, or
/// nullopt when it is valid UTF-8.
std::optional<size_t> firstInvalidUtf8(std::string_view text);

/// The length in bytes of the UTF-8 character starting with byte `lead`
/// (1 for bytes that cannot start one).
size_t utf8Length(unsigned char lead);

/// The characters of valid UTF-8 `text`, each as its bytes.
std::vector<std::string_view> utf8Chars(std::string_view text);

/// The code point of the valid UTF-8 character `ch`.
char32_t codePoint(std::string_view ch);

/// Appends code point `cp` as UTF-8.
void appendUtf8(std::string &out, char32_t cp);

/// `bytes` as UTF-8, each maximal invalid subpart replaced by U+FFFD.
std::string lossyUtf8(std::string_view bytes);

/// True when `text` ends inside a UTF-8 character (more bytes would
/// complete it): what a streaming decoder holds back.
bool endsInsideCharacter(std::string_view text);

enum class NormalForm { NFC, NFD, NFKC, NFKD };

/// `text` (valid UTF-8) in normal form `form`.
std::string normalize(std::string_view text, NormalForm form);

/// `text` (valid UTF-8) lowercased by Unicode's default rules.
std::string lowercase(std::string_view text);

/// GPT-2's alphabet: byte b as one character (UTF-8). Printable Latin-1
/// bytes stand for themselves, the rest for U+0100 onward.
const std::array<std::string, 256> &byteToChar();

/// The byte a character of that alphabet stands for.
std::optional<uint8_t> charToByte(char32_t cp);

} // namespace tpc::tokenizer

#endif // TPC_RUNTIME_TOKENIZER_UNICODE_H
