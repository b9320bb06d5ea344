// Every verifier message of the tpc dialect, one self-contained case each.
// RUN: tpc-opt %s -split-input-file -verify-diagnostics

// expected-error @+1 {{a mesh must have at least one axis, got none}}
tpc.mesh @mesh []

// -----

// expected-error @+1 {{axis names must be unique, got "tp" twice}}
tpc.mesh @mesh ["tp" = 2, "tp" = 2]

// -----

// expected-error @+1 {{axis names must be non-empty, got ""}}
tpc.mesh @mesh ["" = 2]

// -----

// expected-error @+1 {{axis "tp" size must be >= 1, got 0}}
tpc.mesh @mesh ["tp" = 0]

// -----

// expected-error @+1 {{axes and shape must have one length, got 1 and 2}}
"tpc.mesh"() {sym_name = "mesh", axes = ["tp"], shape = array<i64: 2, 4>} : () -> ()

// -----

func.func @weight_without_name() {
  // expected-error @+1 {{name must be the checkpoint tensor name, got ""}}
  %w = tpc.weight "" : tensor<4xf32>
  return
}

// -----

func.func @dynamic_weight() {
  // expected-error @+1 {{weight shape must be static, got [?, 768]}}
  %w = tpc.weight "w" : tensor<?x768xf32>
  return
}

// -----

func.func @positions_of_scalar(%ids: tensor<i32>) {
  // expected-error @+1 {{ids must have rank >= 1, got []}}
  %p = tpc.positions %ids : tensor<i32>
  return
}

// -----

func.func @embedding_table_rank(%ids: tensor<?x?xi32>) {
  %t = tpc.weight "wte" : tensor<64xf32>
  // expected-error @+1 {{table must have rank 2, got [64]}}
  %e = tpc.embedding %t, %ids : (tensor<64xf32>, tensor<?x?xi32>) -> tensor<?x?x64xf32>
  return
}

// -----

func.func @embedding_result_shape(%ids: tensor<?x?xi32>) {
  %t = tpc.weight "wte" : tensor<10x64xf32>
  // expected-error @+1 {{result shape must be [?, ?, 64], got [?, ?, 32]}}
  %e = tpc.embedding %t, %ids : (tensor<10x64xf32>, tensor<?x?xi32>) -> tensor<?x?x32xf32>
  return
}

// -----

func.func @embedding_element_type(%ids: tensor<?x?xi32>) {
  %t = tpc.weight "wte" : tensor<10x64xbf16>
  // expected-error @+1 {{operand #0 element type must be the result's 'f32', got 'bf16'}}
  %e = tpc.embedding %t, %ids : (tensor<10x64xbf16>, tensor<?x?xi32>) -> tensor<?x?x64xf32>
  return
}

// -----

func.func @linear_contraction(%x: tensor<?x?x768xf32>) {
  %w = tpc.weight "w" : tensor<1024x3072xf32>
  // expected-error @+1 {{weight input dimension (dim 0 of in_out [1024, 3072]) must equal the input's last dimension 768, got 1024}}
  %y = tpc.linear %x, %w layout = in_out : (tensor<?x?x768xf32>, tensor<1024x3072xf32>) -> tensor<?x?x3072xf32>
  return
}

// -----

func.func @linear_wrong_layout(%x: tensor<?x?x768xf32>) {
  %w = tpc.weight "w" : tensor<768x3072xf32>
  // expected-error @+1 {{weight input dimension (dim 1 of out_in [768, 3072]) must equal the input's last dimension 768, got 3072}}
  %y = tpc.linear %x, %w layout = out_in : (tensor<?x?x768xf32>, tensor<768x3072xf32>) -> tensor<?x?x768xf32>
  return
}

// -----

func.func @linear_weight_rank(%x: tensor<?x?x768xf32>) {
  %w = tpc.weight "w" : tensor<768xf32>
  // expected-error @+1 {{weight must have rank 2, got [768]}}
  %y = tpc.linear %x, %w layout = in_out : (tensor<?x?x768xf32>, tensor<768xf32>) -> tensor<?x?x768xf32>
  return
}

// -----

