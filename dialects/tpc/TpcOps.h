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

#define GET_OP_CLASSES
#include "dialects/tpc/TpcOps.h.inc"

namespace mlir::tpc {
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
} // namespace mlir::tpc

#endif // TPC_DIALECTS_TPC_TPCOPS_H
