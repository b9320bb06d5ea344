//===- Passes.td - tpc passes ------------------------------*- tablegen -*-===//
#ifndef TPC_PASSES_TD
#define TPC_PASSES_TD

include "mlir/Pass/PassBase.td"

def DeriveTraining : Pass<"tpc-derive-training", "ModuleOp"> {
  let summary = "Derive the training step: forward, loss and every gradient";
  let description = [{
    Adds `@train_step` in front of `@forward`: the forward graph, the
    next-token cross-entropy of its logits against `targets`, and the
    backward pass, built in reverse program order from each op's
    derivative rule (`DifferentiableOpInterface`). Gradients of a value
    used several times are summed; each contribution to a weight's
    gradient ends in a `tpc.accumulate_grad`, which adds it into the
    weight's gradient buffer (a tied embedding and LM head get two). `dloss` is the gradient of the step's loss with
    respect to every position's loss (`1 / tokens` for a mean); the
    function returns the per-position losses.

    Run before `tpc-auto-shard`: the planner lays out the joint program
    with the same rules and cost model as the forward pass, and, placed
    first in the module, the training step decides the weights' layouts.

    With `recompute`, the forward ops of each layer (the ops whose weights
    are named `<prefix>.<N>.<...>`, e.g. `model.layers.3.mlp.up_proj`, and
    the weightless ops computed from them) are cloned just before that
    layer's backward pass, which reads the clones: only each layer's input
    stays alive from the forward pass to the backward pass (its
    collectives run again too, as in Megatron-LM).

    ```mlir
    func.func @train_step(%ids: tensor<?x?xi32>, %targets: tensor<?x?xi32>,
                          %dloss: tensor<?x?xf32>) -> tensor<?x?xf32> {
      ...forward...
      %loss, %lse = tpc.cross_entropy %logits, %targets ignore_index = -100
      %dlogits = tpc.cross_entropy_grad %logits, %targets, %lse, %dloss ...
      %dx = tpc.linear %dlogits, %wte layout = in_out ...
      %dwte = tpc.linear_weight_grad %x, %dlogits layout = out_in ...
      ...
      tpc.accumulate_grad %wte, %dwte_total : tensor<50257x768xf32>
      return %loss : tensor<?x?xf32>
    }
    ```
  }];
  let dependentDialects = ["::mlir::tpc::TpcDialect"];
  let options = [
    Option<"ignoreIndex", "ignore-index", "int64_t", "-100",
           "The target id whose positions count for nothing (padding)">,
    Option<"recompute", "recompute", "bool", "false",
           "Activation recomputation (Megatron's full recompute): the "
           "backward pass of each layer recomputes the layer's forward ops "
           "from its input instead of keeping their results">,
  ];
}

