//===- FuzzSafetensors.cpp - safetensors headers and data -----------------===//
//
// libFuzzer harness: the input is a whole .safetensors file. A file that
// validates has every tensor's bytes read and sliced for rank 1 of 3 along
// its first dimension, as the runtime reads a shard. Every failure must be
// an error message.
//
//===----------------------------------------------------------------------===//
#include "runtime/weights/Safetensors.h"
#include "runtime/weights/Slice.h"

#include <cstdint>

using namespace tpc::weights;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  auto buffer = llvm::MemoryBuffer::getMemBufferCopy(
      llvm::StringRef(reinterpret_cast<const char *>(data), size));
  auto file = SafetensorsFile::fromBuffer(std::move(buffer), "x.safetensors");
  if (!file) {
    llvm::consumeError(file.takeError());
    return 0;
  }
  for (const TensorInfo &t : file->tensors()) {
    volatile uint8_t sink = 0;
    for (uint8_t b : file->bytes(t))
      sink ^= b;
    if (t.shape.empty() || t.numElements() > (1 << 16) ||
        (t.dtype != DType::F32 && t.dtype != DType::F16 &&
         t.dtype != DType::BF16))
      continue;
    ShardSpec spec;
    spec.globalShape = t.shape;
    spec.rank = 1;
    for (size_t d = 0; d < t.shape.size(); ++d)
      spec.splits.push_back(d == 0 && t.shape[0] >= 3
                                ? std::optional(tpc::sharding::DimSplit{
                                      t.shape[0], 1, 1, 1, 3})
                                : std::nullopt);
    try {
      (void)sliceTensor(*file, t, spec);
    } catch (const std::exception &) {
    }
  }
  return 0;
}