func.func @linear_bias_size(%x: tensor<?x?x64xf32>) {
  %w = tpc.weight "w" : tensor<64x96xf32>
  %b = tpc.weight "b" : tensor<64xf32>
  // expected-error @+1 {{bias size must equal the output features 96, got 64}}
  %y = tpc.linear %x, %w, %b layout = in_out : (tensor<?x?x64xf32>, tensor<64x96xf32>, tensor<64xf32>) -> tensor<?x?x96xf32>
  return
}

// -----

func.func @linear_result_shape(%x: tensor<?x?x64xf32>) {
  %w = tpc.weight "w" : tensor<64x96xf32>
  // expected-error @+1 {{result shape must be [?, ?, 96], got [?, ?, 64]}}
  %y = tpc.linear %x, %w layout = in_out : (tensor<?x?x64xf32>, tensor<64x96xf32>) -> tensor<?x?x64xf32>
  return
}

// -----

func.func @linear_mixed_dtypes(%x: tensor<?x?x64xf32>) {
  %w = tpc.weight "w" : tensor<64x96xf16>
  // expected-error @+1 {{operand #1 element type must be the result's 'f32', got 'f16'}}
  %y = tpc.linear %x, %w layout = in_out : (tensor<?x?x64xf32>, tensor<64x96xf16>) -> tensor<?x?x96xf32>
  return
}

// -----

func.func @split_sizes(%x: tensor<?x?x192xf32>) {
  // expected-error @+1 {{the sections' sizes must add up to the input's last dimension 192, got 128}}
  %a, %b = tpc.split %x : tensor<?x?x192xf32> -> tensor<?x?x64xf32>, tensor<?x?x64xf32>
  return
}

// -----

func.func @split_result_shape(%x: tensor<2x?x192xf32>) {
  // expected-error @+1 {{result #1 shape must be [2, ?, 128], got [3, ?, 128]}}
  %a, %b = tpc.split %x : tensor<2x?x192xf32> -> tensor<2x?x64xf32>, tensor<3x?x128xf32>
  return
}

// -----

func.func @split_scalar_result(%x: tensor<?x?x192xf32>) {
  // expected-error @+1 {{results must have rank >= 1, got []}}
  %a = tpc.split %x : tensor<?x?x192xf32> -> tensor<f32>
  return
}

// -----

func.func @split_nothing(%x: tensor<?x?x192xf32>) {
  // expected-error @+1 {{split must have at least one result, got none}}
  "tpc.split"(%x) : (tensor<?x?x192xf32>) -> ()
  return
}

// -----

func.func @add_mismatch(%a: tensor<?x?x64xf32>, %b: tensor<?x?x32xf32>) {
  // expected-error @+1 {{failed to verify that all of {lhs, rhs, result} have same type}}
  %c = "tpc.add"(%a, %b) : (tensor<?x?x64xf32>, tensor<?x?x32xf32>) -> tensor<?x?x64xf32>
  return
}

// -----

func.func @activation_mismatch(%a: tensor<?x?x64xf32>) {
  // expected-error @+1 {{failed to verify that all of {input, result} have same type}}
  %c = "tpc.gelu"(%a) : (tensor<?x?x64xf32>) -> tensor<?x?x64xbf16>
  return
}

// -----

func.func @integer_activation(%a: tensor<?x?x64xi32>) {
  // expected-error @+1 {{operand #0 must be ranked tensor of 32-bit float or bfloat16 type or 16-bit float values, but got 'tensor<?x?x64xi32>'}}
  %c = "tpc.silu"(%a) : (tensor<?x?x64xi32>) -> tensor<?x?x64xi32>
  return
}

// -----

func.func @layer_norm_param_size(%x: tensor<?x?x64xf32>) {
  %g = tpc.weight "g" : tensor<64xf32>
  %b = tpc.weight "b" : tensor<32xf32>
  // expected-error @+1 {{norm parameter size must equal the input's last dimension 64, got 32}}
  %y = tpc.layer_norm %x, %g, %b epsilon = 1.0e-5 : (tensor<?x?x64xf32>, tensor<64xf32>, tensor<32xf32>) -> tensor<?x?x64xf32>
  return
}

