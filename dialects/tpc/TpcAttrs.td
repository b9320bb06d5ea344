//===- TpcAttrs.td - tpc attributes ------------------------*- tablegen -*-===//
#ifndef TPC_ATTRS_TD
#define TPC_ATTRS_TD

include "dialects/tpc/TpcDialect.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

//===----------------------------------------------------------------------===//
// Weight layout
//===----------------------------------------------------------------------===//

def Tpc_WeightLayout : I32EnumAttr<"WeightLayout",
    "storage layout of a linear layer's weight", [
      I32EnumAttrCase<"InOut", 0, "in_out">,
      I32EnumAttrCase<"OutIn", 1, "out_in">
    ]> {
  let cppNamespace = "::mlir::tpc";
  let genSpecializedAttr = 0;
}

def Tpc_WeightLayoutAttr : EnumAttr<Tpc_Dialect, Tpc_WeightLayout, "layout"> {
  let summary = "`in_out` ([in, out], GPT-2 Conv1D) or `out_in` ([out, in], "
                "torch.nn.Linear)";
}

//===----------------------------------------------------------------------===//
// Activation fused into a linear
//===----------------------------------------------------------------------===//

def Tpc_Activation : I32EnumAttr<"Activation",
    "elementwise activation applied to a linear layer's output", [
      I32EnumAttrCase<"Gelu", 0, "gelu">,
      I32EnumAttrCase<"Silu", 1, "silu">
    ]> {
  let cppNamespace = "::mlir::tpc";
  let genSpecializedAttr = 0;
}

def Tpc_ActivationAttr : EnumAttr<Tpc_Dialect, Tpc_Activation, "activation"> {
  let summary = "`gelu` (tanh form) or `silu`";
}

//===----------------------------------------------------------------------===//
// Shardings
//===----------------------------------------------------------------------===//

class Tpc_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<Tpc_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

def Tpc_DimShardingAttr : Tpc_Attr<"DimSharding", "dim"> {
  let summary = "How one tensor dimension is split over mesh axes";
  let description = [{
    The mesh axes that split one dimension (major to minor; none means
    replicated), and the granularity of the split:

    - `unit`: the dimension is made of whole units of this size (a head's
      `head_dim`); a split boundary always falls between units, so no split
      can cut inside a head.
    - `sections`: the dimension is a concatenation of this many equal
      sections (GPT-2's fused `[q|k|v]` is 3) and each section is split on
      its own: every rank holds its share of every section.

    - `groups`: each unit serves this many query heads (grouped KV heads).
      The query heads are dealt out and a rank holds every KV unit its
      query heads use, so ranks may share a unit (GQA with fewer KV heads
      than ranks).

    Units are dealt to ranks as evenly as possible, the first ranks taking
    one more when the count does not divide (32 heads on 3 ranks: 11/11/10).
    `runtime/sharding/Split.h` is the one definition of this layout.

    ```mlir
    #tpc.dim<{}>                                  // replicated
    #tpc.dim<{"tp"}>                              // split over axis "tp"
    #tpc.dim<{"tp", unit = 64, sections = 3}>     // fused q|k|v, whole heads
    ```
  }];
  let parameters = (ins
    OptionalArrayRefParameter<"::mlir::StringAttr">:$axes,
    DefaultValuedParameter<"int64_t", "1">:$unit,
    DefaultValuedParameter<"int64_t", "1">:$sections,
    DefaultValuedParameter<"int64_t", "1">:$groups);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// True when at least one mesh axis splits this dimension.
    bool isSplit() const { return !getAxes().empty(); }

    /// Parses the `{...}` body shared by `#tpc.dim` and `#tpc.sharding`.
    static ::mlir::FailureOr<DimShardingAttr> parseBody(::mlir::AsmParser &p);
    /// Prints the `{...}` body shared by `#tpc.dim` and `#tpc.sharding`.
    void printBody(::mlir::AsmPrinter &p) const;
  }];
}

def Tpc_ShardingAttr : Tpc_Attr<"Sharding", "sharding"> {
  let summary = "The layout of a tensor over a device mesh";
  let description = [{
    Names a `tpc.mesh`, gives one `#tpc.dim` body per tensor dimension, and
    the mesh axes over which the value is a partial sum (the result of a
    row-split matmul before its all-reduce). An axis appears at most once in
    a sharding.

    ```mlir
    #tpc.sharding<@mesh, [{}, {}, {"tp", unit = 64} ]>
    #tpc.sharding<@mesh, [{}, {}, {} ], partial = {"tp"}>
    ```
  }];
  let parameters = (ins
    "::mlir::FlatSymbolRefAttr":$mesh,
    OptionalArrayRefParameter<"::mlir::tpc::DimShardingAttr">:$dims,
    OptionalArrayRefParameter<"::mlir::StringAttr">:$partial);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// True when no dimension is split and the value is not partial.
    bool isFullyReplicated() const;
  }];
}

#endif // TPC_ATTRS_TD
