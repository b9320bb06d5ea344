//===- FuzzConfig.cpp - config.json through import and planning -----------===//
//
// libFuzzer harness: the input is a config.json. A config that reads is
// imported (at most two blocks, so that each input stays fast), verified,
// and planned at tp = 4 with sequence parallelism and partitioned. Every
// failure must be an error message.
//
//===----------------------------------------------------------------------===//
#include "compiler/ModelConfig.h"
#include "compiler/ModelImporter.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"

#include <cstdint>

using namespace mlir;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef text(reinterpret_cast<const char *>(data), size);
  llvm::Expected<tpc::ModelConfig> config =
      tpc::parseModelConfig(text, "config.json");
  if (!config) {
    llvm::consumeError(config.takeError());
    return 0;
  }
  MLIRContext context(MLIRContext::Threading::DISABLED);
  ScopedDiagnosticHandler quiet(&context,
                                [](Diagnostic &) { return success(); });
  tpc::ImportOptions options;
  options.numLayers = std::min<int64_t>(config->numLayers, 2);
  OwningOpRef<ModuleOp> module = tpc::importModel(*config, options, context);
  if (failed(verify(*module)))
    __builtin_trap(); // A config that reads must import to valid IR.
  PassManager pm(&context);
  tpc::TpPipelineOptions pipeline;
  pipeline.tp = 4;
  pipeline.sequenceParallel = true;
  tpc::buildTpPipeline(pm, pipeline);
  (void)pm.run(*module);
  return 0;
}
