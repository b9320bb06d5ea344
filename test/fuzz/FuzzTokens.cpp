//===- FuzzTokens.cpp - the executables' --tokens parser ------------------===//
//
// libFuzzer harness: the input is the value of --tokens. Every ill-formed
// value must be a UsageError; an accepted one holds only ids below the
// vocabulary.
//
//===----------------------------------------------------------------------===//
#include "runtime/program/Options.h"

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string text(reinterpret_cast<const char *>(data), size);
  try {
    for (const auto &sequence : tpc::program::parseSequences(text, 1000))
      for (int32_t id : sequence)
        if (id < 0 || id >= 1000)
          __builtin_trap();
    (void)tpc::program::parseTokens(text, 1000, 64);
  } catch (const tpc::program::UsageError &) {
  }
  return 0;
}
