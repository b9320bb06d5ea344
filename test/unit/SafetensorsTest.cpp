//===- SafetensorsTest.cpp - the safetensors reader -----------------------===//
#include "runtime/weights/Safetensors.h"

#include "llvm/Support/Endian.h"

#include "gtest/gtest.h"

using namespace tpc::weights;

namespace {
/// A file: 8-byte little-endian length, header text, data bytes.
std::string makeFile(const std::string &header, const std::string &data) {
  std::string out(8, '\0');
  llvm::support::endian::write64le(out.data(), header.size());
  return out + header + data;
}

llvm::Expected<SafetensorsFile> parse(const std::string &contents) {
  return SafetensorsFile::fromBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(contents), "mem.safetensors");
}

std::string errorOf(const std::string &contents) {
  auto file = parse(contents);
  if (file)
    return "parsed";
  return llvm::toString(file.takeError());
}

const char *kTwoTensors =
    R"({"__metadata__": {"format": "pt"},
        "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
        "a": {"dtype": "BF16", "shape": [1, 2], "data_offsets": [0, 4]},
        "empty": {"dtype": "F16", "shape": [0, 5], "data_offsets": [12, 12]}})";

TEST(Safetensors, ReadsTensorsInDataOrder) {
  std::string data = "ABCDefghijkl";
  auto file = parse(makeFile(kTwoTensors, data));
  ASSERT_TRUE(bool(file)) << llvm::toString(file.takeError());
  ASSERT_EQ(file->tensors().size(), 3u);
  EXPECT_EQ(file->tensors()[0].name, "a");
  EXPECT_EQ(file->tensors()[1].name, "b");
  const TensorInfo *b = file->find("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->dtype, DType::F32);
  EXPECT_EQ(b->shape, std::vector<int64_t>({2}));
  EXPECT_EQ(b->numElements(), 2u);
  llvm::ArrayRef<uint8_t> bytes = file->bytes(*b);
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()), "efghijkl");
  const TensorInfo *empty = file->find("empty");
  ASSERT_NE(empty, nullptr);
  EXPECT_EQ(empty->numElements(), 0u);
  EXPECT_EQ(file->find("missing"), nullptr);
}

TEST(Safetensors, DTypeTable) {
  EXPECT_EQ(parseDType("BF16"), DType::BF16);
  EXPECT_EQ(dtypeSize(DType::BF16), 2u);
  EXPECT_EQ(dtypeSize(DType::F64), 8u);
  EXPECT_EQ(dtypeName(DType::F8E4M3), "F8_E4M3");
  EXPECT_FALSE(parseDType("f32"));
}

TEST(Safetensors, RejectsEachBrokenRule) {
  auto header = [](const std::string &entries) { return "{" + entries + "}"; };
  EXPECT_EQ(errorOf("1234"),
            "mem.safetensors: truncated: a safetensors file "
            "starts with an 8-byte header length, got 4 bytes");
  EXPECT_EQ(errorOf(makeFile(header(R"("w": {"dtype": "F32", "shape": [3], )"
                                    R"("data_offsets": [0, 8]})"),
                             std::string(8, 'x'))),
            "mem.safetensors: tensor 'w': data_offsets [0, 8] hold 8 bytes, "
            "expected 12 (F32 [3])");
  EXPECT_EQ(errorOf(makeFile(header(R"("w": {"dtype": "F32", "shape": )"
                                    R"([4294967296, 4294967296], )"
                                    R"("data_offsets": [0, 8]})"),
                             std::string(8, 'x'))),
            "mem.safetensors: tensor 'w': shape [4294967296, 4294967296] is "
            "too large");
  EXPECT_EQ(
      errorOf(makeFile(header(R"("w": {"dtype": "F32", "shape": [1]})"), "")),
      "mem.safetensors: tensor 'w': field 'data_offsets': expected "
      "[begin, end] with 0 <= begin <= end");
  EXPECT_EQ(errorOf(makeFile(header(R"("w": {"shape": [1], )"
                                    R"("data_offsets": [0, 4]})"),
                             "xxxx")),
            "mem.safetensors: tensor 'w': field 'dtype': expected one of "
            "BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, "
            "F32, I64, U64, F64, got no dtype");
  EXPECT_EQ(errorOf(makeFile(header(R"("w": {"dtype": "F32", "shape": [1], )"
                                    R"("data_offsets": [4, 8]})"),
                             std::string(8, 'x'))),
            "mem.safetensors: tensor 'w': data_offsets [4, 8] leave a gap "
            "after the start of the data");
}

TEST(Safetensors, EveryTruncationIsAnError) {
  std::string whole = makeFile(kTwoTensors, "ABCDefghijkl");
  ASSERT_TRUE(bool(parse(whole)));
  for (size_t end = 0; end < whole.size(); ++end) {
    auto file = parse(whole.substr(0, end));
    EXPECT_FALSE(bool(file)) << "a file cut at byte " << end << " parsed";
    if (!file)
      llvm::consumeError(file.takeError());
  }
}

TEST(Safetensors, CorruptedHeaderBytesNeverCrash) {
  // Every header byte replaced by each of a few troublesome characters:
  // each result either parses or is an error, never a crash.
  std::string whole = makeFile(kTwoTensors, "ABCDefghijkl");
  size_t headerEnd = 8 + std::string(kTwoTensors).size();
  unsigned errors = 0;
  for (size_t i = 0; i < headerEnd; ++i)
    for (char c : {'\0', '9', '-', '"', '}', '[', '\xff'}) {
      std::string bent = whole;
      bent[i] = c;
      auto file = parse(bent);
      if (!file) {
        ++errors;
        llvm::consumeError(file.takeError());
      }
    }
  EXPECT_GT(errors, headerEnd);
}
} // namespace
