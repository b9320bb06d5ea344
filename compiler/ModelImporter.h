//===- ModelImporter.h - model description to tpc IR ------------*- C++ -*-===//
//
// Builds the whole forward pass of a model (embedding, blocks, final norm,
// LM head) as one func (@forward, kForwardFuncName) in the tpc dialect, with global shapes: the input is
// token ids [batch, seq] with both dimensions dynamic, the result the
// logits [batch, seq, vocab]. Weights are tpc.weight ops named and shaped
// exactly as in the family's Hugging Face checkpoints.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_COMPILER_MODELIMPORTER_H
#define TPC_COMPILER_MODELIMPORTER_H

#include "compiler/ModelConfig.h"
#include "dialects/tpc/TpcOps.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include <optional>
#include <string>

namespace mlir::tpc {

struct ImportOptions {
  /// Build this many blocks instead of the config's count.
  std::optional<int64_t> numLayers;
  /// Element type of weights and activations (f32, bf16 or f16); f32 when
  /// null.
  FloatType elementType;
  /// Prefix of GPT-2 weight names: "transformer." as GPT2LMHeadModel saves
  /// them, "" as GPT2Model saves them.
  std::string gpt2Prefix = "transformer.";
};

/// Builds `config`'s forward graph in a new module.
OwningOpRef<ModuleOp> importModel(const ModelConfig &config,
                                  const ImportOptions &options,
                                  MLIRContext &context);

} // namespace mlir::tpc

#endif // TPC_COMPILER_MODELIMPORTER_H
