// One GPT-2 small (124M) transformer block with global shapes and no
// sharding: pre-LayerNorm attention with a fused [q|k|v] projection, then a
// GeLU MLP, each with a residual add. Weights keep GPT-2's Conv1D layout
// ([in, out]) and their checkpoint names.
//
//   build/bin/tpc-opt examples/mlir/gpt2_block.mlir
func.func @gpt2_block(%x: tensor<?x?x768xf32>) -> tensor<?x?x768xf32> {
  // Attention.
  %ln1_w = tpc.weight "transformer.h.0.ln_1.weight" : tensor<768xf32>
  %ln1_b = tpc.weight "transformer.h.0.ln_1.bias" : tensor<768xf32>
  %h1 = tpc.layer_norm %x, %ln1_w, %ln1_b epsilon = 1.0e-05
      : (tensor<?x?x768xf32>, tensor<768xf32>, tensor<768xf32>) -> tensor<?x?x768xf32>
  %qkv_w = tpc.weight "transformer.h.0.attn.c_attn.weight" : tensor<768x2304xf32>
  %qkv_b = tpc.weight "transformer.h.0.attn.c_attn.bias" : tensor<2304xf32>
  %qkv = tpc.linear %h1, %qkv_w, %qkv_b layout = in_out
      : (tensor<?x?x768xf32>, tensor<768x2304xf32>, tensor<2304xf32>) -> tensor<?x?x2304xf32>
  %q, %k, %v = tpc.split %qkv : tensor<?x?x2304xf32>
      -> tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>
  %attn = tpc.attention %q, %k, %v heads = 12 kv_heads = 12
      : (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>) -> tensor<?x?x768xf32>
  %proj_w = tpc.weight "transformer.h.0.attn.c_proj.weight" : tensor<768x768xf32>
  %proj_b = tpc.weight "transformer.h.0.attn.c_proj.bias" : tensor<768xf32>
  %proj = tpc.linear %attn, %proj_w, %proj_b layout = in_out
      : (tensor<?x?x768xf32>, tensor<768x768xf32>, tensor<768xf32>) -> tensor<?x?x768xf32>
  %r1 = tpc.add %x, %proj : tensor<?x?x768xf32>

  // MLP.
  %ln2_w = tpc.weight "transformer.h.0.ln_2.weight" : tensor<768xf32>
  %ln2_b = tpc.weight "transformer.h.0.ln_2.bias" : tensor<768xf32>
  %h2 = tpc.layer_norm %r1, %ln2_w, %ln2_b epsilon = 1.0e-05
      : (tensor<?x?x768xf32>, tensor<768xf32>, tensor<768xf32>) -> tensor<?x?x768xf32>
  %fc_w = tpc.weight "transformer.h.0.mlp.c_fc.weight" : tensor<768x3072xf32>
  %fc_b = tpc.weight "transformer.h.0.mlp.c_fc.bias" : tensor<3072xf32>
  %fc = tpc.linear %h2, %fc_w, %fc_b layout = in_out
      : (tensor<?x?x768xf32>, tensor<768x3072xf32>, tensor<3072xf32>) -> tensor<?x?x3072xf32>
  %act = tpc.gelu %fc : tensor<?x?x3072xf32>
  %down_w = tpc.weight "transformer.h.0.mlp.c_proj.weight" : tensor<3072x768xf32>
  %down_b = tpc.weight "transformer.h.0.mlp.c_proj.bias" : tensor<768xf32>
  %down = tpc.linear %act, %down_w, %down_b layout = in_out
      : (tensor<?x?x3072xf32>, tensor<3072x768xf32>, tensor<768xf32>) -> tensor<?x?x768xf32>
  %r2 = tpc.add %r1, %down : tensor<?x?x768xf32>
  return %r2 : tensor<?x?x768xf32>
}
