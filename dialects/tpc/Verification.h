//===- Verification.h - helpers shared by the op verifiers ------*- C++ -*-===//
#ifndef TPC_DIALECTS_TPC_VERIFICATION_H
#define TPC_DIALECTS_TPC_VERIFICATION_H

#include "dialects/tpc/ShapeRules.h"

#include "mlir/IR/Operation.h"

namespace mlir::tpc::detail {

ArrayRef<int64_t> shapeOf(Value v);
/// Reports a failed shape rule, or a result type that disagrees with it
/// (nothing in a partitioned function: its types are local).
LogicalResult verifyResultShape(Operation *op,
                                llvm::Expected<shape_rules::Shape> inferred);
/// Float operands (not token ids) share the result's element type.
LogicalResult verifyElementTypes(Operation *op);
LogicalResult verifyPositive(Operation *op, StringRef name, double value);

} // namespace mlir::tpc::detail

#endif // TPC_DIALECTS_TPC_VERIFICATION_H