def DeriveGeneration : Pass<"tpc-derive-generation", "ModuleOp"> {
  let summary = "Derive the prefill and decode programs of text generation";
  let description = [{
    Adds `@prefill` and `@decode` beside `@forward`, each the forward graph
    rewritten to run against a KV cache. Both take the token ids, the
    number of tokens each sequence already holds in the cache (`offsets`)
    and the number of real tokens each sequence has in this call
    (`lengths`, for right-padded prompts), and return the logits of each
    sequence's last token. Decode's ids are `[batch, 1]`.

    - `tpc.positions` and `tpc.rope` count from the offsets;
    - every `tpc.attention` writes its keys and values into two named
      caches (`tpc.kv_cache` + `tpc.cache_update`) and attends over them;
    - `tpc.last_token` picks each sequence's last token before the ops
      that end the graph one token at a time (final norm, LM head).

    The results keep their vocabulary split (`tpc.sharded_results`): the
    runtime samples across the ranks. Run before `tpc-auto-shard`, which
    lays out each cache like the keys that fill it and gives every weight
    and cache one layout across the three programs.

    Before:
    ```mlir
    func.func @forward(%ids: tensor<?x?xi32>) -> tensor<?x?x50257xf32> {
      %q = tpc.rope %qp head_dim = 64 theta = 1.0e4 : tensor<?x?x768xf32>
      %a = tpc.attention %q, %k, %v heads = 12 kv_heads = 12 : ...
      %logits = tpc.lm_head %x, %wte : ...
    ```
    After (`@decode`; `@prefill` keeps `tensor<?x?xi32>` ids):
    ```mlir
    func.func @decode(%ids: tensor<?x1xi32>, %offsets: tensor<?xi32>,
                      %lengths: tensor<?xi32>) -> tensor<?x50257xf32>
        attributes {tpc.sharded_results} {
      %q = tpc.rope %qp offsets %offsets head_dim = 64 theta = 1.0e4 : ...
      %kc = tpc.kv_cache "model.layers.0.self_attn.k_cache" : tensor<?x?x768xf32>
      %k1 = tpc.cache_update %kc, %k, %offsets : ...
      ...
      %a = tpc.attention %q, %k1, %v1 offsets %offsets heads = 12 kv_heads = 12
      %last = tpc.last_token %x, %lengths : ...
      %logits = tpc.lm_head %last, %wte : ...
    ```
  }];
  let dependentDialects = ["::mlir::tpc::TpcDialect"];
}

def AutoShard : Pass<"tpc-auto-shard", "ModuleOp"> {
  let summary = "Choose a tensor-parallel layout for every value";
  let description = [{
    Adds `tpc.mesh @mesh ["tp" = N]` and gives every op result a
    `tpc.sharding`. The choice comes only from the ops' sharding rules
    (einsum-like factors), the granularity every dimension must keep (whole
    heads, fused sections, grouped KV heads) and a cost model:

    1. per-rank weight bytes first (a weight is split whenever some
       dimension of it can be),
    2. then estimated forward time: compute divided by the split, plus every
       collective the layouts force, by the alpha-beta model.

    With `sequence-parallel`, per-rank activation bytes (every tensor the
    program materializes, conversions included) weigh between the two, and
    token-wise ops (norms, residual adds) move to sequence shards: Megatron's
    sequence parallelism, found by the same search.

    A greedy pass in program order is refined by local search over each
    op's strategy (replicate, split one factor, or pass partial sums
    through), moved together with its weights. Layouts pinned with
    `tpc.sharding` are kept; a pin no op can produce is an error naming the
    op, the dimension and the TP degrees that would work.

    Before:
    ```mlir
    %w = tpc.weight "c_fc.weight" : tensor<768x3072xf32>
    %y = tpc.linear %x, %w layout = in_out : ...
    ```
    After (tp = 4):
    ```mlir
    tpc.mesh @mesh ["tp" = 4]
    %w = tpc.weight "c_fc.weight"
        {tpc.sharding = #tpc.sharding<@mesh, [{}, {"tp"} ]>} : tensor<768x3072xf32>
    %y = tpc.linear %x, %w layout = in_out
        {tpc.sharding = #tpc.sharding<@mesh, [{}, {}, {"tp"} ]>} : ...
    ```
  }];
  let options = [
    Option<"tp", "tp", "int64_t", /*default=*/"1",
           "Tensor-parallel degree: the size of mesh axis \"tp\"">,
    Option<"sequenceParallel", "sequence-parallel", "bool", /*default=*/"false",
           "Weigh per-rank activation bytes before time, so that norms and "
           "residual adds run on sequence shards (reduce-scatter + "
           "all-gather in place of all-reduce)">,
    Option<"linkBandwidthGBps", "link-bandwidth", "double", /*default=*/"450",
           "Interconnect bandwidth per direction in GB/s (NVLink: 450)">,
    Option<"linkLatencyUs", "link-latency", "double", /*default=*/"5",
           "Latency of one collective in microseconds">,
    Option<"peakTflops", "peak-tflops", "double", /*default=*/"400",
           "Compute throughput of one rank in TFLOP/s">,
    Option<"tokens", "tokens", "int64_t", /*default=*/"4096",
           "batch x sequence assumed for dynamic dimensions when costing">,
  ];
  let dependentDialects = ["::mlir::tpc::TpcDialect"];
}

