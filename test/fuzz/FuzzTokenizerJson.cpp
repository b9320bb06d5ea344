//===- FuzzTokenizerJson.cpp - tokenizer.json files ------------------------===//
//
// libFuzzer harness: the input is a tokenizer.json. One that reads encodes
// a few fixed texts (ASCII, accents, CJK, emoji, whitespace) and decodes
// the ids back. Every failure must be an error message.
//
//===----------------------------------------------------------------------===//
#include "runtime/tokenizer/Tokenizer.h"

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef text(reinterpret_cast<const char *>(data), size);
  auto tokenizer = tpc::tokenizer::Tokenizer::parse(text, "tokenizer.json");
  if (!tokenizer) {
    llvm::consumeError(tokenizer.takeError());
    return 0;
  }
  for (const char *sample : {"Hello world", " caf\xC3\xA9  12345\n\tx",
                             "\xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x99\x82", ""}) {
    auto ids = tokenizer->encode(sample);
    if (!ids) {
      llvm::consumeError(ids.takeError());
      continue;
    }
    (void)tokenizer->decode(*ids);
    (void)tokenizer->decode(*ids, /*skipSpecialTokens=*/true);
  }
  return 0;
}
