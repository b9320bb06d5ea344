//===- FuzzTrainingData.cpp - a training executable's --data reader --------===//
//
// libFuzzer harness: the input is a --data file, read as a flat binary of
// uint16 and of uint32 ids and as a safetensors file. Every ill-formed
// file must be a std::runtime_error; accepted ids are below the vocabulary.
//
//===----------------------------------------------------------------------===//
#include "runtime/program/TrainingData.h"

#include <cstdint>
#include <stdexcept>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char *>(data), size);
  for (const char *path : {"data.bin", "data.safetensors"})
    for (const char *type : {"uint16", "uint32"}) {
      try {
        for (int32_t id :
             tpc::program::parseTokenData(bytes, path, type, "", 1000, 2))
          if (id < 0 || id >= 1000)
            __builtin_trap();
      } catch (const std::runtime_error &) {
      }
    }
  return 0;
}
