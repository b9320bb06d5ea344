// One Llama-3-8B transformer block with global shapes and no sharding:
// RMSNorm, grouped-query attention (32 query heads sharing 8 KV heads of
// 128 features) with RoPE (theta 500000), and a SwiGLU MLP. Weights keep
// torch.nn.Linear's layout ([out, in]), their checkpoint names and bf16.
//
//   build/bin/tpc-opt examples/mlir/llama_block.mlir
func.func @llama_block(%x: tensor<?x?x4096xbf16>) -> tensor<?x?x4096xbf16> {
  // Attention.
  %ln1_w = tpc.weight "model.layers.0.input_layernorm.weight" : tensor<4096xbf16>
  %h1 = tpc.rms_norm %x, %ln1_w epsilon = 1.0e-05
      : (tensor<?x?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x?x4096xbf16>
  %q_w = tpc.weight "model.layers.0.self_attn.q_proj.weight" : tensor<4096x4096xbf16>
  %k_w = tpc.weight "model.layers.0.self_attn.k_proj.weight" : tensor<1024x4096xbf16>
  %v_w = tpc.weight "model.layers.0.self_attn.v_proj.weight" : tensor<1024x4096xbf16>
  %q = tpc.linear %h1, %q_w layout = out_in
      : (tensor<?x?x4096xbf16>, tensor<4096x4096xbf16>) -> tensor<?x?x4096xbf16>
  %k = tpc.linear %h1, %k_w layout = out_in
      : (tensor<?x?x4096xbf16>, tensor<1024x4096xbf16>) -> tensor<?x?x1024xbf16>
  %v = tpc.linear %h1, %v_w layout = out_in
      : (tensor<?x?x4096xbf16>, tensor<1024x4096xbf16>) -> tensor<?x?x1024xbf16>
  %q_rot = tpc.rope %q head_dim = 128 theta = 5.0e+05 : tensor<?x?x4096xbf16>
  %k_rot = tpc.rope %k head_dim = 128 theta = 5.0e+05 : tensor<?x?x1024xbf16>
  %attn = tpc.attention %q_rot, %k_rot, %v heads = 32 kv_heads = 8
      : (tensor<?x?x4096xbf16>, tensor<?x?x1024xbf16>, tensor<?x?x1024xbf16>) -> tensor<?x?x4096xbf16>
  %o_w = tpc.weight "model.layers.0.self_attn.o_proj.weight" : tensor<4096x4096xbf16>
  %o = tpc.linear %attn, %o_w layout = out_in
      : (tensor<?x?x4096xbf16>, tensor<4096x4096xbf16>) -> tensor<?x?x4096xbf16>
  %r1 = tpc.add %x, %o : tensor<?x?x4096xbf16>

  // SwiGLU MLP.
  %ln2_w = tpc.weight "model.layers.0.post_attention_layernorm.weight" : tensor<4096xbf16>
  %h2 = tpc.rms_norm %r1, %ln2_w epsilon = 1.0e-05
      : (tensor<?x?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x?x4096xbf16>
  %gate_w = tpc.weight "model.layers.0.mlp.gate_proj.weight" : tensor<14336x4096xbf16>
  %up_w = tpc.weight "model.layers.0.mlp.up_proj.weight" : tensor<14336x4096xbf16>
  %gate = tpc.linear %h2, %gate_w layout = out_in
      : (tensor<?x?x4096xbf16>, tensor<14336x4096xbf16>) -> tensor<?x?x14336xbf16>
  %up = tpc.linear %h2, %up_w layout = out_in
      : (tensor<?x?x4096xbf16>, tensor<14336x4096xbf16>) -> tensor<?x?x14336xbf16>
  %act = tpc.silu %gate : tensor<?x?x14336xbf16>
  %gated = tpc.mul %act, %up : tensor<?x?x14336xbf16>
  %down_w = tpc.weight "model.layers.0.mlp.down_proj.weight" : tensor<4096x14336xbf16>
  %down = tpc.linear %gated, %down_w layout = out_in
      : (tensor<?x?x14336xbf16>, tensor<4096x14336xbf16>) -> tensor<?x?x4096xbf16>
  %r2 = tpc.add %r1, %down : tensor<?x?x4096xbf16>
  return %r2 : tensor<?x?x4096xbf16>
}
