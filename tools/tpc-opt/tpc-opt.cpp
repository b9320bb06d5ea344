//===- tpc-opt.cpp - mlir-opt for the tpc dialect -------------------------===//
//
// Parses, verifies, transforms and prints IR in the tpc dialect and the
// upstream dialects tpc programs use. Every tpc pass and pipeline is
// registered here as it arrives.
//
//===----------------------------------------------------------------------===//
#include "dialects/tpc/TpcDialect.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/EmitC/IR/EmitC.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

int main(int argc, char **argv) {
  mlir::registerTransformsPasses(); // canonicalize, cse, symbol-dce, ...
  mlir::tpc::registerTpcPassesAndPipelines();

  mlir::DialectRegistry registry;
  registry.insert<mlir::tpc::TpcDialect, mlir::func::FuncDialect,
                  mlir::arith::ArithDialect, mlir::tensor::TensorDialect,
                  mlir::emitc::EmitCDialect>();
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "tpc optimizer driver: the tpc dialect and its passes\n",
      registry));
}