// -----

func.func @layer_norm_epsilon(%x: tensor<?x?x64xf32>) {
  %g = tpc.weight "g" : tensor<64xf32>
  // expected-error @+1 {{epsilon must be positive, got 0}}
  %y = tpc.layer_norm %x, %g, %g epsilon = 0.0 : (tensor<?x?x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x?x64xf32>
  return
}

// -----

func.func @rms_norm_param_rank(%x: tensor<?x?x64xf32>) {
  %g = tpc.weight "g" : tensor<8x8xf32>
  // expected-error @+1 {{norm parameter must have rank 1, got [8, 8]}}
  %y = tpc.rms_norm %x, %g epsilon = 1.0e-5 : (tensor<?x?x64xf32>, tensor<8x8xf32>) -> tensor<?x?x64xf32>
  return
}

// -----

func.func @rms_norm_epsilon(%x: tensor<?x?x64xf32>) {
  %g = tpc.weight "g" : tensor<64xf32>
  // expected-error @+1 {{epsilon must be positive, got -1}}
  %y = tpc.rms_norm %x, %g epsilon = -1.0 : (tensor<?x?x64xf32>, tensor<64xf32>) -> tensor<?x?x64xf32>
  return
}

// -----

func.func @rope_odd_head_dim(%x: tensor<?x?x63xf32>) {
  // expected-error @+1 {{head_dim must be positive and even, got 21}}
  %y = tpc.rope %x head_dim = 21 theta = 10000.0 : tensor<?x?x63xf32>
  return
}

// -----

func.func @rope_partial_head(%x: tensor<?x?x200xf32>) {
  // expected-error @+1 {{features must be a multiple of head_dim 64, got 200}}
  %y = tpc.rope %x head_dim = 64 theta = 10000.0 : tensor<?x?x200xf32>
  return
}

// -----

func.func @rope_theta(%x: tensor<?x?x128xf32>) {
  // expected-error @+1 {{theta must be positive, got 0}}
  %y = tpc.rope %x head_dim = 64 theta = 0.0 : tensor<?x?x128xf32>
  return
}

// -----

func.func @rope_rank(%x: tensor<?x128xf32>) {
  // expected-error @+1 {{input must have rank 3, got [?, 128]}}
  %y = tpc.rope %x head_dim = 64 theta = 10000.0 : tensor<?x128xf32>
  return
}

// -----

// A head count that does not divide the hidden size.
func.func @attention_heads_do_not_divide(%x: tensor<?x?x770xf32>) {
  // expected-error @+1 {{query features must be divisible by num_heads 12, got 770}}
  %a = tpc.attention %x, %x, %x heads = 12 kv_heads = 12 : (tensor<?x?x770xf32>, tensor<?x?x770xf32>, tensor<?x?x770xf32>) -> tensor<?x?x770xf32>
  return
}

// -----

func.func @attention_kv_heads(%q: tensor<?x?x4096xf32>, %kv: tensor<?x?x1024xf32>) {
  // expected-error @+1 {{num_kv_heads must be positive and divide num_heads 32, got 5}}
  %a = tpc.attention %q, %kv, %kv heads = 32 kv_heads = 5 : (tensor<?x?x4096xf32>, tensor<?x?x1024xf32>, tensor<?x?x1024xf32>) -> tensor<?x?x4096xf32>
  return
}

// -----

func.func @attention_zero_heads(%q: tensor<?x?x64xf32>) {
  // expected-error @+1 {{num_heads must be positive, got 0}}
  %a = tpc.attention %q, %q, %q heads = 0 kv_heads = 1 : (tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>) -> tensor<?x?x64xf32>
  return
}

// -----

func.func @attention_kv_features(%q: tensor<?x?x4096xf32>, %kv: tensor<?x?x512xf32>) {
  // expected-error @+1 {{key/value features must be num_kv_heads * head_dim = 8 * 128 = 1024, got 512}}
  %a = tpc.attention %q, %kv, %kv heads = 32 kv_heads = 8 : (tensor<?x?x4096xf32>, tensor<?x?x512xf32>, tensor<?x?x512xf32>) -> tensor<?x?x4096xf32>
  return
}

// -----

func.func @attention_batch(%q: tensor<2x?x64xf32>, %kv: tensor<3x?x64xf32>) {
  // expected-error @+1 {{q, k and v must agree in batch and sequence, got [2, ?, 64], [3, ?, 64], [3, ?, 64]}}
  %a = tpc.attention %q, %kv, %kv heads = 1 kv_heads = 1 : (tensor<2x?x64xf32>, tensor<3x?x64xf32>, tensor<3x?x64xf32>) -> tensor<2x?x64xf32>
  return
}

// -----

func.func @attention_k_v_differ(%q: tensor<?x?x64xf32>, %k: tensor<?x?x64xf32>, %v: tensor<?x?x32xf32>) {
  // expected-error @+1 {{k and v must have one shape, got [?, ?, 64] and [?, ?, 32]}}
  %a = tpc.attention %q, %k, %v heads = 2 kv_heads = 2 : (tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x32xf32>) -> tensor<?x?x64xf32>
  return
}

// -----

func.func @attention_window(%q: tensor<?x?x64xf32>) {
  // expected-error @+1 {{window must be >= 1, got 0}}
  %a = tpc.attention %q, %q, %q heads = 1 kv_heads = 1 window = 0 : (tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>) -> tensor<?x?x64xf32>
  return
}

// -----

func.func @attention_rank(%q: tensor<?x64xf32>) {
  // expected-error @+1 {{q must have rank 3, got [?, 64]}}
  %a = tpc.attention %q, %q, %q heads = 1 kv_heads = 1 : (tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

func.func @lm_head_hidden(%x: tensor<?x?x768xf32>) {
  %w = tpc.weight "wte" : tensor<50257x512xf32>
  // expected-error @+1 {{weight [vocab, hidden] hidden size must equal the input's last dimension 768, got 512}}
  %l = tpc.lm_head %x, %w : (tensor<?x?x768xf32>, tensor<50257x512xf32>) -> tensor<?x?x50257xf32>
  return
}

// -----

func.func @collective_unknown_mesh(%x: tensor<4xf32>) {
  // expected-error @+1 {{mesh @nope must name a tpc.mesh in scope}}
  %y = tpc.all_reduce %x over @nope["tp"] : tensor<4xf32>
  return
}

// -----

func.func @not_a_mesh(%x: tensor<4xf32>) {
  // expected-error @+1 {{mesh @not_a_mesh must name a tpc.mesh in scope}}
  %y = tpc.all_reduce %x over @not_a_mesh["tp"] : tensor<4xf32>
  return
}

// -----

tpc.mesh @mesh ["tp" = 4]
func.func @collective_missing_axis(%x: tensor<4xf32>) {
  // expected-error @+1 {{axis must be one of mesh @mesh's axes ("tp"), got "dp"}}
  %y = tpc.all_reduce %x over @mesh["dp"] : tensor<4xf32>
  return
}

// -----

tpc.mesh @mesh ["tp" = 4]
func.func @all_gather_result(%x: tensor<2x8xf32>) {
  // expected-error @+1 {{result shape must be [2, 32], got [2, 16]}}
  %y = tpc.all_gather %x over @mesh["tp"] dim = 1 : tensor<2x8xf32> -> tensor<2x16xf32>
  return
}

// -----

tpc.mesh @mesh ["tp" = 4]
func.func @all_gather_dim(%x: tensor<2x8xf32>) {
  // expected-error @+1 {{dim must index a dimension of [2, 8], got 2}}
  %y = tpc.all_gather %x over @mesh["tp"] dim = 2 : tensor<2x8xf32> -> tensor<2x8xf32>
  return
}

// -----

tpc.mesh @mesh ["tp" = 4]
func.func @reduce_scatter_divisible(%x: tensor<2x30xf32>) {
  // expected-error @+1 {{scattered dimension 1 must be divisible by the axis size 4, got 30}}
  %y = tpc.reduce_scatter %x over @mesh["tp"] dim = 1 : tensor<2x30xf32> -> tensor<2x7xf32>
  return
}

// -----

tpc.mesh @mesh ["tp" = 4]
func.func @reduce_scatter_dtype(%x: tensor<2x32xf32>) {
  // expected-error @+1 {{operand #0 element type must be the result's 'bf16', got 'f32'}}
  %y = tpc.reduce_scatter %x over @mesh["tp"] dim = 1 : tensor<2x32xf32> -> tensor<2x8xbf16>
  return
}

// -----

tpc.mesh @mesh ["tp" = 4]
func.func @all_slice_result(%x: tensor<2x32xf32>) {
  // expected-error @+1 {{result shape must be [2, 8], got [2, 16]}}
  %y = tpc.all_slice %x over @mesh["tp"] dim = 1 : tensor<2x32xf32> -> tensor<2x16xf32>
  return
}

// -----

func.func @positions_offsets_per_sequence(%ids: tensor<2x5xi32>, %offsets: tensor<3xi32>) {
  // expected-error @+1 {{offsets must have one entry per sequence, shape [2], got [3]}}
  %p = tpc.positions %ids offsets %offsets : tensor<2x5xi32>, tensor<3xi32>
  return
}

// -----

func.func @rope_offsets_per_sequence(%x: tensor<2x5x32xf32>, %offsets: tensor<4xi32>) {
  // expected-error @+1 {{offsets must have one entry per sequence, shape [2], got [4]}}
  %r = tpc.rope %x offsets %offsets head_dim = 16 theta = 1.0e4 : tensor<2x5x32xf32>, tensor<4xi32>
  return
}

// -----

func.func @attention_cache_batch(%q: tensor<2x1x64xf32>, %k: tensor<3x9x32xf32>, %offsets: tensor<2xi32>) {
  // expected-error @+1 {{q, k and v must agree in batch, got [2, 1, 64], [3, 9, 32], [3, 9, 32]}}
  %a = tpc.attention %q, %k, %k offsets %offsets heads = 4 kv_heads = 2 : (tensor<2x1x64xf32>, tensor<3x9x32xf32>, tensor<3x9x32xf32>, tensor<2xi32>) -> tensor<2x1x64xf32>
  return
}

// -----

func.func @attention_without_cache_needs_one_sequence(%q: tensor<2x1x64xf32>, %k: tensor<2x9x32xf32>) {
  // expected-error @+1 {{q, k and v must agree in batch and sequence, got [2, 1, 64], [2, 9, 32], [2, 9, 32]}}
  %a = tpc.attention %q, %k, %k heads = 4 kv_heads = 2 : (tensor<2x1x64xf32>, tensor<2x9x32xf32>, tensor<2x9x32xf32>) -> tensor<2x1x64xf32>
  return
}

// -----

func.func @last_token_rank(%x: tensor<?x64xf32>, %lengths: tensor<?xi32>) {
  // expected-error @+1 {{input must have rank 3, got [?, 64]}}
  %l = tpc.last_token %x, %lengths : (tensor<?x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
  return
}

// -----

func.func @last_token_lengths(%x: tensor<2x5x64xf32>, %lengths: tensor<3xi32>) {
  // expected-error @+1 {{lengths must have one entry per sequence, shape [2], got [3]}}
  %l = tpc.last_token %x, %lengths : (tensor<2x5x64xf32>, tensor<3xi32>) -> tensor<2x64xf32>
  return
}

// -----

func.func @last_token_result(%x: tensor<2x5x64xf32>, %lengths: tensor<2xi32>) {
  // expected-error @+1 {{result shape must be [2, 64], got [2, 5]}}
  %l = tpc.last_token %x, %lengths : (tensor<2x5x64xf32>, tensor<2xi32>) -> tensor<2x5xf32>
  return
}

// -----

func.func @kv_cache_without_name() {
  // expected-error @+1 {{name must name the cache buffer, got ""}}
  %c = tpc.kv_cache "" : tensor<?x?x32xf32>
  return
}

// -----

func.func @kv_cache_rank() {
  // expected-error @+1 {{a KV cache must have rank 3, got [?, 32]}}
  %c = tpc.kv_cache "c" : tensor<?x32xf32>
  return
}

// -----

func.func @kv_cache_dynamic_features() {
  // expected-error @+1 {{a KV cache's features must be static, got [?, ?, ?]}}
  %c = tpc.kv_cache "c" : tensor<?x?x?xf32>
  return
}

// -----

func.func @kv_cache_global_features() {
  // expected-error @+1 {{global_features must be positive, got 0}}
  %c = tpc.kv_cache "c" {global_features = 0 : i64} : tensor<?x?x32xf32>
  return
}

// -----

func.func @cache_update_needs_a_cache(%c: tensor<?x?x32xf32>, %k: tensor<?x1x32xf32>, %o: tensor<?xi32>) {
  // expected-error @+1 {{cache must be a tpc.kv_cache that only this update uses (it is written in place)}}
  %u = tpc.cache_update %c, %k, %o : (tensor<?x?x32xf32>, tensor<?x1x32xf32>, tensor<?xi32>) -> tensor<?x?x32xf32>
  return
}

// -----

func.func @cache_update_read_elsewhere(%k: tensor<?x1x32xf32>, %o: tensor<?xi32>) -> tensor<?x?x32xf32> {
  %c = tpc.kv_cache "c" : tensor<?x?x32xf32>
  // expected-error @+1 {{cache must be a tpc.kv_cache that only this update uses (it is written in place)}}
  %u = tpc.cache_update %c, %k, %o : (tensor<?x?x32xf32>, tensor<?x1x32xf32>, tensor<?xi32>) -> tensor<?x?x32xf32>
  return %c : tensor<?x?x32xf32>
}

// -----

func.func @cache_update_features(%k: tensor<?x1x16xf32>, %o: tensor<?xi32>) {
  %c = tpc.kv_cache "c" : tensor<?x?x32xf32>
  // expected-error @+1 {{input must match the cache in batch and features, got [?, 1, 16] for cache [?, ?, 32]}}
  %u = tpc.cache_update %c, %k, %o : (tensor<?x?x32xf32>, tensor<?x1x16xf32>, tensor<?xi32>) -> tensor<?x?x32xf32>
  return
}

// -----

func.func @cache_update_too_long(%k: tensor<2x9x32xf32>, %o: tensor<2xi32>) {
  %c = tpc.kv_cache "c" : tensor<2x8x32xf32>
  // expected-error @+1 {{input must have at most the cache's 8 positions, got 9}}
  %u = tpc.cache_update %c, %k, %o : (tensor<2x8x32xf32>, tensor<2x9x32xf32>, tensor<2xi32>) -> tensor<2x8x32xf32>
  return
}

// -----

func.func @release_then_use(%x: tensor<?x?x8xf32>) {
  %g = tpc.gelu %x : tensor<?x?x8xf32>
  tpc.release %g : tensor<?x?x8xf32>
  // expected-error @+1 {{'tpc.silu' op uses a value released earlier by tpc.release}}
  %s = tpc.silu %g : tensor<?x?x8xf32>
  return
}

// -----

func.func @release_weight() {
  %w = tpc.weight "w" : tensor<8xf32>
  // expected-error @+1 {{operand #0 is program state (a weight or a KV cache), which lives across calls}}
  tpc.release %w : tensor<8xf32>
  return
}

// -----

func.func @release_twice(%x: tensor<?x?x8xf32>) {
  %g = tpc.gelu %x : tensor<?x?x8xf32>
  // expected-error @+1 {{releases operand #1 twice}}
  tpc.release %g, %g : tensor<?x?x8xf32>, tensor<?x?x8xf32>
  return
}

// -----

func.func @activation_before_partitioning(%x: tensor<?x?x8xf32>, %w: tensor<8x8xf32>) {
  // expected-error @+1 {{fuses an activation only in a partitioned function (tpc-fuse runs after tpc-partition)}}
  %y = tpc.linear %x, %w layout = in_out activation = gelu : (tensor<?x?x8xf32>, tensor<8x8xf32>) -> tensor<?x?x8xf32>
  return
}

// -----

tpc.mesh @mesh ["tp" = 2]
func.func @activation_of_partial_sum(%x: tensor<?x?x4xf32>, %w: tensor<4x8xf32>) attributes {tpc.partitioned} {
  // expected-error @+1 {{cannot apply an activation to a partial sum}}
  %y = tpc.linear %x, %w layout = in_out activation = silu {tpc.sharding = #tpc.sharding<@mesh, [{}, {}, {}], partial = {"tp"}>} : (tensor<?x?x4xf32>, tensor<4x8xf32>) -> tensor<?x?x8xf32>
  return
}

// -----

func.func @add_norm_shapes(%x: tensor<?x?x8xf32>, %g: tensor<4xf32>) {
  // expected-error @+1 {{'tpc.add_rms_norm' op}}
  %s, %n = tpc.add_rms_norm %x, %x, %g epsilon = 1.0e-5 : (tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<4xf32>) -> (tensor<?x?x8xf32>, tensor<?x?x8xf32>)
  return
}

// -----

func.func @cross_entropy_vocab(%logits: tensor<?x?x101xf32>, %ids: tensor<?x?xi32>) {
  // expected-error @+1 {{'tpc.cross_entropy' op vocab must be the logits' last dimension 101, got 100}}
  %loss, %lse = tpc.cross_entropy %logits, %ids vocab = 100 ignore_index = -100 : (tensor<?x?x101xf32>, tensor<?x?xi32>) -> (tensor<?x?xf32>, tensor<?x?xf32>)
  return
}

// -----

func.func @cross_entropy_f32(%logits: tensor<?x?x101xbf16>, %ids: tensor<?x?xi32>) {
  // expected-error @+1 {{'tpc.cross_entropy' op losses must be f32, got 'bf16'}}
  %loss, %lse = tpc.cross_entropy %logits, %ids vocab = 101 ignore_index = -100 : (tensor<?x?x101xbf16>, tensor<?x?xi32>) -> (tensor<?x?xbf16>, tensor<?x?xbf16>)
  return
}

// -----

func.func @linear_weight_grad_shape(%x: tensor<?x?x64xf32>, %dy: tensor<?x?x32xf32>) {
  // expected-error @+1 {{'tpc.linear_weight_grad' op result shape must be [64, 32], got [32, 64]}}
  %dw = tpc.linear_weight_grad %x, %dy layout = in_out : (tensor<?x?x64xf32>, tensor<?x?x32xf32>) -> tensor<32x64xf32>
  return
}

// -----

func.func @embedding_grad_vocab(%dy: tensor<?x?x64xf32>, %ids: tensor<?x?xi32>) {
  // expected-error @+1 {{'tpc.embedding_grad' op vocab must be the result's rows 101, got 7}}
  %dt = tpc.embedding_grad %dy, %ids vocab = 7 : (tensor<?x?x64xf32>, tensor<?x?xi32>) -> tensor<101x64xf32>
  return
}

// -----

func.func @concat_shapes(%a: tensor<?x?x64xf32>, %b: tensor<?x?x32xf32>) {
  // expected-error @+1 {{'tpc.concat' op result shape must be [?, ?, 96], got [?, ?, 128]}}
  %c = tpc.concat %a, %b : (tensor<?x?x64xf32>, tensor<?x?x32xf32>) -> tensor<?x?x128xf32>
  return
}

// -----

func.func @accumulate_not_weight(%x: tensor<64xf32>) {
  // expected-error @+1 {{'tpc.accumulate_grad' op weight must be a tpc.weight}}
  tpc.accumulate_grad %x, %x : tensor<64xf32>
  return
}

// -----

func.func @reduce_gradients_not_weight(%x: tensor<64xf32>) {
  %w = tpc.weight "w" : tensor<64xf32>
  // expected-error @+1 {{'tpc.reduce_gradients' op operand 1 must be a tpc.weight}}
  tpc.reduce_gradients %w, %x : tensor<64xf32>, tensor<64xf32>
  return
}

// -----

func.func @reduce_gradients_empty() {
  // expected-error @+1 {{'tpc.reduce_gradients' op expects at least one weight}}
  "tpc.reduce_gradients"() : () -> ()
  return
}

// -----

func.func @norm_grad_scale(%x: tensor<?x?x64xf32>, %g: tensor<32xf32>) {
  // expected-error @+1 {{'tpc.norm_grad' op}}
  %d = tpc.norm_grad %x, %x, %g epsilon = 1.0e-5 : (tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<32xf32>) -> tensor<?x?x64xf32>
  return
}

// -----

func.func @cross_entropy_grad_type(%logits: tensor<?x?x101xf32>, %ids: tensor<?x?xi32>, %lse: tensor<?x?xf32>) {
  // expected-error @+1 {{'tpc.cross_entropy_grad' op result type must be the logits' type 'tensor<?x?x101xf32>', got 'tensor<?x?x100xf32>'}}
  %d = tpc.cross_entropy_grad %logits, %ids, %lse, %lse vocab = 101 ignore_index = -100 : (tensor<?x?x101xf32>, tensor<?x?xi32>, tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?x100xf32>
  return
}

// -----

func.func @attention_grad_types(%q: tensor<?x?x64xf32>, %kv: tensor<?x?x32xf32>) {
  // expected-error @+1 {{'tpc.attention_grad' op dk type must be 'tensor<?x?x32xf32>', got 'tensor<?x?x64xf32>'}}
  %dq, %dk, %dv = tpc.attention_grad %q, %kv, %kv, %q heads = 4 kv_heads = 2 : (tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32>, tensor<?x?x64xf32>) -> (tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x32xf32>)
  return
}

// -----

func.func @norm_scale_grad_type(%x: tensor<?x?x64xf32>, %dy: tensor<?x?x32xf32>) {
  // expected-error @+1 {{'tpc.norm_scale_grad' op grad type must be the input's 'tensor<?x?x64xf32>', got 'tensor<?x?x32xf32>'}}
  %d = tpc.norm_scale_grad %x, %dy epsilon = 1.0e-5 : (tensor<?x?x64xf32>, tensor<?x?x32xf32>) -> tensor<64xf32>
  return
}

// -----

func.func @concat_nothing() {
  // expected-error @+1 {{'tpc.concat' op needs at least one input}}
  %c = tpc.concat : () -> tensor<?x?x8xf32>
  return
}

// -----

func.func @accumulate_embedding_not_weight(%t: tensor<11x8xf32>, %g: tensor<?x?x8xf32>, %ids: tensor<?x?xi32>) {
  // expected-error @+1 {{'tpc.accumulate_embedding_grad' op weight must be a tpc.weight}}
  tpc.accumulate_embedding_grad %t, %g, %ids vocab = 11 : tensor<11x8xf32>, tensor<?x?x8xf32>, tensor<?x?xi32>
  return
}

// -----

func.func @accumulate_embedding_hidden(%g: tensor<?x?x4xf32>, %ids: tensor<?x?xi32>) {
  %t = tpc.weight "wte" : tensor<11x8xf32>
  // expected-error @+1 {{'tpc.accumulate_embedding_grad' op expects a [rows, hidden] table and a gradient of hidden features, got 'tensor<11x8xf32>' and 'tensor<?x?x4xf32>'}}
  tpc.accumulate_embedding_grad %t, %g, %ids vocab = 11 : tensor<11x8xf32>, tensor<?x?x4xf32>, tensor<?x?xi32>
  return
}

// -----

func.func @accumulate_linear_not_weight(%w: tensor<8x8xf32>, %x: tensor<?x?x8xf32>) {
  // expected-error @+1 {{'tpc.accumulate_linear_weight_grad' op weight must be a tpc.weight}}
  tpc.accumulate_linear_weight_grad %w, %x, %x layout = in_out : tensor<8x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>
  return
}

// -----

func.func @accumulate_linear_not_matrix(%x: tensor<?x?x8xf32>) {
  %w = tpc.weight "scale" : tensor<8xf32>
  // expected-error @+1 {{'tpc.accumulate_linear_weight_grad' op expects a 2-D weight, got 'tensor<8xf32>'}}
  tpc.accumulate_linear_weight_grad %w, %x, %x layout = in_out : tensor<8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>
  return
}
