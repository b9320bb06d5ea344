//===- FuzzTokenizerText.cpp - arbitrary text through real tokenizers -----===//
//
// libFuzzer harness: the input is text (any bytes). It is encoded and
// decoded by a byte-level tokenizer (GPT-2's pipeline) and a
// SentencePiece-style one (Llama-2's: byte fallback, Metaspace), each with
// a small vocabulary; invalid UTF-8 must be an error, and valid text must
// come back from decode(encode(text)).
//
//===----------------------------------------------------------------------===//
#include "runtime/tokenizer/Tokenizer.h"
#include "runtime/tokenizer/Unicode.h"

#include <cstdint>
#include <string>

using namespace tpc::tokenizer;

namespace {
/// Every byte as a token (byte-level alphabet), a few merges.
std::string byteLevelJson() {
  std::string vocab;
  for (int b = 0; b < 256; ++b)
    vocab += (b ? "," : "") + std::string("\"") +
             (byteToChar()[b] == "\"" ? "\\\"" : byteToChar()[b] == "\\" ? "\\\\" : byteToChar()[b]) +
             "\":" + std::to_string(b);
  return R"({"added_tokens": [{"id": 300, "content": "<|end|>", "special": true}],
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
    "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "vocab": {)" +
         vocab + R"(, "he": 256, "ll": 257, "hell": 258, "\u0120t": 259},
      "merges": ["h e", "l l", "he ll", "\u0120 t"]}})";
}

/// Letters and byte fallback for the rest, Metaspace, "first" scheme.
std::string sentencePieceJson() {
  std::string vocab = R"("<unk>": 0, "<s>": 1, "\u2581": 2, "a": 3, "b": 4)";
  char buf[32];
  for (int b = 0; b < 256; ++b) {
    std::snprintf(buf, sizeof(buf), ", \"<0x%02X>\": %d", b, 5 + b);
    vocab += buf;
  }
  return R"({"added_tokens": [{"id": 1, "content": "<s>", "special": true}],
    "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": false},
    "decoder": {"type": "Sequence", "decoders": [{"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first"}, {"type": "ByteFallback"}, {"type": "Fuse"}]},
    "model": {"type": "BPE", "unk_token": "<unk>", "byte_fallback": true, "fuse_unk": true,
      "vocab": {)" +
         vocab + R"(, "\u2581a": 261}, "merges": ["\u2581 a"]}})";
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const Tokenizer byteLevel =
      llvm::cantFail(Tokenizer::parse(byteLevelJson(), "byte-level.json"));
  static const Tokenizer sentencePiece =
      llvm::cantFail(Tokenizer::parse(sentencePieceJson(), "sp.json"));
  std::string text(reinterpret_cast<const char *>(data), size);
  bool valid = !firstInvalidUtf8(text);
  for (const Tokenizer *t : {&byteLevel, &sentencePiece}) {
    auto ids = t->encode(text, /*addSpecialTokens=*/false);
    if (!ids) {
      llvm::consumeError(ids.takeError());
      if (valid)
        __builtin_trap(); // Valid UTF-8 always encodes.
      continue;
    }
    std::string back = t->decode(*ids);
    // Byte-level BPE round-trips every text exactly.
    if (t == &byteLevel && back != text)
      __builtin_trap();
  }
  return 0;
}
