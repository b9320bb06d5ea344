//===- TpcDialect.td - the tpc dialect ---------------------*- tablegen -*-===//
#ifndef TPC_DIALECT_TD
#define TPC_DIALECT_TD

include "mlir/IR/OpBase.td"

def Tpc_Dialect : Dialect {
  let name = "tpc";
  let cppNamespace = "::mlir::tpc";
  let summary = "Tensor-level transformer ops, device meshes, shardings and "
                "collectives for tensor parallelism";
  let description = [{
    The `tpc` dialect describes a transformer's forward pass at tensor level
    (embedding, linear layers in both checkpoint weight layouts, norms,
    activations, RoPE, causal attention with grouped KV heads, LM head), the
    device mesh it runs on, how each value is split over that mesh, and the
    collectives a split program needs.

    Activations are `[batch, seq, features]`; batch and sequence may be
    dynamic. Weights are `tpc.weight` ops carrying the checkpoint tensor name
    and keep the checkpoint's own layout.

    A function imported from a model description carries
    `tpc.model_type` (the config's `model_type`), `tpc.max_positions`
    (the longest sequence the model takes) and, when the config names
    them, `tpc.eos_token_ids` (the ids that end a generated sequence).

    `tpc.sharded_results` marks a function whose results the partitioner
    leaves split as produced (generation programs return vocabulary-split
    logits, sampled across the ranks) instead of gathering them.

    `tpc.partitioned` marks a function rewritten for one rank by
    `tpc-partition`: its types are local (a dimension whose size differs
    between ranks is dynamic), every value carries its global layout in
    `tpc.sharding`, op attributes (head counts, ...) still describe the
    global op, and every communication is an explicit collective. The
    global shape rules are not checked inside it.

    A value's sharding can be pinned with the discardable attribute
    `tpc.sharding` (one `#tpc.sharding` for a single-result op, or an array
    with one per result). It is verified against the mesh it names and the
    type it annotates.
  }];
  let useDefaultAttributePrinterParser = 1;
  let hasOperationAttrVerify = 1;
  let extraClassDeclaration = [{
    void registerAttributes();

    /// The discardable attribute that pins the sharding of an op's results.
    static constexpr ::llvm::StringLiteral getShardingAttrName() {
      return ::llvm::StringLiteral("tpc.sharding");
    }
    /// The model family a function was imported from (a string).
    static constexpr ::llvm::StringLiteral getModelTypeAttrName() {
      return ::llvm::StringLiteral("tpc.model_type");
    }
    /// Marks a function partitioned for one rank (a unit attribute).
    static constexpr ::llvm::StringLiteral getPartitionedAttrName() {
      return ::llvm::StringLiteral("tpc.partitioned");
    }
    /// True when `op` is inside a function marked partitioned.
    static bool isInPartitionedFunction(::mlir::Operation *op);
    /// Marks a function whose results stay split as their producers lay
    /// them out (vocabulary-split logits for distributed sampling), instead
    /// of being gathered whole (a unit attribute).
    static constexpr ::llvm::StringLiteral getShardedResultsAttrName() {
      return ::llvm::StringLiteral("tpc.sharded_results");
    }
    /// The token ids that end a generated sequence (a dense i64 array of
    /// non-negative ids), from the model's config.
    static constexpr ::llvm::StringLiteral getEosTokenIdsAttrName() {
      return ::llvm::StringLiteral("tpc.eos_token_ids");
    }
    /// The largest rank's shape of a result whose local type has
    /// dimensions that differ between ranks (uneven splits; a dense i64
    /// array, -1 where the size is the run's; an array of them, one per
    /// result, on an op with several), set by tpc-partition for memory
    /// planning.
    static constexpr ::llvm::StringLiteral getMaxLocalShapeAttrName() {
      return ::llvm::StringLiteral("tpc.max_local_shape");
    }
    /// The longest sequence a function's model takes (a positive integer).
    static constexpr ::llvm::StringLiteral getMaxPositionsAttrName() {
      return ::llvm::StringLiteral("tpc.max_positions");
    }
  }];
}

class Tpc_Op<string mnemonic, list<Trait> traits = []>
    : Op<Tpc_Dialect, mnemonic, traits>;

#endif // TPC_DIALECT_TD
