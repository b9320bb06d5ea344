//===- Passes.h - tpc passes and pipelines ----------------------*- C++ -*-===//
#ifndef TPC_PASSES_PASSES_H
#define TPC_PASSES_PASSES_H

#include "dialects/tpc/TpcDialect.h"
#include "dialects/tpc/TpcAttrs.h"

#include "mlir/Dialect/EmitC/IR/EmitC.h"

#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassOptions.h"

namespace mlir::tpc {

#define GEN_PASS_DECL
#include "passes/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/Passes.h.inc"

/// Options of the tensor-parallel pipeline (`tpc-tp-pipeline`).
struct TpPipelineOptions : public PassPipelineOptions<TpPipelineOptions> {
  Option<int64_t> tp{*this, "tp", llvm::cl::desc("Tensor-parallel degree"),
                     llvm::cl::init(1)};
  Option<bool> sequenceParallel{
      *this, "sequence-parallel",
      llvm::cl::desc("Split token-wise ops along the sequence"),
      llvm::cl::init(false)};
  Option<bool> partition{
      *this, "partition",
      llvm::cl::desc("Also rewrite into the per-rank program"),
      llvm::cl::init(true)};
  Option<double> bucketMib{
      *this, "bucket-mib",
      llvm::cl::desc("tpc-bucket-gradients' bucket size (MiB per rank)"),
      llvm::cl::init(25.0)};
};

/// auto-shard, then (if `options.partition`) partition, regather and
/// bucket-gradients.
void buildTpPipeline(OpPassManager &pm, const TpPipelineOptions &options);

/// `sharding` (null: whole) as the C++ literal of the runtime's
/// tpc::program::Layout that generated code passes to the program layer.
std::string runtimeLayoutLiteral(ShardingAttr sharding);

/// Registers every tpc pass and pipeline with the global registry.
void registerTpcPassesAndPipelines();

} // namespace mlir::tpc

#endif // TPC_PASSES_PASSES_H
