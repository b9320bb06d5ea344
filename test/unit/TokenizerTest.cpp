//===- TokenizerTest.cpp - the tokenizer's text handling and pipeline -----===//
#include "runtime/tokenizer/Tokenizer.h"
#include "runtime/tokenizer/Unicode.h"

#include "gtest/gtest.h"

using namespace tpc::tokenizer;

namespace {
TEST(Unicode, LossyUtf8ReplacesMaximalInvalidSubparts) {
  // As Rust's from_utf8_lossy: a truncated 3-byte sequence is one U+FFFD,
  // a stray continuation byte another, an overlong lead byte another.
  EXPECT_EQ(lossyUtf8("a\xE2\x82"), "a\xEF\xBF\xBD");
  EXPECT_EQ(lossyUtf8("\x80x"), "\xEF\xBF\xBDx");
  EXPECT_EQ(lossyUtf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(lossyUtf8("\xE2\x82\xAC"), "\xE2\x82\xAC"); // Valid: the euro.
  EXPECT_EQ(lossyUtf8("\xED\xA0\x80"), // A surrogate: three invalid bytes.
            "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(Unicode, FirstInvalidUtf8AndCutCharacters) {
  EXPECT_EQ(firstInvalidUtf8("ok \xF0\x9F\x99\x82"), std::nullopt);
  EXPECT_EQ(firstInvalidUtf8("ok \xF0\x9F"), 3u);
  EXPECT_TRUE(endsInsideCharacter("smile \xF0\x9F\x99"));
  EXPECT_FALSE(endsInsideCharacter("smile \xF0\x9F\x99\x82"));
  EXPECT_FALSE(endsInsideCharacter("plain"));
  EXPECT_FALSE(endsInsideCharacter("bad \x80"));
}

TEST(Unicode, ByteAlphabetIsGpt2s) {
  // Printable bytes are themselves; space is U+0120 ('Ġ'), newline U+010A.
  EXPECT_EQ(byteToChar()['a'], "a");
  EXPECT_EQ(byteToChar()[' '], "\xC4\xA0");
  EXPECT_EQ(byteToChar()['\n'], "\xC4\x8A");
  for (int b = 0; b < 256; ++b)
    EXPECT_EQ(charToByte(codePoint(byteToChar()[b])), b);
}

TEST(Unicode, NormalFormsAndLowercase) {
  EXPECT_EQ(normalize("e\xCC\x81", NormalForm::NFC), "\xC3\xA9");
  EXPECT_EQ(normalize("\xC3\xA9", NormalForm::NFD), "e\xCC\x81");
  EXPECT_EQ(normalize("\xEF\xAC\x81", NormalForm::NFKC), "fi");
  EXPECT_EQ(lowercase("\xC3\x84" "BC"), "\xC3\xA4" "bc");
}

Tokenizer parse(const std::string &json) {
  auto t = Tokenizer::parse(json, "test.json");
  if (!t)
    ADD_FAILURE() << llvm::toString(t.takeError());
  return std::move(*t);
}

TEST(Tokenizer, SplitBehaviors) {
  // Characters a, b, '-' with no merges: the ids show the pieces only by
  // what survives; Removed drops the dashes.
  std::string model = R"("model": {"type": "BPE", "vocab": {"a": 0, "b": 1,
      "-": 2, "a-": 3, "-b": 4}, "merges": ["a -", "- b"]})";
  auto with = [&](const std::string &behavior) {
    Tokenizer t = parse(R"({"pre_tokenizer": {"type": "Split", "pattern":
        {"String": "-"}, "behavior": ")" + behavior + R"("}, )" + model + "}");
    return llvm::cantFail(t.encode("a-b"));
  };
  EXPECT_EQ(with("Removed"), (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(with("Isolated"), (std::vector<int32_t>{0, 2, 1}));
  EXPECT_EQ(with("MergedWithPrevious"), (std::vector<int32_t>{3, 1}));
  EXPECT_EQ(with("MergedWithNext"), (std::vector<int32_t>{0, 4}));
}

TEST(Tokenizer, AddedTokensStripAndByteFallback) {
  // <x> absorbs the spaces on its left (lstrip); "z" is not in the
  // vocabulary and falls back to its byte token, which decodes back.
  Tokenizer t = parse(R"({"added_tokens": [{"id": 9, "content": "<x>",
      "lstrip": true, "special": true}],
      "decoder": {"type": "Sequence", "decoders": [{"type": "ByteFallback"},
      {"type": "Fuse"}]},
      "model": {"type": "BPE", "byte_fallback": true, "vocab": {"a": 0,
      "<0x7A>": 1, " ": 2}, "merges": []}})");
  EXPECT_EQ(llvm::cantFail(t.encode("a  <x>z")),
            (std::vector<int32_t>{0, 9, 1}));
  EXPECT_EQ(t.decode({0, 9, 1}, /*skipSpecialTokens=*/true), "az");
  EXPECT_EQ(t.vocabSize(), 10);
}

TEST(Tokenizer, InvalidUtf8IsAnError) {
  Tokenizer t = parse(R"({"model": {"type": "BPE", "vocab": {"a": 0},
      "merges": []}})");
  auto ids = t.encode("a\xFF");
  ASSERT_FALSE(bool(ids));
  EXPECT_EQ(llvm::toString(ids.takeError()),
            "text is not valid UTF-8 (byte 1)");
}
} // namespace