def SequenceParallel : Pass<"tpc-sequence-parallel", "ModuleOp"> {
  let summary = "Run norms and residual adds on sequence shards";
  let description = [{
    Re-plans a sharded program (after `tpc-auto-shard`, before
    `tpc-partition`) with per-rank activation bytes weighed before time.
    Weights keep their layouts; every activation is chosen again, so that
    token-wise ops move to sequence shards: after partitioning, each
    all-reduce is a reduce-scatter along the sequence, the residual add and
    the norm run on sequence shards, and an all-gather brings the sequence
    back before the next column split (Megatron's sequence parallelism). The
    same bytes move, the activations of those ops shrink N-fold.

    Before (partitioned, tp = 4):
    ```mlir
    %s = tpc.all_reduce %p over @mesh["tp"] : tensor<?x?x768xf32>
    %r = tpc.add %x, %s : tensor<?x?x768xf32>
    %n = tpc.layer_norm %r, ... : tensor<?x?x768xf32>
    ```
    After:
    ```mlir
    %s = tpc.reduce_scatter %p over @mesh["tp"] dim = 1 : ...
    %r = tpc.add %x, %s {tpc.sharding = #tpc.sharding<@mesh, [{}, {"tp"}, {} ]>}
    %n = tpc.layer_norm %r, ... {... [{}, {"tp"}, {} ] ...}
    %g = tpc.all_gather %n over @mesh["tp"] dim = 1 : ...
    ```
  }];
  let options = [
    Option<"tokens", "tokens", "int64_t", /*default=*/"4096",
           "batch x sequence assumed for dynamic dimensions when costing">,
  ];
  let dependentDialects = ["::mlir::tpc::TpcDialect"];
}

def Partition : Pass<"tpc-partition", "ModuleOp"> {
  let summary = "Rewrite a sharded program into the per-rank program";
  let description = [{
    Takes the layouts chosen by `tpc-auto-shard` (or written by hand) and
    makes every communication explicit: where an op needs an operand in
    another layout than its producer gives, inserts `tpc.all_reduce`
    (partial to whole), `tpc.reduce_scatter` (partial to split),
    `tpc.all_gather` (split to whole), or nothing (whole to split is a local
    slice). Each collective records its cause (the op that needs it) and the
    bytes each rank sends per token. Types become local: a split dimension
    has its per-rank size, or is dynamic when ranks hold different sizes
    (uneven heads, shared KV heads). The function is marked
    `tpc.partitioned`.

    Before (tp = 4):
    ```mlir
    %y = tpc.linear %h, %w layout = in_out
        {tpc.sharding = #tpc.sharding<@mesh, [{}, {}, {} ], partial = {"tp"}>}
        : (tensor<?x?x3072xf32>, tensor<3072x768xf32>) -> tensor<?x?x768xf32>
    %r = tpc.add %x, %y {tpc.sharding = #tpc.sharding<@mesh, [{}, {}, {} ]>} : ...
    ```
    After:
    ```mlir
    %y = tpc.linear %h, %w layout = in_out {...}
        : (tensor<?x?x768xf32>, tensor<768x768xf32>) -> tensor<?x?x768xf32>
    %s = tpc.all_reduce %y over @mesh["tp"]
        {bytes_per_token = 4608 : i64, cause = "h.0.mlp"} : tensor<?x?x768xf32>
    %r = tpc.add %x, %s {...} : tensor<?x?x768xf32>
    ```
  }];
  let dependentDialects = ["::mlir::tpc::TpcDialect"];
}

def Regather : Pass<"tpc-regather", "ModuleOp"> {
  let summary = "Gather again in the backward pass instead of keeping gathers";
  let description = [{
    In a partitioned training step, an all-gather whose result the
    backward pass reads again (the gathered input of a linear, for its
    weight gradient) would keep that whole tensor alive from the forward
    pass to the backward pass. This pass gives the backward uses a fresh
    all-gather placed before the first of them, as Megatron-LM does under
    sequence parallelism: one more collective per such value, and the
    forward pass's gathered copy dies at its last forward use. Functions
    without a `tpc.cross_entropy` (no backward pass) are left alone.
  }];
  let dependentDialects = ["::mlir::tpc::TpcDialect"];
}

def BucketGradients : Pass<"tpc-bucket-gradients", "ModuleOp"> {
  let summary = "Group the gradients into buckets reduced over dp during the backward pass";
  let description = [{
    In a partitioned training step, the weights are grouped in the order
    their gradients become complete (the position of each weight's last
    `tpc.accumulate_grad`) into buckets of about `bucket-mib` MiB of f32
    gradient per rank, and a `tpc.reduce_gradients` of each bucket is
    placed right after the accumulation that completes it. The runtime
    sums a bucket over the data-parallel replicas while the backward pass
    computes the next ones (PyTorch DDP's and Megatron-LM's overlapped
    gradient reduction); only the last bucket waits for the whole pass.
    Functions without `tpc.accumulate_grad` are left alone.

    ```mlir
    tpc.accumulate_grad %w_fc2, %dw_fc2 : tensor<3072x768xf32>
    tpc.accumulate_grad %b_fc2, %db_fc2 : tensor<768xf32>
    tpc.reduce_gradients %w_fc2, %b_fc2 : tensor<3072x768xf32>, tensor<768xf32>
    ```
  }];
  let dependentDialects = ["::mlir::tpc::TpcDialect"];
  let options = [
    Option<"bucketMib", "bucket-mib", "double", "25.0",
           "Gradient bytes per bucket and rank, in MiB (PyTorch DDP's "
           "default); a weight larger than that is a bucket of its own">,
  ];
}

def CheckShards : Pass<"tpc-check-shards", "ModuleOp"> {
  let summary = "Check that every weight's shards tile it exactly once";
  let description = [{
    For every weight of a partitioned function, deals out each rank's
    element ranges from the checkpoint shape (`global_shape`) and the
    layout, and checks that a split dimension is covered exactly once (at
    least once where grouped KV heads are shared by design), that a whole
    dimension is whole on every rank, and that the local type is what every
    rank holds. Reports a summary remark per function.
  }];
}

def CommReport : Pass<"tpc-comm-report", "ModuleOp"> {
  let summary = "Report what a partitioned plan costs";
  let description = [{
    Summarizes the partitioned program per block and in total: collectives
    by kind with the bytes each rank sends per token, weight bytes per rank
    (largest and smallest rank), activation bytes per token, FLOPs per rank,
    and the forward time the alpha-beta model estimates over NVLink
    (450 GB/s, 5 us) and over PCIe (64 GB/s, 10 us) side by side, with
    warnings when TP runs over a slow link or the model is too narrow for
    its degree. Text or JSON, to a file or standard output. The IR is left
    unchanged.
  }];
  let options = [
    Option<"format", "format", "std::string", /*default=*/"\"text\"",
           "text or json">,
    Option<"output", "output", "std::string", /*default=*/"\"-\"",
           "Where to write the report (- for standard output)">,
    Option<"tokens", "tokens", "int64_t", /*default=*/"4096",
           "batch x sequence of the pass the times are estimated for">,
  ];
}

def Fuse : Pass<"tpc-fuse", "ModuleOp"> {
  let summary = "Fuse ops of a partitioned program that each pass over an activation";
  let description = [{
    Rewrites op pairs into one op that reads and writes memory once (one
    kernel on the CPU and on CUDA):

    - `tpc.silu` whose only reader is a `tpc.mul` (SwiGLU's gating):
      `tpc.silu_mul`, silu(gate) * up in one pass (taken before the next
      rule: an epilogue still passes over the gate once more);
    - `tpc.linear` followed by `tpc.gelu` or `tpc.silu` (its only user),
      when the linear's result is not a partial sum: the activation becomes
      the linear's epilogue;
    - `tpc.add` whose sum feeds a `tpc.layer_norm` or `tpc.rms_norm`:
      `tpc.add_layer_norm` / `tpc.add_rms_norm`, returning the sum (the
      residual stream) and its normalization.

    Runs after `tpc-partition` (only then is it known which results are
    partial sums) and before `tpc-plan-memory`.

    Before:
    ```mlir
    %u = tpc.linear %h, %w, %b layout = in_out : ...
    %g = tpc.gelu %u : tensor<?x?x768xf32>
    %s = tpc.add %x, %y : tensor<?x?x768xf32>
    %n = tpc.layer_norm %s, %g2, %b2 epsilon = 1.0e-5 : ...
    ```
    After:
    ```mlir
    %g = tpc.linear %h, %w, %b layout = in_out activation = gelu : ...
    %s, %n = tpc.add_layer_norm %x, %y, %g2, %b2 epsilon = 1.0e-5 : ...
    ```
  }];
}

def PlanMemory : Pass<"tpc-plan-memory", "ModuleOp"> {
  let summary = "Free every activation of a partitioned program at its last use";
  let description = [{
    Computes the live range of every activation of each partitioned
    function (every tensor an op computes, except weights and KV caches,
    which live across calls) and inserts `tpc.release` right after the op
    that reads it last (or after the op that makes it, when nothing reads
    it). The runtime returns those buffers to the rank's allocator, so that
    a pass needs the most memory live at once, not the sum of every
    intermediate; the plan report's activation peak is that figure
    (passes/MemoryPlan.h). Values the function returns are not released.
    Run after `tpc-partition`, last before lowering.

    Before:
    ```mlir
    %u = tpc.linear %h, %w1 layout = in_out : ...
    %g = tpc.gelu %u : tensor<?x?x3072xf32>
    %y = tpc.linear %g, %w2 layout = in_out : ...
    ```
    After:
    ```mlir
    %u = tpc.linear %h, %w1 layout = in_out : ...
    tpc.release %h : tensor<?x?x768xf32>
    %g = tpc.gelu %u : tensor<?x?x3072xf32>
    tpc.release %u : tensor<?x?x3072xf32>
    %y = tpc.linear %g, %w2 layout = in_out : ...
    tpc.release %g : tensor<?x?x3072xf32>
    ```
  }];
}

def LowerToEmitC : Pass<"tpc-lower-to-emitc", "ModuleOp"> {
  let summary = "Lower a partitioned program to calls into the runtime";
  let description = [{
    Every tpc op of a partitioned function becomes one `emitc.call_opaque`
    of the runtime's program layer (`runtime/program/Ops.h`), with the op's
    global attributes and the partitioner's layouts as literal arguments.
    Tensors become `tpc::Tensor` (token ids `tpc::program::Ids`) and each
    function takes the rank's `tpc::program::RankContext &` first. Print
    the result as C++ with `mlir-translate --mlir-to-cpp` (or
    `tpc-compile --emit=cpp`).

    Before:
    ```mlir
    %y = tpc.linear %x, %w layout = in_out
        {tpc.sharding = #tpc.sharding<@mesh, [{}, {}, {} ], partial = {"tp"}>} ...
    ```
    After:
    ```mlir
    %y = emitc.call_opaque "tpc::program::linearNoBias"(%ctx, %x, %w)
        {args = [0 : index, 1 : index, 2 : index, #emitc.opaque<"true">]} ...
    ```
  }];
  let options = [
    Option<"nameSuffix", "name-suffix", "std::string", /*default=*/"\"\"",
           "Appended to the name of every function (forward_tp1, ...), so "
           "that programs of several plans link into one executable">,
  ];
  let dependentDialects = ["::mlir::emitc::EmitCDialect"];
}

#endif // TPC_PASSES_TD
