// Round trip of every tpc op: parse, verify, print, parse again.
// RUN: tpc-opt %s | tpc-opt | FileCheck %s
// RUN: tpc-opt %s --mlir-print-op-generic | tpc-opt | FileCheck %s

tpc.mesh @mesh ["tp" = 4]

// CHECK-LABEL: func.func @embedding
func.func @embedding(%ids: tensor<?x?xi32>) -> tensor<?x?x64xf32> {
  // CHECK: %[[WTE:.*]] = tpc.weight "wte.weight" : tensor<101x64xf32>
  %wte = tpc.weight "wte.weight" : tensor<101x64xf32>
  // CHECK: %[[TOK:.*]] = tpc.embedding %[[WTE]], %{{.*}} : (tensor<101x64xf32>, tensor<?x?xi32>) -> tensor<?x?x64xf32>
  %tok = tpc.embedding %wte, %ids : (tensor<101x64xf32>, tensor<?x?xi32>) -> tensor<?x?x64xf32>
  // CHECK: %[[POS:.*]] = tpc.positions %{{.*}} : tensor<?x?xi32>
  %pos = tpc.positions %ids : tensor<?x?xi32>
  %wpe = tpc.weight "wpe.weight" : tensor<32x64xf32>
  // CHECK: tpc.embedding %{{.*}}, %[[POS]]
  %p = tpc.embedding %wpe, %pos : (tensor<32x64xf32>, tensor<?x?xi32>) -> tensor<?x?x64xf32>
  // CHECK: tpc.add %[[TOK]], %{{.*}} : tensor<?x?x64xf32>
  %sum = tpc.add %tok, %p : tensor<?x?x64xf32>
  return %sum : tensor<?x?x64xf32>
}

// CHECK-LABEL: func.func @linear_layouts
func.func @linear_layouts(%x: tensor<2x5x64xf32>) -> tensor<2x5x96xf32> {
  %w1 = tpc.weight "c_fc.weight" : tensor<64x96xf32>
  %b1 = tpc.weight "c_fc.bias" : tensor<96xf32>
  // CHECK: tpc.linear %{{.*}}, %{{.*}}, %{{.*}} layout = in_out : (tensor<2x5x64xf32>, tensor<64x96xf32>, tensor<96xf32>) -> tensor<2x5x96xf32>
  %y1 = tpc.linear %x, %w1, %b1 layout = in_out : (tensor<2x5x64xf32>, tensor<64x96xf32>, tensor<96xf32>) -> tensor<2x5x96xf32>
  %w2 = tpc.weight "up_proj.weight" : tensor<96x64xf32>
  // CHECK: tpc.linear %{{.*}}, %{{.*}} layout = out_in : (tensor<2x5x64xf32>, tensor<96x64xf32>) -> tensor<2x5x96xf32>
  %y2 = tpc.linear %x, %w2 layout = out_in : (tensor<2x5x64xf32>, tensor<96x64xf32>) -> tensor<2x5x96xf32>
  // CHECK: tpc.mul %{{.*}}, %{{.*}} : tensor<2x5x96xf32>
  %y = tpc.mul %y1, %y2 : tensor<2x5x96xf32>
  return %y : tensor<2x5x96xf32>
}

// CHECK-LABEL: func.func @norms_and_activations
func.func @norms_and_activations(%x: tensor<?x?x64xbf16>) -> tensor<?x?x64xbf16> {
  %g = tpc.weight "ln.weight" : tensor<64xbf16>
  %b = tpc.weight "ln.bias" : tensor<64xbf16>
  // CHECK: tpc.layer_norm %{{.*}}, %{{.*}}, %{{.*}} epsilon = 1.000000e-05 : (tensor<?x?x64xbf16>, tensor<64xbf16>, tensor<64xbf16>) -> tensor<?x?x64xbf16>
  %ln = tpc.layer_norm %x, %g, %b epsilon = 1.0e-5 : (tensor<?x?x64xbf16>, tensor<64xbf16>, tensor<64xbf16>) -> tensor<?x?x64xbf16>
  // CHECK: tpc.rms_norm %{{.*}}, %{{.*}} epsilon = 9.9999999999999995E-7 : (tensor<?x?x64xbf16>, tensor<64xbf16>) -> tensor<?x?x64xbf16>
  %rms = tpc.rms_norm %ln, %g epsilon = 1.0e-6 : (tensor<?x?x64xbf16>, tensor<64xbf16>) -> tensor<?x?x64xbf16>
  // CHECK: tpc.gelu %{{.*}} : tensor<?x?x64xbf16>
  %ge = tpc.gelu %rms : tensor<?x?x64xbf16>
  // CHECK: tpc.silu %{{.*}} : tensor<?x?x64xbf16>
  %si = tpc.silu %ge : tensor<?x?x64xbf16>
  // CHECK: tpc.release %{{.*}}, %{{.*}} : tensor<?x?x64xbf16>, tensor<?x?x64xbf16>
  tpc.release %ln, %ge : tensor<?x?x64xbf16>, tensor<?x?x64xbf16>
  return %si : tensor<?x?x64xbf16>
}

