//===- TpcTrainingOps.td - loss and gradient ops ------------*- tablegen -*-===//
//
// The ops a training step adds to the forward graph: the loss and the
// derivatives that tpc-derive-training builds from each forward op's rule
// (DifferentiableOpInterface). Like the forward ops they work on global
// types and carry sharding rules, so the planner lays out the joint program
// and the partitioner derives the backward collectives.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_TRAINING_OPS_TD
#define TPC_TRAINING_OPS_TD

/// The gradient buffers of the weights: tpc.accumulate_grad adds into them.
def Tpc_GradientResource : Resource<"::mlir::tpc::GradientResource">;

//===----------------------------------------------------------------------===//
// Loss
//===----------------------------------------------------------------------===//

def Tpc_CrossEntropyOp : Tpc_Op<"cross_entropy", [Pure]> {
  let summary = "Next-token cross-entropy of every position, vocab-parallel";
  let description = [{
    `loss[b, s] = logsumexp(logits[b, s, :]) - logits[b, s, targets[b, s]]`
    and `lse[b, s]`, the log-sum-exp (the backward pass reuses it).
    Positions whose target is `ignore_index` (padding) have loss 0.
    Losses are f32 whatever the logits' type. With the vocabulary split
    over the ranks the logits are never gathered: each rank reduces its
    shard and the op combines the ranks' maxima, sums of exponentials and
    target logits (Megatron's vocab-parallel cross-entropy). `vocab` is
    the logits' global size, which a rank's shard of them does not show.

    ```mlir
    %loss, %lse = tpc.cross_entropy %logits, %targets vocab = 50257
        ignore_index = -100
        : (tensor<?x?x50257xf32>, tensor<?x?xi32>)
        -> (tensor<?x?xf32>, tensor<?x?xf32>)
    ```
  }];
  let arguments = (ins Tpc_FloatTensor:$logits,
                       Tpc_IdTensor:$targets,
                       I64Attr:$vocab,
                       I64Attr:$ignore_index);
  let results = (outs Tpc_FloatTensor:$loss, Tpc_FloatTensor:$lse);
  let assemblyFormat = [{
    $logits `,` $targets `vocab` `=` $vocab `ignore_index` `=` $ignore_index
    attr-dict
    `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Tpc_CrossEntropyGradOp : Tpc_Op<"cross_entropy_grad", [Pure]> {
  let summary = "Gradient of the cross-entropy with respect to the logits";
  let description = [{
    `result[b, s, v] = dloss[b, s] * (exp(logits[b, s, v] - lse[b, s]) -
    (v == targets[b, s]))`, zero at ignored positions: `dloss` is the
    gradient of the step's loss with respect to each position's loss
    (1 / tokens for a mean). `vocab` as for tpc.cross_entropy.
  }];
  let arguments = (ins Tpc_FloatTensor:$logits,
                       Tpc_IdTensor:$targets,
                       Tpc_FloatTensor:$lse,
                       Tpc_FloatTensor:$dloss,
                       I64Attr:$vocab,
                       I64Attr:$ignore_index);
  let results = (outs Tpc_FloatTensor:$result);
  let assemblyFormat = [{
    $logits `,` $targets `,` $lse `,` $dloss `vocab` `=` $vocab
    `ignore_index` `=` $ignore_index attr-dict
    `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Derivatives
//===----------------------------------------------------------------------===//

def Tpc_LinearWeightGradOp : Tpc_Op<"linear_weight_grad", [Pure]> {
  let summary = "Weight gradient of tpc.linear: x^T dy over every token";
  let description = [{
    `input` is `[..., in]`, `grad` (the result's gradient) `[..., out]`;
    the result is `[in, out]` for `layout = in_out` and `[out, in]` for
    `out_in`, laid out like the weight. The leading dimensions are summed
    over, so splitting the tokens leaves each rank a partial sum.
  }];
  let arguments = (ins Tpc_FloatTensor:$input,
                       Tpc_FloatTensor:$grad,
                       Tpc_WeightLayoutAttr:$layout);
  let results = (outs Tpc_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $grad `layout` `=` `` $layout attr-dict
    `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Tpc_SumRowsOp : Tpc_Op<"sum_rows", [Pure]> {
  let summary = "Sum over every dimension but the last (bias gradients)";
  let arguments = (ins Tpc_FloatTensor:$input);
  let results = (outs Tpc_FloatTensor:$result);
  let assemblyFormat =
      "$input attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Tpc_EmbeddingGradOp : Tpc_Op<"embedding_grad", [Pure]> {
  let summary = "Table gradient of tpc.embedding: rows scatter-added by id";
  let description = [{
    `result[ids[i], :] += grad[i, :]` over every token `i`, the other rows
    zero; the result is the table's shape `[vocab, hidden]`. With the
    vocabulary split each rank keeps the rows it holds; `vocab` is the
    table's global number of rows.
  }];
  let arguments = (ins Tpc_FloatTensor:$grad, Tpc_IdTensor:$ids,
                       I64Attr:$vocab);
  let results = (outs Tpc_FloatTensor:$result);
  let assemblyFormat = [{
    $grad `,` $ids `vocab` `=` $vocab attr-dict
    `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

class Tpc_ActivationGradOp<string mnemonic, string forward>
    : Tpc_Op<mnemonic, [Pure, AllTypesMatch<["input", "grad", "result"]>]> {
  let summary = "Gradient of " # forward # ": grad * " # forward # "'(input)";
  let arguments = (ins Tpc_FloatTensor:$input, Tpc_FloatTensor:$grad);
  let results = (outs Tpc_FloatTensor:$result);
  let assemblyFormat = "$input `,` $grad attr-dict `:` type($result)";
}

def Tpc_GeluGradOp : Tpc_ActivationGradOp<"gelu_grad", "tpc.gelu">;
def Tpc_SiluGradOp : Tpc_ActivationGradOp<"silu_grad", "tpc.silu">;

def Tpc_NormGradOp : Tpc_Op<"norm_grad",
    [Pure, AllTypesMatch<["input", "grad", "result"]>]> {
  let summary = "Input gradient of tpc.layer_norm (centered) or tpc.rms_norm";
  let description = [{
    The gradient with respect to the norm's input, from its input, the
    result's gradient and the scale; `centered` for LayerNorm (mean
    subtracted), without it RMSNorm. Each row needs all of its features.
  }];
  let arguments = (ins Tpc_FloatTensor:$input,
                       Tpc_FloatTensor:$grad,
                       Tpc_FloatTensor:$scale,
                       F64Attr:$epsilon,
                       UnitAttr:$centered);
  let results = (outs Tpc_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $grad `,` $scale `epsilon` `=` $epsilon (`centered` $centered^)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Tpc_NormScaleGradOp : Tpc_Op<"norm_scale_grad", [Pure]> {
  let summary = "Scale gradient of a norm: grad * normalized input, summed";
  let description = [{
    `result[j] = sum over rows of grad[.., j] * xhat[.., j]`, `xhat` the
    input normalized (centered with `centered`, as LayerNorm does).
  }];
  let arguments = (ins Tpc_FloatTensor:$input,
                       Tpc_FloatTensor:$grad,
                       F64Attr:$epsilon,
                       UnitAttr:$centered);
  let results = (outs Tpc_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $grad `epsilon` `=` $epsilon (`centered` $centered^)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Tpc_RopeGradOp : Tpc_Op<"rope_grad",
    [Pure, AllTypesMatch<["grad", "result"]>]> {
  let summary = "Gradient of tpc.rope: the inverse rotation";
  let description = [{
    A rotation's transpose is the rotation by the opposite angle, so the
    input gradient is the result's gradient rotated back.
  }];
  let arguments = (ins Tpc_FloatTensor:$grad,
                       I64Attr:$head_dim,
                       F64Attr:$theta);
  let results = (outs Tpc_FloatTensor:$result);
  let assemblyFormat = [{
    $grad `head_dim` `=` $head_dim `theta` `=` $theta attr-dict
    `:` type($result)
  }];
}

def Tpc_AttentionGradOp : Tpc_Op<"attention_grad", [Pure]> {
  let summary = "Gradients of tpc.attention with respect to q, k and v";
  let description = [{
    From the forward operands and the result's gradient; the
    probabilities are recomputed, not saved (flash-attention's backward).
    A KV head's gradients sum over the query heads that share it (GQA).
  }];
  let arguments = (ins Tpc_FloatTensor:$q,
                       Tpc_FloatTensor:$k,
                       Tpc_FloatTensor:$v,
                       Tpc_FloatTensor:$grad,
                       I64Attr:$num_heads,
                       I64Attr:$num_kv_heads,
                       OptionalAttr<I64Attr>:$window);
  let results = (outs Tpc_FloatTensor:$dq, Tpc_FloatTensor:$dk,
                      Tpc_FloatTensor:$dv);
  let assemblyFormat = [{
    $q `,` $k `,` $v `,` $grad `heads` `=` $num_heads
    `kv_heads` `=` $num_kv_heads (`window` `=` $window^)? attr-dict
    `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Tpc_ConcatOp : Tpc_Op<"concat", [Pure]> {
  let summary = "Join tensors along the last dimension (tpc.split's inverse)";
  let arguments = (ins Variadic<Tpc_FloatTensor>:$inputs);
  let results = (outs Tpc_FloatTensor:$result);
  let assemblyFormat =
      "$inputs attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Tpc_AccumulateGradOp : Tpc_Op<"accumulate_grad",
    [MemoryEffects<[MemWrite<Tpc_GradientResource>]>,
     AllTypesMatch<["weight", "grad"]>]> {
  let summary = "Add a weight's gradient into its gradient buffer";
  let description = [{
    `weight` is a `tpc.weight`; `grad` has its type and, after
    partitioning, its layout (a weight and its gradient are laid out
    alike). The runtime keeps one buffer per weight name, so a weight used
    twice (a tied embedding and LM head) gets the sum of both
    contributions.

    `partial` (set by tpc-partition): each rank's `grad` is a partial sum
    over the tp ranks (a norm's scale gradient over a rank's sequence
    shard). The runtime adds it into the buffer as it is and sums every
    such buffer over the ranks in one all-reduce after the backward pass,
    instead of one all-reduce per gradient (Megatron-LM's bucketing).

    ```mlir
    tpc.accumulate_grad %w, %dw : tensor<768x2304xf32>
    tpc.accumulate_grad %ln, %dln partial : tensor<768xf32>
    ```
  }];
  let arguments = (ins Tpc_FloatTensor:$weight, Tpc_FloatTensor:$grad,
                       UnitAttr:$partial);
  let assemblyFormat =
      "$weight `,` $grad (`partial` $partial^)? attr-dict `:` type($weight)";
  let hasVerifier = 1;
}

def Tpc_AccumulateEmbeddingGradOp : Tpc_Op<"accumulate_embedding_grad",
    [MemoryEffects<[MemWrite<Tpc_GradientResource>]>]> {
  let summary = "Scatter-add an embedding's gradient rows into its gradient buffer";
  let description = [{
    `tpc.accumulate_grad %table, (tpc.embedding_grad %grad, %ids)` in one
    op, made by tpc-fuse after partitioning: `grad[i, :]` is added into
    row `ids[i]` of the table's gradient buffer, for the rows this rank
    holds (the table's layout; `vocab` is its global number of rows). No
    dense `[vocab, hidden]` table is made, zero-filled and added: only the
    rows the tokens name are touched. `partial` as in tpc.accumulate_grad.

    ```mlir
    tpc.accumulate_embedding_grad %wte, %dx, %ids vocab = 50257 : tensor<?x768xf32>, tensor<?x?x768xf32>, tensor<?x?xi32>
    ```
  }];
  let arguments = (ins Tpc_FloatTensor:$weight, Tpc_FloatTensor:$grad,
                       Tpc_IdTensor:$ids, I64Attr:$vocab, UnitAttr:$partial);
  let assemblyFormat = [{
    $weight `,` $grad `,` $ids `vocab` `=` $vocab (`partial` $partial^)?
    attr-dict `:` type($weight) `,` type($grad) `,` type($ids)
  }];
  let hasVerifier = 1;
}

def Tpc_AccumulateLinearWeightGradOp
    : Tpc_Op<"accumulate_linear_weight_grad",
             [MemoryEffects<[MemWrite<Tpc_GradientResource>]>]> {
  let summary = "Add a linear's weight gradient x^T dy into the weight's gradient buffer";
  let description = [{
    `tpc.accumulate_grad %w, (tpc.linear_weight_grad %input, %grad)` in
    one op, made by tpc-fuse after partitioning: the GEMM adds its
    product into the weight's gradient buffer (C += x^T dy) instead of
    writing a fresh `dW` that is then added in another pass. `layout` and
    `partial` as in those two ops.

    ```mlir
    tpc.accumulate_linear_weight_grad %w, %x, %dy layout = in_out : tensor<768x2304xf32>, tensor<?x?x768xf32>, tensor<?x?x2304xf32>
    ```
  }];
  let arguments = (ins Tpc_FloatTensor:$weight, Tpc_FloatTensor:$input,
                       Tpc_FloatTensor:$grad, Tpc_WeightLayoutAttr:$layout,
                       UnitAttr:$partial);
  let assemblyFormat = [{
    $weight `,` $input `,` $grad `layout` `=` `` $layout
    (`partial` $partial^)? attr-dict `:` type($weight) `,` type($input) `,`
    type($grad)
  }];
  let hasVerifier = 1;
}

def Tpc_ReduceGradientsOp : Tpc_Op<"reduce_gradients",
    [MemoryEffects<[MemRead<Tpc_GradientResource>,
                    MemWrite<Tpc_GradientResource>]>]> {
  let summary = "Sum a bucket of complete gradients over the data-parallel replicas";
  let description = [{
    Placed by tpc-bucket-gradients right after the last
    tpc.accumulate_grad of the bucket's weights: from here on no op of
    the step adds into their gradient buffers. In the last micro-batch of
    a data-parallel step the runtime starts one all-reduce of the bucket
    over the dp axis (the weights' gradients packed together) on a
    thread of its own, and the backward pass goes on; the optimizer waits
    for every bucket. With ZeRO-1 it is a reduce-scatter instead: each
    replica keeps the sum of its part of the bucket, whose weights it
    updates (gradients that tp completes after the backward pass, partial
    sums under sequence parallelism and KV heads several ranks share, go
    in one more bucket after that); with ZeRO-2 the bucket's gradient
    buffers are then freed. At dp = 1 and in earlier micro-batches it does
    nothing.

    ```mlir
    tpc.reduce_gradients %w_fc, %b_fc, %w_proj : tensor<768x768xf32>, tensor<768xf32>, tensor<768x768xf32>
    ```
  }];
  let arguments = (ins Variadic<Tpc_FloatTensor>:$weights);
  let assemblyFormat = "$weights attr-dict `:` type($weights)";
  let hasVerifier = 1;
}

#endif // TPC_TRAINING_OPS_TD
