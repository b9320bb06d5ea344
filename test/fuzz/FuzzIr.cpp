//===- FuzzIr.cpp - tpc IR through parse, verify and the whole pipeline ---===//
//
// libFuzzer harness: the input is a .mlir file. It is parsed and verified;
// a valid module goes through generation's derivation (when it has
// @forward), the tensor-parallel pipeline at tp = 2 and the lowering to
// EmitC. Every failure must be a diagnostic; a crash, an assertion or a
// sanitizer report is a bug.
//
//===----------------------------------------------------------------------===//
#include "dialects/tpc/TpcDialect.h"
#include "dialects/tpc/TpcOps.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include <cstdint>
#include <string>

using namespace mlir;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static DialectRegistry *registry = [] {
    auto *r = new DialectRegistry();
    r->insert<tpc::TpcDialect, func::FuncDialect, arith::ArithDialect,
              tensor::TensorDialect, emitc::EmitCDialect>();
    return r;
  }();
  MLIRContext context(*registry, MLIRContext::Threading::DISABLED);
  context.allowUnregisteredDialects(false);
  ScopedDiagnosticHandler quiet(&context,
                                [](Diagnostic &) { return success(); });
  std::string text(reinterpret_cast<const char *>(data), size);
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(text, &context);
  if (!module || failed(verify(*module)))
    return 0;
  PassManager pm(&context);
  if (module->lookupSymbol<func::FuncOp>(tpc::kForwardFuncName))
    pm.addPass(tpc::createDeriveGeneration());
  tpc::TpPipelineOptions options;
  options.tp = 2;
  tpc::buildTpPipeline(pm, options);
  pm.addPass(tpc::createLowerToEmitC());
  (void)pm.run(*module);
  return 0;
}
