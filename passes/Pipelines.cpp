//===- Pipelines.cpp - the tensor-parallel pipeline -----------------------===//
#include "passes/Passes.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

using namespace mlir;
using namespace mlir::tpc;

void mlir::tpc::buildTpPipeline(OpPassManager &pm,
                                const TpPipelineOptions &options) {
  AutoShardOptions shard;
  shard.tp = options.tp;
  pm.addPass(createAutoShard(shard));
  if (options.sequenceParallel)
    pm.addPass(createSequenceParallel());
  if (options.partition) {
    pm.addPass(createPartition());
    // Training steps gather sequence shards again for the backward pass
    // rather than keep the gathered copies.
    pm.addPass(createRegather());
    // Data-parallel gradient buckets, reduced during the backward pass.
    BucketGradientsOptions buckets;
    buckets.bucketMib = options.bucketMib;
    pm.addPass(createBucketGradients(buckets));
  }
}

void mlir::tpc::registerTpcPassesAndPipelines() {
  registerTpcPasses();
  PassPipelineRegistration<TpPipelineOptions>(
      "tpc-tp-pipeline",
      "Choose a tensor-parallel layout and rewrite into the per-rank program",
      buildTpPipeline);
}
