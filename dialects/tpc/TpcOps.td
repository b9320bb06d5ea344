//===- TpcOps.td - tpc operations --------------------------*- tablegen -*-===//
#ifndef TPC_OPS_TD
#define TPC_OPS_TD

include "dialects/tpc/TpcAttrs.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Tpc_FloatTensor : RankedTensorOf<[F32, BF16, F16]>;
def Tpc_IdTensor : RankedTensorOf<[I32, I64]>;
/// One position per sequence of the batch, [batch].
def Tpc_OffsetsTensor : 1DTensorOf<[I32, I64]>;

/// The KV caches, as one resource: a cache update writes it, a cache read
/// reads it, so no transformation reorders or drops either.
def Tpc_KvCacheResource : Resource<"::mlir::tpc::KvCacheResource">;

//===----------------------------------------------------------------------===//
// Interfaces
//===----------------------------------------------------------------------===//

def Tpc_StateOpInterface : OpInterface<"StateOpInterface"> {
  let cppNamespace = "::mlir::tpc";
  let description = [{
    Named program state that lives on every rank across calls: a model
    weight or a KV cache. The planner lays state out like a parameter: its
    layout is chosen once per name for every function of the module, and
    its per-rank bytes count as memory held.
  }];
  let methods = [
    InterfaceMethod<"The name that identifies the state (a checkpoint "
                    "tensor, a cache buffer).", "::llvm::StringRef",
                    "getStateName", (ins), [{ return $_op.getName(); }]>,
    InterfaceMethod<"Records the global type's shape before the "
                    "partitioner makes the result type local.", "void",
                    "recordGlobalShape",
                    (ins "::llvm::ArrayRef<int64_t>":$shape)>,
  ];
  let extraClassDeclaration = [{
    /// The state's value (every state op has one result).
    operator ::mlir::Value() { return getOperation()->getResult(0); }
    ::mlir::RankedTensorType getType() {
      return ::llvm::cast<::mlir::RankedTensorType>(
          getOperation()->getResult(0).getType());
    }
  }];
}


def Tpc_DifferentiableOpInterface : OpInterface<"DifferentiableOpInterface"> {
  let cppNamespace = "::mlir::tpc";
  let description = [{
    An op's derivative rule (reverse mode): given the gradients of its
    results, builds the ops that compute the gradients of its operands.
    tpc-derive-training calls it for every op of the forward graph, in
    reverse order; the rules live in dialects/tpc/Derivatives.cpp, next to
    the ops' other rules.
  }];
  let methods = [
    InterfaceMethod<[{
        Builds the operand gradients at `builder`'s insertion point.
        `resultGrads[i]` is the gradient of result `i`, or null when
        nothing depends on it. `operandGrads` receives one value per
        operand, null where the operand has no gradient (token ids,
        offsets). Fails with a diagnostic for ops that have none.
      }], "::mlir::LogicalResult", "buildGradients",
      (ins "::mlir::OpBuilder &":$builder,
           "::mlir::ArrayRef<::mlir::Value>":$resultGrads,
           "::llvm::SmallVectorImpl<::mlir::Value> &":$operandGrads)>,
  ];
}

//===----------------------------------------------------------------------===//
// Mesh
//===----------------------------------------------------------------------===//