// CHECK-LABEL: func.func @gqa_attention
func.func @gqa_attention(%q: tensor<?x?x64xf16>, %kv: tensor<?x?x32xf16>) -> tensor<?x?x64xf16> {
  // CHECK: %[[QR:.*]] = tpc.rope %{{.*}} head_dim = 16 theta = 1.000000e+04 : tensor<?x?x64xf16>
  %qr = tpc.rope %q head_dim = 16 theta = 10000.0 : tensor<?x?x64xf16>
  // CHECK: %[[KR:.*]] = tpc.rope %{{.*}} head_dim = 16 theta = 5.000000e+05 : tensor<?x?x32xf16>
  %kr = tpc.rope %kv head_dim = 16 theta = 500000.0 : tensor<?x?x32xf16>
  // CHECK: tpc.attention %[[QR]], %[[KR]], %{{.*}} heads = 4 kv_heads = 2 : (tensor<?x?x64xf16>, tensor<?x?x32xf16>, tensor<?x?x32xf16>) -> tensor<?x?x64xf16>
  %a = tpc.attention %qr, %kr, %kv heads = 4 kv_heads = 2 : (tensor<?x?x64xf16>, tensor<?x?x32xf16>, tensor<?x?x32xf16>) -> tensor<?x?x64xf16>
  // CHECK: tpc.attention {{.*}} heads = 4 kv_heads = 2 window = 4096 :
  %w = tpc.attention %qr, %kr, %kv heads = 4 kv_heads = 2 window = 4096 : (tensor<?x?x64xf16>, tensor<?x?x32xf16>, tensor<?x?x32xf16>) -> tensor<?x?x64xf16>
  return %w : tensor<?x?x64xf16>
}

// CHECK-LABEL: func.func @fused_qkv_split
func.func @fused_qkv_split(%qkv: tensor<?x?x192xf32>) -> tensor<?x?x64xf32> {
  // CHECK: %[[S:.*]]:3 = tpc.split %{{.*}} : tensor<?x?x192xf32> -> tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>
  %q, %k, %v = tpc.split %qkv : tensor<?x?x192xf32> -> tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>
  // CHECK: tpc.attention %[[S]]#0, %[[S]]#1, %[[S]]#2 heads = 4 kv_heads = 4
  %a = tpc.attention %q, %k, %v heads = 4 kv_heads = 4 : (tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>) -> tensor<?x?x64xf32>
  return %a : tensor<?x?x64xf32>
}

// CHECK-LABEL: func.func @lm_head
// CHECK-SAME: attributes {tpc.max_positions = 1024 : i64, tpc.model_type = "gpt2"}
func.func @lm_head(%x: tensor<?x?x64xf32>) -> tensor<?x?x101xf32> attributes {tpc.model_type = "gpt2", tpc.max_positions = 1024 : i64} {
  %wte = tpc.weight "wte.weight" : tensor<101x64xf32>
  // CHECK: tpc.lm_head %{{.*}}, %{{.*}} : (tensor<?x?x64xf32>, tensor<101x64xf32>) -> tensor<?x?x101xf32>
  %logits = tpc.lm_head %x, %wte : (tensor<?x?x64xf32>, tensor<101x64xf32>) -> tensor<?x?x101xf32>
  return %logits : tensor<?x?x101xf32>
}

// CHECK-LABEL: func.func @collectives
func.func @collectives(%x: tensor<2x8x64xf32>) -> tensor<2x8x64xf32> {
  // CHECK: %[[AR:.*]] = tpc.all_reduce %{{.*}} over @mesh["tp"] : tensor<2x8x64xf32>
  %ar = tpc.all_reduce %x over @mesh["tp"] : tensor<2x8x64xf32>
  // CHECK: %[[RS:.*]] = tpc.reduce_scatter %[[AR]] over @mesh["tp"] dim = 1 : tensor<2x8x64xf32> -> tensor<2x2x64xf32>
  %rs = tpc.reduce_scatter %ar over @mesh["tp"] dim = 1 : tensor<2x8x64xf32> -> tensor<2x2x64xf32>
  // CHECK: %[[AG:.*]] = tpc.all_gather %[[RS]] over @mesh["tp"] dim = 1 : tensor<2x2x64xf32> -> tensor<2x8x64xf32>
  %ag = tpc.all_gather %rs over @mesh["tp"] dim = 1 : tensor<2x2x64xf32> -> tensor<2x8x64xf32>
  // CHECK: tpc.all_slice %[[AG]] over @mesh["tp"] dim = 2 : tensor<2x8x64xf32> -> tensor<2x8x16xf32>
  %sl = tpc.all_slice %ag over @mesh["tp"] dim = 2 : tensor<2x8x64xf32> -> tensor<2x8x16xf32>
  return %ag : tensor<2x8x64xf32>
}

