// tpc-derive-generation: @prefill and @decode from @forward; then the
// tensor-parallel pipeline lays the caches out by KV heads and keeps the
// logits vocabulary-split.
// RUN: tpc-opt %s -split-input-file --tpc-derive-generation | FileCheck %s
// RUN: tpc-opt %s -split-input-file --tpc-derive-generation --tpc-tp-pipeline="tp=4" | FileCheck %s --check-prefix=TP4
// RUN: tpc-opt %s -split-input-file --tpc-derive-generation --tpc-tp-pipeline="tp=4 sequence-parallel=1" | FileCheck %s --check-prefix=SP

// A GPT-2 style model: learned positions, one attention block (4 heads of
// 16), a final norm and a tied LM head.
func.func @forward(%ids: tensor<?x?xi32>) -> tensor<?x?x96xf32> attributes {tpc.eos_token_ids = array<i64: 95>} {
  %wte = tpc.weight "wte.weight" : tensor<96x64xf32>
  %tok = tpc.embedding %wte, %ids : (tensor<96x64xf32>, tensor<?x?xi32>) -> tensor<?x?x64xf32>
  %pos = tpc.positions %ids : tensor<?x?xi32>
  %wpe = tpc.weight "wpe.weight" : tensor<32x64xf32>
  %p = tpc.embedding %wpe, %pos : (tensor<32x64xf32>, tensor<?x?xi32>) -> tensor<?x?x64xf32>
  %x = tpc.add %tok, %p : tensor<?x?x64xf32>
  %g = tpc.weight "ln.weight" : tensor<64xf32>
  %b = tpc.weight "ln.bias" : tensor<64xf32>
  %n = tpc.layer_norm %x, %g, %b epsilon = 1.0e-5 : (tensor<?x?x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x?x64xf32>
  %w = tpc.weight "attn.c_attn.weight" : tensor<64x192xf32>
  %qkv = tpc.linear %n, %w layout = in_out : (tensor<?x?x64xf32>, tensor<64x192xf32>) -> tensor<?x?x192xf32>
  %q, %k, %v = tpc.split %qkv : tensor<?x?x192xf32> -> tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>
  %a = tpc.attention %q, %k, %v heads = 4 kv_heads = 4 : (tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>) -> tensor<?x?x64xf32>
  %wo = tpc.weight "attn.c_proj.weight" : tensor<64x64xf32>
  %o = tpc.linear %a, %wo layout = in_out : (tensor<?x?x64xf32>, tensor<64x64xf32>) -> tensor<?x?x64xf32>
  %r = tpc.add %x, %o : tensor<?x?x64xf32>
  %f = tpc.layer_norm %r, %g, %b epsilon = 1.0e-5 : (tensor<?x?x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x?x64xf32>
  %logits = tpc.lm_head %f, %wte : (tensor<?x?x64xf32>, tensor<96x64xf32>) -> tensor<?x?x96xf32>
  return %logits : tensor<?x?x96xf32>
}

// @forward is kept as it was.
// CHECK-LABEL: func.func @forward(
// CHECK-SAME: -> tensor<?x?x96xf32>
// CHECK: tpc.positions %{{.*}} : tensor<?x?xi32>
// CHECK: tpc.attention %{{.*}}, %{{.*}}, %{{.*}} heads = 4

// Prefill: offsets and lengths per sequence; positions from the offsets;
// each attention writes its caches and reads them; the last token is taken
// before the final norm and the LM head.
// CHECK-LABEL: func.func @prefill(
// CHECK-SAME: %[[IDS:[^:]*]]: tensor<?x?xi32>, %[[OFF:[^:]*]]: tensor<?xi32>, %[[LEN:[^:]*]]: tensor<?xi32>) -> tensor<?x96xf32>
// CHECK-SAME: tpc.eos_token_ids = array<i64: 95>
// CHECK-SAME: tpc.sharded_results
// CHECK: tpc.positions %[[IDS]] offsets %[[OFF]] : tensor<?x?xi32>, tensor<?xi32>
// CHECK: %[[Q:.*]]:3 = tpc.split
// CHECK: %[[KC:.*]] = tpc.kv_cache "attention.0.k_cache" : tensor<?x?x64xf32>
// CHECK: %[[K:.*]] = tpc.cache_update %[[KC]], %[[Q]]#1, %[[OFF]]
// CHECK: %[[VC:.*]] = tpc.kv_cache "attention.0.v_cache" : tensor<?x?x64xf32>
// CHECK: %[[V:.*]] = tpc.cache_update %[[VC]], %[[Q]]#2, %[[OFF]]
// CHECK: tpc.attention %[[Q]]#0, %[[K]], %[[V]] offsets %[[OFF]] heads = 4 kv_heads = 4 : (tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?xi32>) -> tensor<?x?x64xf32>
// CHECK: %[[R:.*]] = tpc.add
// CHECK: %[[LAST:.*]] = tpc.last_token %[[R]], %[[LEN]] : (tensor<?x?x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
// CHECK: %[[F:.*]] = tpc.layer_norm %[[LAST]], {{.*}} -> tensor<?x64xf32>
// CHECK: %[[L:.*]] = tpc.lm_head %[[F]], {{.*}} -> tensor<?x96xf32>
// CHECK: return %[[L]] : tensor<?x96xf32>

// Decode: the same rewrites, for one new token per sequence.
// CHECK-LABEL: func.func @decode(
// CHECK-SAME: tensor<?x1xi32>, %{{[^:]*}}: tensor<?xi32>, %{{[^:]*}}: tensor<?xi32>) -> tensor<?x96xf32>
// CHECK: tpc.embedding {{.*}} -> tensor<?x1x64xf32>
// CHECK: tpc.kv_cache "attention.0.k_cache" : tensor<?x?x64xf32>
// CHECK: tpc.attention {{.*}} : (tensor<?x1x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?xi32>) -> tensor<?x1x64xf32>
// CHECK: tpc.last_token {{.*}} : (tensor<?x1x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>

// At tp = 4 the caches hold whole heads like the keys that fill them; the
// logits stay split over the vocabulary; decode has one all-reduce per
// row-split linear, like forward.
// TP4-LABEL: func.func @decode(
// TP4-SAME: -> tensor<?x24xf32>
// TP4: tpc.kv_cache "attention.0.k_cache" {global_features = 64 : i64, tpc.sharding = #tpc.sharding<@mesh, [{}, {}, {"tp", unit = 16}]>} : tensor<?x?x16xf32>
// TP4: tpc.attention {{.*}} offsets
// TP4-SAME: -> tensor<?x1x16xf32>
// TP4: tpc.all_reduce
// TP4-NOT: tpc.all_gather
// TP4: %[[L:.*]] = tpc.lm_head {{.*}} {tpc.sharding = #tpc.sharding<@mesh, [{}, {"tp"}]>} : (tensor<?x64xf32>, tensor<24x64xf32>) -> tensor<?x24xf32>
// TP4-NEXT: return %[[L]] : tensor<?x24xf32>

// Sequence parallelism applies to prefill (the prompt's sequence is split
// between the collectives), not to decode (one token per sequence).
// SP-LABEL: func.func @prefill(
// SP: tpc.reduce_scatter
// SP: tpc.all_gather
// SP-LABEL: func.func @decode(
// SP-NOT: tpc.reduce_scatter
// SP: return

// -----

// GQA with fewer KV heads (2) than ranks (4): each rank holds the KV head
// its query heads use, so pairs of ranks share one.
func.func @forward(%ids: tensor<?x?xi32>) -> tensor<?x?x64xf32> {
  %e = tpc.weight "embed.weight" : tensor<64x64xf32>
  %x = tpc.embedding %e, %ids : (tensor<64x64xf32>, tensor<?x?xi32>) -> tensor<?x?x64xf32>
  %wq = tpc.weight "q.weight" : tensor<64x64xf32>
  %wk = tpc.weight "k.weight" : tensor<32x64xf32>
  %q = tpc.linear %x, %wq layout = out_in : (tensor<?x?x64xf32>, tensor<64x64xf32>) -> tensor<?x?x64xf32>
  %k = tpc.linear %x, %wk layout = out_in : (tensor<?x?x64xf32>, tensor<32x64xf32>) -> tensor<?x?x32xf32>
  %qr = tpc.rope %q head_dim = 16 theta = 1.0e4 : tensor<?x?x64xf32>
  %kr = tpc.rope %k head_dim = 16 theta = 1.0e4 : tensor<?x?x32xf32>
  %a = tpc.attention %qr, %kr, %k heads = 4 kv_heads = 2 : (tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32>) -> tensor<?x?x64xf32>
  %wo = tpc.weight "o.weight" : tensor<64x64xf32>
  %o = tpc.linear %a, %wo layout = out_in : (tensor<?x?x64xf32>, tensor<64x64xf32>) -> tensor<?x?x64xf32>
  %logits = tpc.lm_head %o, %e : (tensor<?x?x64xf32>, tensor<64x64xf32>) -> tensor<?x?x64xf32>
  return %logits : tensor<?x?x64xf32>
}

// RoPE counts from the offsets; the value cache keeps the unrotated keys.
// CHECK-LABEL: func.func @decode(
// CHECK-SAME: %{{[^:]*}}: tensor<?x1xi32>, %[[OFF:[^:]*]]: tensor<?xi32>
// CHECK: tpc.rope %{{.*}} offsets %[[OFF]] head_dim = 16
// CHECK: %[[KR:.*]] = tpc.rope %[[K:.*]] offsets %[[OFF]] head_dim = 16
// CHECK: tpc.cache_update %{{.*}}, %[[KR]], %[[OFF]]
// CHECK: tpc.cache_update %{{.*}}, %[[K]], %[[OFF]]
// The last token is taken through the output projection too.
// CHECK: %[[LAST:.*]] = tpc.last_token %{{.*}}, %{{.*}} : (tensor<?x1x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
// CHECK: tpc.linear %[[LAST]]

// TP4-LABEL: func.func @decode(
// TP4: tpc.kv_cache "attention.0.k_cache" {global_features = 32 : i64, tpc.sharding = #tpc.sharding<@mesh, [{}, {}, {"tp", unit = 16, groups = 2}]>} : tensor<?x?x16xf32>
// TP4: tpc.kv_cache "attention.0.v_cache" {global_features = 32 : i64, tpc.sharding = #tpc.sharding<@mesh, [{}, {}, {"tp", unit = 16, groups = 2}]>} : tensor<?x?x16xf32>
// SP-LABEL: func.func @decode(