def Tpc_MeshOp : Tpc_Op<"mesh", [Symbol]> {
  let summary = "A named mesh of devices with named axes";
  let description = [{
    Declares the devices a program runs on as a grid with named axes.
    Shardings and collectives refer to it by symbol and to its axes by name.

    ```mlir
    tpc.mesh @mesh ["tp" = 4]
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name,
                       StrArrayAttr:$axes,
                       DenseI64ArrayAttr:$shape);
  let hasCustomAssemblyFormat = 1;
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The size of mesh axis `axis`, or nullopt when the mesh has no such
    /// axis.
    std::optional<int64_t> getAxisSize(::llvm::StringRef axis);
  }];
}

//===----------------------------------------------------------------------===//
// Model ops
//===----------------------------------------------------------------------===//

def Tpc_WeightOp : Tpc_Op<"weight",
    [Pure, DeclareOpInterfaceMethods<Tpc_StateOpInterface>]> {
  let summary = "A model parameter, named as in the checkpoint";
  let description = [{
    A parameter tensor with its checkpoint name and its checkpoint layout, so
    that every plan decision maps back to a tensor in the weights file.
    Two uses of one name are one parameter (a tied LM head). In a
    partitioned function the type is this rank's shard and `global_shape`
    the checkpoint tensor's shape.

    ```mlir
    %w = tpc.weight "transformer.h.0.attn.c_attn.weight" : tensor<768x2304xf32>
    ```
  }];
  let arguments = (ins StrAttr:$name,
                       OptionalAttr<DenseI64ArrayAttr>:$global_shape);
  let results = (outs Tpc_FloatTensor:$result);
  let assemblyFormat = "$name attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Tpc_PositionsOp : Tpc_Op<"positions",
    [Pure, AllTypesMatch<["ids", "result"]>]> {
  let summary = "Position index of every token";
  let description = [{
    `result[b, s] = s`, or `offsets[b] + s` with `offsets`: the position of
    each token along the last (sequence) dimension, for learned position
    embeddings. With a KV cache, `offsets[b]` is the number of tokens
    sequence `b` already holds.

    ```mlir
    %p = tpc.positions %ids : tensor<?x?xi32>
    %q = tpc.positions %ids offsets %start : tensor<?x?xi32>, tensor<?xi32>
    ```
  }];
  let arguments = (ins Tpc_IdTensor:$ids,
                       Optional<Tpc_OffsetsTensor>:$offsets);
  let results = (outs Tpc_IdTensor:$result);
  let assemblyFormat = [{
    $ids (`offsets` $offsets^)? attr-dict `:` type($result)
    (`,` type($offsets)^)?
  }];
  let hasVerifier = 1;
}

def Tpc_EmbeddingOp : Tpc_Op<"embedding", [Pure, DeclareOpInterfaceMethods<Tpc_DifferentiableOpInterface>]> {
  let summary = "Table lookup: rows of a [vocab, hidden] table";
  let description = [{
    `result[..., :] = table[ids[...], :]`. Ids outside the table are an
    error at run time.
  }];
  let arguments = (ins Tpc_FloatTensor:$table, Tpc_IdTensor:$ids);
  let results = (outs Tpc_FloatTensor:$result);
  let assemblyFormat =
      "$table `,` $ids attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Tpc_LinearOp : Tpc_Op<"linear", [Pure, DeclareOpInterfaceMethods<Tpc_DifferentiableOpInterface>]> {
  let summary = "y = x W (+ b), with W in either checkpoint layout";
  let description = [{
    Contracts the last dimension of `input` with the weight's input
    dimension. `layout` says how the weight is stored: `in_out` is
    `[in, out]` (GPT-2's Conv1D), `out_in` is `[out, in]`
    (torch.nn.Linear, Llama). The optional bias is `[out]`.

    When the result is a partial sum (the input dimension is split over a
    mesh axis), the bias is added on the first rank of that axis only, so
    that the sum over ranks adds it once.

    ```mlir
    %y = tpc.linear %x, %w, %b layout = in_out
        : (tensor<?x?x768xf32>, tensor<768x3072xf32>, tensor<3072xf32>)
        -> tensor<?x?x3072xf32>
    ```

    `activation`, set by `tpc-fuse` on a partitioned program only, applies
    GeLU or SiLU to the result (after the bias) in the same kernel; the
    result must then be whole or split, never a partial sum.
  }];
  let arguments = (ins Tpc_FloatTensor:$input,
                       Tpc_FloatTensor:$weight,
                       Optional<Tpc_FloatTensor>:$bias,
                       Tpc_WeightLayoutAttr:$layout,
                       OptionalAttr<Tpc_ActivationAttr>:$activation);
  let results = (outs Tpc_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? `layout` `=` `` $layout
    (`activation` `=` `` $activation^)? attr-dict
    `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Tpc_SplitOp : Tpc_Op<"split", [Pure, DeclareOpInterfaceMethods<Tpc_DifferentiableOpInterface>]> {
  let summary = "Split the last dimension into consecutive sections";
  let description = [{
    Cuts the last dimension into consecutive pieces whose sizes are the
    results' last dimensions, e.g. a fused `[q|k|v]` projection into q, k
    and v. The sharding passes split a fused projection section by section
    through this op, never as one contiguous block.

    ```mlir
    %q, %k, %v = tpc.split %qkv : tensor<?x?x2304xf32>
        -> tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>
    ```
  }];
  let arguments = (ins Tpc_FloatTensor:$input);
  let results = (outs Variadic<Tpc_FloatTensor>:$results);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($results)";
  let hasVerifier = 1;
}

class Tpc_ElementwiseBinaryOp<string mnemonic, string formula>
    : Tpc_Op<mnemonic, [Pure, Commutative, DeclareOpInterfaceMethods<Tpc_DifferentiableOpInterface>,
                        AllTypesMatch<["lhs", "rhs", "result"]>]> {
  let summary = "Elementwise " # formula;
  let arguments = (ins Tpc_FloatTensor:$lhs, Tpc_FloatTensor:$rhs);
  let results = (outs Tpc_FloatTensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($result)";
}

def Tpc_AddOp : Tpc_ElementwiseBinaryOp<"add", "lhs + rhs (residual adds)">;
def Tpc_MulOp : Tpc_ElementwiseBinaryOp<"mul", "lhs * rhs (SwiGLU gating)">;

class Tpc_ActivationOp<string mnemonic, string formula>
    : Tpc_Op<mnemonic, [Pure, AllTypesMatch<["input", "result"]>,
                        DeclareOpInterfaceMethods<Tpc_DifferentiableOpInterface>]> {
  let summary = formula;
  let arguments = (ins Tpc_FloatTensor:$input);
  let results = (outs Tpc_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
}

def Tpc_GeluOp : Tpc_ActivationOp<"gelu",
    "GeLU, tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))">;
def Tpc_SiluOp : Tpc_ActivationOp<"silu", "SiLU: x * sigmoid(x)">;

def Tpc_SiluMulOp : Tpc_Op<"silu_mul",
    [Pure, AllTypesMatch<["gate", "up", "result"]>,
     DeclareOpInterfaceMethods<Tpc_DifferentiableOpInterface>]> {
  let summary = "SwiGLU's gating in one pass: silu(gate) * up";
  let description = [{
    `result = silu(gate) * up`, elementwise: what `tpc-fuse` makes of a
    `tpc.silu` whose only reader is a `tpc.mul` (Llama, Qwen2 and
    Mistral's MLP), one pass over memory instead of two.
  }];
  let arguments = (ins Tpc_FloatTensor:$gate, Tpc_FloatTensor:$up);
  let results = (outs Tpc_FloatTensor:$result);
  let assemblyFormat = "$gate `,` $up attr-dict `:` type($result)";
}

def Tpc_LayerNormOp : Tpc_Op<"layer_norm", [Pure, DeclareOpInterfaceMethods<Tpc_DifferentiableOpInterface>]> {
  let summary = "LayerNorm over the last dimension, with scale and shift";
  let arguments = (ins Tpc_FloatTensor:$input,
                       Tpc_FloatTensor:$scale,
                       Tpc_FloatTensor:$shift,
                       F64Attr:$epsilon);
  let results = (outs Tpc_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $scale `,` $shift `epsilon` `=` $epsilon attr-dict
    `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Tpc_RmsNormOp : Tpc_Op<"rms_norm", [Pure, DeclareOpInterfaceMethods<Tpc_DifferentiableOpInterface>]> {
  let summary = "RMSNorm over the last dimension, with scale";
  let arguments = (ins Tpc_FloatTensor:$input,
                       Tpc_FloatTensor:$scale,
                       F64Attr:$epsilon);
  let results = (outs Tpc_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $scale `epsilon` `=` $epsilon attr-dict
    `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Tpc_AddLayerNormOp : Tpc_Op<"add_layer_norm",
    [Pure, AllTypesMatch<["lhs", "rhs", "sum", "result"]>,
     DeclareOpInterfaceMethods<Tpc_DifferentiableOpInterface>]> {
  let summary = "Residual add and LayerNorm of the sum, in one pass";
  let description = [{
    `sum = lhs + rhs` and `result = layer_norm(sum)`: the residual stream
    and the next block's normalized input, read and written once. Made by
    `tpc-fuse` from a `tpc.add` whose sum feeds a `tpc.layer_norm`, on a
    partitioned program.

    ```mlir
    %s, %n = tpc.add_layer_norm %x, %y, %g, %b epsilon = 1.0e-5
        : (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<768xf32>,
           tensor<768xf32>) -> (tensor<?x?x768xf32>, tensor<?x?x768xf32>)
    ```
  }];
  let arguments = (ins Tpc_FloatTensor:$lhs,
                       Tpc_FloatTensor:$rhs,
                       Tpc_FloatTensor:$scale,
                       Tpc_FloatTensor:$shift,
                       F64Attr:$epsilon);
  let results = (outs Tpc_FloatTensor:$sum, Tpc_FloatTensor:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs `,` $scale `,` $shift `epsilon` `=` $epsilon attr-dict
    `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Tpc_AddRmsNormOp : Tpc_Op<"add_rms_norm",
    [Pure, AllTypesMatch<["lhs", "rhs", "sum", "result"]>,
     DeclareOpInterfaceMethods<Tpc_DifferentiableOpInterface>]> {
  let summary = "Residual add and RMSNorm of the sum, in one pass";
  let description = [{
    `sum = lhs + rhs` and `result = rms_norm(sum)`, as `tpc.add_layer_norm`
    for RMSNorm (Llama, Qwen2, Mistral).
  }];
  let arguments = (ins Tpc_FloatTensor:$lhs,
                       Tpc_FloatTensor:$rhs,
                       Tpc_FloatTensor:$scale,
                       F64Attr:$epsilon);
  let results = (outs Tpc_FloatTensor:$sum, Tpc_FloatTensor:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs `,` $scale `epsilon` `=` $epsilon attr-dict
    `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Tpc_RopeOp : Tpc_Op<"rope", [Pure, AllTypesMatch<["input", "result"]>,
                                 DeclareOpInterfaceMethods<Tpc_DifferentiableOpInterface>]> {
  let summary = "Rotary position embedding of every head";
  let description = [{
    The last dimension holds whole heads of `head_dim` features. Each head
    is rotated in the rotate-half convention of Hugging Face Llama: feature
    `i` pairs with `i + head_dim/2`, angle `pos * theta^(-2i/head_dim)`,
    positions counted along the sequence dimension from 0, or from
    `offsets[b]` for sequence `b` (tokens appended to a KV cache).

    ```mlir
    %r = tpc.rope %q offsets %start head_dim = 64 theta = 1.0e4
        : tensor<?x?x768xf32>, tensor<?xi32>
    ```
  }];
  let arguments = (ins Tpc_FloatTensor:$input,
                       Optional<Tpc_OffsetsTensor>:$offsets,
                       I64Attr:$head_dim,
                       F64Attr:$theta);
  let results = (outs Tpc_FloatTensor:$result);
  let assemblyFormat = [{
    $input (`offsets` $offsets^)? `head_dim` `=` $head_dim `theta` `=` $theta
    attr-dict `:` type($result) (`,` type($offsets)^)?
  }];
  let hasVerifier = 1;
}

def Tpc_AttentionOp : Tpc_Op<"attention", [Pure, DeclareOpInterfaceMethods<Tpc_DifferentiableOpInterface>]> {
  let summary = "Causal scaled dot-product attention with grouped KV heads";
  let description = [{
    `q` is `[batch, seq, num_heads * head_dim]`, `k` and `v` are
    `[batch, seq, num_kv_heads * head_dim]`; query head `h` attends with KV
    head `h / (num_heads / num_kv_heads)` (GQA; MQA when `num_kv_heads` is
    1). Scores are scaled by `1/sqrt(head_dim)` and causally masked; with
    `window = W` (Mistral's sliding window) a token also ignores keys more
    than `W - 1` positions back. The result is
    `[batch, seq, num_heads * head_dim]`, heads concatenated.

    With `offsets` the keys and values are a KV cache: `k` and `v` are
    `[batch, cache_seq, num_kv_heads * head_dim]` with key `j` at position
    `j`, and query `i` of sequence `b` is at position `offsets[b] + i`; it
    attends to the keys at positions up to its own (and within the window).
    Keys past a sequence's position are never read, so whatever a cache
    holds there (padding of a shorter prompt) cannot leak into the result.

    ```mlir
    %a = tpc.attention %q, %kc, %vc offsets %start heads = 32 kv_heads = 8
        : (tensor<?x?x4096xbf16>, tensor<?x?x1024xbf16>,
           tensor<?x?x1024xbf16>, tensor<?xi32>) -> tensor<?x?x4096xbf16>
    ```
  }];
  let arguments = (ins Tpc_FloatTensor:$q,
                       Tpc_FloatTensor:$k,
                       Tpc_FloatTensor:$v,
                       Optional<Tpc_OffsetsTensor>:$offsets,
                       I64Attr:$num_heads,
                       I64Attr:$num_kv_heads,
                       OptionalAttr<I64Attr>:$window);
  let results = (outs Tpc_FloatTensor:$result);
  let assemblyFormat = [{
    $q `,` $k `,` $v (`offsets` $offsets^)? `heads` `=` $num_heads
    `kv_heads` `=` $num_kv_heads (`window` `=` $window^)? attr-dict
    `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Tpc_LmHeadOp : Tpc_Op<"lm_head", [Pure, DeclareOpInterfaceMethods<Tpc_DifferentiableOpInterface>]> {
  let summary = "Logits over the vocabulary from a [vocab, hidden] weight";
  let description = [{
    `logits = x W^T` with `W` stored `[vocab, hidden]`: the token embedding
    table itself when the head is tied, or a separate `lm_head.weight`.
  }];
  let arguments = (ins Tpc_FloatTensor:$input, Tpc_FloatTensor:$weight);
  let results = (outs Tpc_FloatTensor:$result);
  let assemblyFormat =
      "$input `,` $weight attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Tpc_LastTokenOp : Tpc_Op<"last_token", [Pure]> {
  let summary = "Each sequence's last token: [batch, seq, n] to [batch, n]";
  let description = [{
    `result[b, :] = input[b, lengths[b] - 1, :]`: the features of the last
    real token of every sequence of a right-padded batch, where the next
    token is predicted from. Generation programs take it before the LM
    head, so that only one row per sequence reaches the vocabulary.

    ```mlir
    %h = tpc.last_token %x, %lengths
        : (tensor<?x?x768xf32>, tensor<?xi32>) -> tensor<?x768xf32>
    ```
  }];
  let arguments = (ins Tpc_FloatTensor:$input, Tpc_OffsetsTensor:$lengths);
  let results = (outs Tpc_FloatTensor:$result);
  let assemblyFormat =
      "$input `,` $lengths attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Memory
//===----------------------------------------------------------------------===//

def Tpc_ReleaseOp : Tpc_Op<"release"> {
  let summary = "Ends the life of activations: their memory may be reused";
  let description = [{
    Placed by `tpc-plan-memory` right after the last use of each
    activation of a partitioned program: the runtime gives the buffers
    back, so that the peak memory of a pass is what is live at once, not
    the sum of every intermediate. No op may use a released value after
    this one.

    ```mlir
    %h = tpc.gelu %u : tensor<?x?x3072xf32>
    tpc.release %u : tensor<?x?x3072xf32>
    ```
  }];
  let arguments = (ins Variadic<Tpc_FloatTensor>:$values);
  let assemblyFormat = "$values attr-dict `:` type($values)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// KV cache
//===----------------------------------------------------------------------===//

def Tpc_KvCacheOp : Tpc_Op<"kv_cache",
    [MemoryEffects<[MemRead<Tpc_KvCacheResource>]>,
     DeclareOpInterfaceMethods<Tpc_StateOpInterface>]> {
  let summary = "A named key or value cache buffer of one attention layer";
  let description = [{
    The buffer `[batch, max_seq, features]` that keeps the keys (or
    values) of every position a sequence has seen, for one attention
    layer; state that persists across calls of the program, like a
    weight. The runtime allocates it once per rank, for the batch of the
    first call and the run's maximum sequence length; its features are
    laid out like the keys that fill it (whole KV heads per rank, shared
    KV heads held by each rank that uses them). In a partitioned function
    the type is this rank's shard and `global_features` the global size of
    the last dimension.

    ```mlir
    %kc = tpc.kv_cache "model.layers.0.self_attn.k_cache" : tensor<?x?x1024xbf16>
    ```
  }];
  let arguments = (ins StrAttr:$name,
                       OptionalAttr<I64Attr>:$global_features);
  let results = (outs Tpc_FloatTensor:$result);
  let assemblyFormat = "$name attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Tpc_CacheUpdateOp : Tpc_Op<"cache_update",
    [MemoryEffects<[MemWrite<Tpc_KvCacheResource>]>,
     AllTypesMatch<["cache", "result"]>]> {
  let summary = "Write new keys or values into a KV cache, in place";
  let description = [{
    `result = cache` with `cache[b, offsets[b] + i, :] = input[b, i, :]`
    for every token `i` of the input. `cache` must be a `tpc.kv_cache` used
    by nothing else: the update writes its buffer in place, and the result
    is that buffer, with the new entries. Positions past `max_seq` are an
    error at run time.

    ```mlir
    %kc1 = tpc.cache_update %kc, %k, %start
        : (tensor<?x?x1024xbf16>, tensor<?x?x1024xbf16>, tensor<?xi32>)
        -> tensor<?x?x1024xbf16>
    ```
  }];
  let arguments = (ins Tpc_FloatTensor:$cache,
                       Tpc_FloatTensor:$input,
                       Tpc_OffsetsTensor:$offsets);
  let results = (outs Tpc_FloatTensor:$result);
  let assemblyFormat = [{
    $cache `,` $input `,` $offsets attr-dict
    `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Collectives
//===----------------------------------------------------------------------===//

// Collectives made by the partitioner record `cause` (the op whose layout
// forced them) and `bytes_per_token` (the bytes each rank sends per token of
// the batch, by the ring algorithm's count; for a tensor with no dynamic
// dimension, the bytes per pass).
class Tpc_CollectiveOp<string mnemonic, list<Trait> traits = []>
    : Tpc_Op<mnemonic, !listconcat(traits,
        [Pure, DeclareOpInterfaceMethods<SymbolUserOpInterface>])> {
  let results = (outs Tpc_FloatTensor:$result);
  let extraClassDeclaration = [{
    /// The mesh this collective runs over; null when the symbol does not
    /// name a mesh (the verifier rejects that).
    MeshOp getMeshOp(::mlir::SymbolTableCollection &symbolTable);
  }];
}

def Tpc_AllReduceOp : Tpc_CollectiveOp<"all_reduce",
    [AllTypesMatch<["input", "result"]>]> {
  let summary = "Sum a tensor over the ranks of one mesh axis";
  let description = [{
    Every rank contributes its full-size partial sum and receives the total.

    ```mlir
    %s = tpc.all_reduce %p over @mesh["tp"] : tensor<?x?x768xf32>
    ```
  }];
  let arguments = (ins Tpc_FloatTensor:$input,
                       FlatSymbolRefAttr:$mesh,
                       StrAttr:$axis,
                       OptionalAttr<StrAttr>:$cause,
                       OptionalAttr<I64Attr>:$bytes_per_token);
  let assemblyFormat = [{
    $input `over` $mesh `[` $axis `]` attr-dict `:` type($result)
  }];
}

def Tpc_AllGatherOp : Tpc_CollectiveOp<"all_gather"> {
  let summary = "Concatenate the ranks' shards along one dimension";
  let description = [{
    ```mlir
    %g = tpc.all_gather %x over @mesh["tp"] dim = 1
        : tensor<2x32x768xf32> -> tensor<2x128x768xf32>
    ```
  }];
  let arguments = (ins Tpc_FloatTensor:$input,
                       FlatSymbolRefAttr:$mesh,
                       StrAttr:$axis,
                       I64Attr:$dim,
                       OptionalAttr<StrAttr>:$cause,
                       OptionalAttr<I64Attr>:$bytes_per_token);
  let assemblyFormat = [{
    $input `over` $mesh `[` $axis `]` `dim` `=` $dim attr-dict
    `:` type($input) `->` type($result)
  }];
}

def Tpc_ReduceScatterOp : Tpc_CollectiveOp<"reduce_scatter"> {
  let summary = "Sum over the ranks of one axis, each keeping one shard";
  let description = [{
    ```mlir
    %r = tpc.reduce_scatter %p over @mesh["tp"] dim = 1
        : tensor<2x128x768xf32> -> tensor<2x32x768xf32>
    ```
  }];
  let arguments = (ins Tpc_FloatTensor:$input,
                       FlatSymbolRefAttr:$mesh,
                       StrAttr:$axis,
                       I64Attr:$dim,
                       OptionalAttr<StrAttr>:$cause,
                       OptionalAttr<I64Attr>:$bytes_per_token);
  let assemblyFormat = [{
    $input `over` $mesh `[` $axis `]` `dim` `=` $dim attr-dict
    `:` type($input) `->` type($result)
  }];
}

def Tpc_AllSliceOp : Tpc_CollectiveOp<"all_slice"> {
  let summary = "Keep this rank's slice of a whole tensor (no communication)";
  let description = [{
    Every rank holds the whole tensor and keeps its own part of dimension
    `dim`, laid out as the result's `tpc.sharding` says.

    ```mlir
    %s = tpc.all_slice %x over @mesh["tp"] dim = 2
        : tensor<?x?x768xf32> -> tensor<?x?x192xf32>
    ```
  }];
  let arguments = (ins Tpc_FloatTensor:$input,
                       FlatSymbolRefAttr:$mesh,
                       StrAttr:$axis,
                       I64Attr:$dim,
                       OptionalAttr<StrAttr>:$cause,
                       OptionalAttr<I64Attr>:$bytes_per_token);
  let assemblyFormat = [{
    $input `over` $mesh `[` $axis `]` `dim` `=` $dim attr-dict
    `:` type($input) `->` type($result)
  }];
}

include "dialects/tpc/TpcTrainingOps.td"

#endif // TPC_OPS_TD
