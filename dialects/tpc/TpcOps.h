//===- TpcOps.h - tpc operations --------------------------------*- C++ -*-===//
#ifndef TPC_DIALECTS_TPC_TPCOPS_H
#define TPC_DIALECTS_TPC_TPCOPS_H

#include "dialects/tpc/TpcAttrs.h"
#include "dialects/tpc/TpcDialect.h"

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace mlir::tpc {
/// The side-effect resource of KV caches (see tpc.kv_cache).
struct KvCacheResource
    : public SideEffects::Resource::Base<KvCacheResource> {
  StringRef getName() final { return "tpc.kv_cache"; }
};
/// The side-effect resource of weight gradients (see tpc.accumulate_grad).
struct GradientResource
    : public SideEffects::Resource::Base<GradientResource> {
  StringRef getName() final { return "tpc.gradients"; }
};
} // namespace mlir::tpc

#include "dialects/tpc/TpcOpInterfaces.h.inc"

#define GET_OP_CLASSES
#include "dialects/tpc/TpcOps.h.inc"

namespace mlir::tpc {
/// The programs of a model: the forward pass over whole sequences (what the
/// importer builds), and the prefill and decode programs of text generation
/// that tpc-derive-generation derives from it.
inline constexpr llvm::StringLiteral kForwardFuncName = "forward";
inline constexpr llvm::StringLiteral kPrefillFuncName = "prefill";
inline constexpr llvm::StringLiteral kDecodeFuncName = "decode";
/// The training step tpc-derive-training derives: the forward pass, the
/// loss and every weight's gradient.
inline constexpr llvm::StringLiteral kTrainStepFuncName = "train_step";

/// Checks that `sharding` can lay out a value of type `type` on `mesh`: one
/// dimension entry per tensor dimension, only axes the mesh has, and split
/// dimensions made of whole units and sections. Shared by the verifier of
/// the `tpc.sharding` attribute and the sharding passes.
LogicalResult verifySharding(ShardingAttr sharding, RankedTensorType type,
                             MeshOp mesh,
                             function_ref<InFlightDiagnostic()> emitError,
                             bool checkGranularity = true);

/// The mesh's axis names, comma separated, for diagnostics.
std::string describeAxes(MeshOp mesh);

/// The result types of `op` (a tpc model op) that the shape rules give for
/// its operands' current types, or failure with the rule's diagnostic.
/// Passes that change an operand type (a shorter sequence) re-infer the
/// program's types with it.
FailureOr<SmallVector<Type>> inferResultTypes(Operation *op);
} // namespace mlir::tpc

#endif // TPC_DIALECTS_TPC_TPCOPS_H
