//===- WeightCheck.h - a graph's weights against a checkpoint ---*- C++ -*-===//
#ifndef TPC_COMPILER_WEIGHTCHECK_H
#define TPC_COMPILER_WEIGHTCHECK_H

#include "runtime/weights/Safetensors.h"

#include "mlir/IR/BuiltinOps.h"

#include <string>
#include <vector>

namespace mlir::tpc {

/// Checks that `store` holds every tensor a `tpc.weight` in `module` names,
/// with the shape the graph expects and a float dtype (F32, BF16, F16).
/// Tensors the graph does not use are ignored. Returns one line per
/// mismatch ("FILE: tensor 'NAME': expected ..., found ..."), empty when
/// the checkpoint fits.
std::vector<std::string> checkWeights(ModuleOp module,
                                      const ::tpc::weights::WeightStore &store);

/// The prefix of GPT-2 weight names in `store`: "" when it was saved from
/// GPT2Model (`wte.weight`), else "transformer." (GPT2LMHeadModel).
std::string detectGpt2Prefix(const ::tpc::weights::WeightStore &store);

} // namespace mlir::tpc

#endif // TPC_COMPILER_WEIGHTCHECK_H
