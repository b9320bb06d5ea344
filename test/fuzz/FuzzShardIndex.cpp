//===- FuzzShardIndex.cpp - model.safetensors.index.json ------------------===//
//
// libFuzzer harness: the input is a sharded checkpoint's index. Every
// failure must be an error message; every file name it accepts stays in
// the index's directory.
//
//===----------------------------------------------------------------------===//
#include "runtime/weights/Safetensors.h"

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef text(reinterpret_cast<const char *>(data), size);
  auto mapping = tpc::weights::parseShardIndex(text, "index.json");
  if (!mapping) {
    llvm::consumeError(mapping.takeError());
    return 0;
  }
  for (const auto &[name, file] : *mapping)
    if (file.empty() || file.find('/') != std::string::npos || file == "..")
      __builtin_trap();
  return 0;
}