// Dynamic dimensions stay dynamic through collectives.
// CHECK-LABEL: func.func @dynamic_collectives
func.func @dynamic_collectives(%x: tensor<?x?x64xf32>) -> tensor<?x?x64xf32> {
  // CHECK: tpc.reduce_scatter %{{.*}} over @mesh["tp"] dim = 1 : tensor<?x?x64xf32> -> tensor<?x?x64xf32>
  %rs = tpc.reduce_scatter %x over @mesh["tp"] dim = 1 : tensor<?x?x64xf32> -> tensor<?x?x64xf32>
  // CHECK: tpc.all_gather %{{.*}} over @mesh["tp"] dim = 2 : tensor<?x?x64xf32> -> tensor<?x?x256xf32>
  %ag = tpc.all_gather %rs over @mesh["tp"] dim = 2 : tensor<?x?x64xf32> -> tensor<?x?x256xf32>
  %w = tpc.weight "w" : tensor<256x64xf32>
  %y = tpc.linear %ag, %w layout = in_out : (tensor<?x?x256xf32>, tensor<256x64xf32>) -> tensor<?x?x64xf32>
  return %y : tensor<?x?x64xf32>
}

// Generation: positions and RoPE from per-sequence offsets, KV caches,
// attention over a cache, and each sequence's last token.
// CHECK-LABEL: func.func @generation
func.func @generation(%ids: tensor<?x1xi32>, %offsets: tensor<?xi32>, %lengths: tensor<?xi32>, %q: tensor<?x1x64xf32>, %k: tensor<?x1x32xf32>, %v: tensor<?x1x32xf32>) -> tensor<?x64xf32> {
  // CHECK: tpc.positions %{{.*}} offsets %{{.*}} : tensor<?x1xi32>, tensor<?xi32>
  %pos = tpc.positions %ids offsets %offsets : tensor<?x1xi32>, tensor<?xi32>
  // CHECK: %[[QR:.*]] = tpc.rope %{{.*}} offsets %{{.*}} head_dim = 16 theta = 1.000000e+04 : tensor<?x1x64xf32>, tensor<?xi32>
  %qr = tpc.rope %q offsets %offsets head_dim = 16 theta = 10000.0 : tensor<?x1x64xf32>, tensor<?xi32>
  // CHECK: %[[KC:.*]] = tpc.kv_cache "layers.0.k_cache" : tensor<?x?x32xf32>
  %kc = tpc.kv_cache "layers.0.k_cache" : tensor<?x?x32xf32>
  // CHECK: %[[K1:.*]] = tpc.cache_update %[[KC]], %{{.*}}, %{{.*}} : (tensor<?x?x32xf32>, tensor<?x1x32xf32>, tensor<?xi32>) -> tensor<?x?x32xf32>
  %k1 = tpc.cache_update %kc, %k, %offsets : (tensor<?x?x32xf32>, tensor<?x1x32xf32>, tensor<?xi32>) -> tensor<?x?x32xf32>
  %vc = tpc.kv_cache "layers.0.v_cache" : tensor<?x?x32xf32>
  // CHECK: %[[V1:.*]] = tpc.cache_update
  %v1 = tpc.cache_update %vc, %v, %offsets : (tensor<?x?x32xf32>, tensor<?x1x32xf32>, tensor<?xi32>) -> tensor<?x?x32xf32>
  // CHECK: %[[A:.*]] = tpc.attention %[[QR]], %[[K1]], %[[V1]] offsets %{{.*}} heads = 4 kv_heads = 2 window = 8 : (tensor<?x1x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32>, tensor<?xi32>) -> tensor<?x1x64xf32>
  %a = tpc.attention %qr, %k1, %v1 offsets %offsets heads = 4 kv_heads = 2 window = 8 : (tensor<?x1x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32>, tensor<?xi32>) -> tensor<?x1x64xf32>
  // CHECK: tpc.last_token %[[A]], %{{.*}} : (tensor<?x1x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
  %last = tpc.last_token %a, %lengths : (tensor<?x1x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
  return %last : tensor<?x64xf32>
}

// A function whose results stay split, with its end-of-sequence ids.
// CHECK-LABEL: func.func @sharded_results
// CHECK-SAME: attributes {tpc.eos_token_ids = array<i64: 2, 7>, tpc.sharded_results}
func.func @sharded_results(%x: tensor<?x64xf32>) -> tensor<?x64xf32> attributes {tpc.sharded_results, tpc.eos_token_ids = array<i64: 2, 7>} {
  return %x : tensor<?x64xf32>
}

// The loss and gradient ops of a training step.
// CHECK-LABEL: func.func @training
func.func @training(%ids: tensor<?x?xi32>, %x: tensor<?x?x64xf32>, %dy: tensor<?x?x64xf32>, %logits: tensor<?x?x101xf32>, %dloss: tensor<?x?xf32>) {
  %w = tpc.weight "w" : tensor<64x64xf32>
  %g = tpc.weight "g" : tensor<64xf32>
  // CHECK: %[[LOSS:.*]], %[[LSE:.*]] = tpc.cross_entropy %{{.*}}, %{{.*}} vocab = 101 ignore_index = -100 : (tensor<?x?x101xf32>, tensor<?x?xi32>) -> (tensor<?x?xf32>, tensor<?x?xf32>)
  %loss, %lse = tpc.cross_entropy %logits, %ids vocab = 101 ignore_index = -100 : (tensor<?x?x101xf32>, tensor<?x?xi32>) -> (tensor<?x?xf32>, tensor<?x?xf32>)
  // CHECK: tpc.cross_entropy_grad %{{.*}}, %{{.*}}, %[[LSE]], %{{.*}} vocab = 101 ignore_index = -100
  %dl = tpc.cross_entropy_grad %logits, %ids, %lse, %dloss vocab = 101 ignore_index = -100 : (tensor<?x?x101xf32>, tensor<?x?xi32>, tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?x101xf32>
  // CHECK: tpc.linear_weight_grad %{{.*}}, %{{.*}} layout = out_in : (tensor<?x?x64xf32>, tensor<?x?x64xf32>) -> tensor<64x64xf32>
  %dw = tpc.linear_weight_grad %x, %dy layout = out_in : (tensor<?x?x64xf32>, tensor<?x?x64xf32>) -> tensor<64x64xf32>
  // CHECK: tpc.sum_rows %{{.*}} : (tensor<?x?x64xf32>) -> tensor<64xf32>
  %db = tpc.sum_rows %dy : (tensor<?x?x64xf32>) -> tensor<64xf32>
  // CHECK: tpc.embedding_grad %{{.*}}, %{{.*}} vocab = 101 : (tensor<?x?x64xf32>, tensor<?x?xi32>) -> tensor<101x64xf32>
  %dt = tpc.embedding_grad %dy, %ids vocab = 101 : (tensor<?x?x64xf32>, tensor<?x?xi32>) -> tensor<101x64xf32>
  // CHECK: tpc.gelu_grad %{{.*}}, %{{.*}} : tensor<?x?x64xf32>
  %d1 = tpc.gelu_grad %x, %dy : tensor<?x?x64xf32>
  // CHECK: tpc.silu_grad %{{.*}}, %{{.*}} : tensor<?x?x64xf32>
  %d2 = tpc.silu_grad %x, %dy : tensor<?x?x64xf32>
  // CHECK: tpc.norm_grad %{{.*}}, %{{.*}}, %{{.*}} epsilon = 1.000000e-05 centered
  %d3 = tpc.norm_grad %x, %dy, %g epsilon = 1.0e-5 centered : (tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<64xf32>) -> tensor<?x?x64xf32>
  // CHECK: tpc.norm_scale_grad %{{.*}}, %{{.*}} epsilon = 1.000000e-05 :
  %d4 = tpc.norm_scale_grad %x, %dy epsilon = 1.0e-5 : (tensor<?x?x64xf32>, tensor<?x?x64xf32>) -> tensor<64xf32>
  // CHECK: tpc.rope_grad %{{.*}} head_dim = 16 theta = 1.000000e+04 : tensor<?x?x64xf32>
  %d5 = tpc.rope_grad %dy head_dim = 16 theta = 1.0e4 : tensor<?x?x64xf32>
  // CHECK: tpc.attention_grad %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} heads = 4 kv_heads = 4 window = 8
  %dq, %dk, %dv = tpc.attention_grad %x, %d1, %d1, %dy heads = 4 kv_heads = 4 window = 8 : (tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>) -> (tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>)
  // CHECK: tpc.concat %{{.*}}, %{{.*}} : (tensor<?x?x64xf32>, tensor<?x?x64xf32>) -> tensor<?x?x128xf32>
  %c = tpc.concat %dq, %dk : (tensor<?x?x64xf32>, tensor<?x?x64xf32>) -> tensor<?x?x128xf32>
  // CHECK: tpc.accumulate_grad %{{.*}}, %{{.*}} : tensor<64x64xf32>
  tpc.accumulate_grad %w, %dw : tensor<64x64xf32>
  // CHECK: tpc.accumulate_grad %{{.*}}, %{{.*}} partial : tensor<64x64xf32>
  tpc.accumulate_grad %w, %dw partial : tensor<64x64xf32>
  return
}
