// The tensor-parallel pipeline (auto-shard + partition) finds minimal-
// communication plans from the sharding rules and the cost model alone:
// exact collectives per graph. The blocks here are small versions of the
// real ones; the examples and imported models are checked at full size in
// tp-models.test.
// RUN: tpc-opt %s -split-input-file --tpc-tp-pipeline=tp=4 | FileCheck %s

// An MLP: column split, activation on the slice, row split, one all-reduce.
// CHECK-LABEL: func.func @mlp
// CHECK-SAME:    attributes {tpc.partitioned}
// CHECK:   tpc.weight "fc.weight" {global_shape = {{.*}}, tpc.sharding = #tpc.sharding<@mesh, [{}, {"tp"}]>} : tensor<512x512xf32>
// CHECK:   %[[UP:.*]] = tpc.linear {{.*}} -> tensor<?x?x512xf32>
// CHECK:   %[[ACT:.*]] = tpc.gelu %[[UP]] {{.*}} : tensor<?x?x512xf32>
// CHECK:   tpc.weight "proj.weight" {global_shape = {{.*}}, tpc.sharding = #tpc.sharding<@mesh, [{"tp"}, {}]>} : tensor<512x512xf32>
// CHECK:   %[[DOWN:.*]] = tpc.linear %[[ACT]], {{.*}} partial = {"tp"}>} : (tensor<?x?x512xf32>, tensor<512x512xf32>) -> tensor<?x?x512xf32>
// CHECK:   %[[SUM:.*]] = tpc.all_reduce %[[DOWN]] over @mesh["tp"] {bytes_per_token = 3072 : i64, cause = "tpc.add at
// CHECK:   tpc.add %{{.*}}, %[[SUM]]
// CHECK-NOT: tpc.all_
func.func @mlp(%x: tensor<?x?x512xf32>) -> tensor<?x?x512xf32> {
  %w1 = tpc.weight "fc.weight" : tensor<512x2048xf32>
  %h = tpc.linear %x, %w1 layout = in_out : (tensor<?x?x512xf32>, tensor<512x2048xf32>) -> tensor<?x?x2048xf32>
  %a = tpc.gelu %h : tensor<?x?x2048xf32>
  %w2 = tpc.weight "proj.weight" : tensor<2048x512xf32>
  %y = tpc.linear %a, %w2 layout = in_out : (tensor<?x?x2048xf32>, tensor<2048x512xf32>) -> tensor<?x?x512xf32>
  %r = tpc.add %x, %y : tensor<?x?x512xf32>
  return %r : tensor<?x?x512xf32>
}


// -----

// Attention with a fused [q|k|v] projection: column split section by section
// in whole heads (each rank 2 of 8 heads of q, of k and of v), attention per
// head, output projection row split, one all-reduce. The row-split bias is
// whole: the first rank adds it.
// CHECK-LABEL: func.func @attention
// CHECK:   tpc.weight "c_attn.weight" {global_shape = {{.*}}, tpc.sharding = #tpc.sharding<@mesh, [{}, {"tp", unit = 32, sections = 3}]>} : tensor<256x192xf32>
// CHECK:   tpc.weight "c_attn.bias" {global_shape = {{.*}}, tpc.sharding = #tpc.sharding<@mesh, [{"tp", unit = 32, sections = 3}]>} : tensor<192xf32>
// CHECK:   tpc.split {{.*}} : tensor<?x?x192xf32> -> tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>
// CHECK:   tpc.attention {{.*}} heads = 8 kv_heads = 8 {tpc.sharding = #tpc.sharding<@mesh, [{}, {}, {"tp", unit = 32}]>} {{.*}} -> tensor<?x?x64xf32>
// CHECK:   tpc.weight "c_proj.weight" {global_shape = {{.*}}, tpc.sharding = #tpc.sharding<@mesh, [{"tp", unit = 32}, {}]>} : tensor<64x256xf32>
// CHECK:   tpc.weight "c_proj.bias" {global_shape = {{.*}}, tpc.sharding = #tpc.sharding<@mesh, [{}]>} : tensor<256xf32>
// CHECK:   tpc.all_reduce {{.*}} {bytes_per_token = 1536 : i64
// CHECK-NOT: tpc.all_
// CHECK:   return
func.func @attention(%x: tensor<?x?x256xf32>) -> tensor<?x?x256xf32> {
  %w = tpc.weight "c_attn.weight" : tensor<256x768xf32>
  %b = tpc.weight "c_attn.bias" : tensor<768xf32>
  %qkv = tpc.linear %x, %w, %b layout = in_out : (tensor<?x?x256xf32>, tensor<256x768xf32>, tensor<768xf32>) -> tensor<?x?x768xf32>
  %q, %k, %v = tpc.split %qkv : tensor<?x?x768xf32> -> tensor<?x?x256xf32>, tensor<?x?x256xf32>, tensor<?x?x256xf32>
  %a = tpc.attention %q, %k, %v heads = 8 kv_heads = 8 : (tensor<?x?x256xf32>, tensor<?x?x256xf32>, tensor<?x?x256xf32>) -> tensor<?x?x256xf32>
  %wo = tpc.weight "c_proj.weight" : tensor<256x256xf32>
  %bo = tpc.weight "c_proj.bias" : tensor<256xf32>
  %o = tpc.linear %a, %wo, %bo layout = in_out : (tensor<?x?x256xf32>, tensor<256x256xf32>, tensor<256xf32>) -> tensor<?x?x256xf32>
  %r = tpc.add %x, %o : tensor<?x?x256xf32>
  return %r : tensor<?x?x256xf32>
}

// -----

// Three chained linears, a shape no known pattern covers: every weight is
// split and two collectives carry (3/4) * (2048 + 512) * 4 * ... bytes, the
// least any plan of this chain needs.
// CHECK-LABEL: func.func @chain
// CHECK:   tpc.weight "l1.weight" {global_shape = {{.*}}, tpc.sharding = #tpc.sharding<@mesh, [{}, {"tp"}]>} : tensor<512x512xf32>
// CHECK:   tpc.weight "l2.weight" {global_shape = {{.*}}, tpc.sharding = #tpc.sharding<@mesh, [{}, {"tp"}]>} : tensor<2048x512xf32>
// CHECK:   tpc.weight "l3.weight" {global_shape = {{.*}}, tpc.sharding = #tpc.sharding<@mesh, [{"tp"}, {}]>} : tensor<512x512xf32>
// CHECK:   tpc.all_gather {{.*}} dim = 2 {bytes_per_token = 6144 : i64
// CHECK:   tpc.all_reduce {{.*}} {bytes_per_token = 3072 : i64
// CHECK-NOT: tpc.all_
// CHECK:   return
func.func @chain(%x: tensor<?x?x512xf32>) -> tensor<?x?x512xf32> {
  %w1 = tpc.weight "l1.weight" : tensor<512x2048xf32>
  %w2 = tpc.weight "l2.weight" : tensor<2048x2048xf32>
  %w3 = tpc.weight "l3.weight" : tensor<2048x512xf32>
  %a = tpc.linear %x, %w1 layout = in_out : (tensor<?x?x512xf32>, tensor<512x2048xf32>) -> tensor<?x?x2048xf32>
  %b = tpc.linear %a, %w2 layout = in_out : (tensor<?x?x2048xf32>, tensor<2048x2048xf32>) -> tensor<?x?x2048xf32>
  %c = tpc.linear %b, %w3 layout = in_out : (tensor<?x?x2048xf32>, tensor<2048x512xf32>) -> tensor<?x?x512xf32>
  return %c : tensor<?x?x512xf32>
}

// -----

// GPT-J: attention and MLP in parallel on one normalized input. Both end in
// row splits whose partial sums are added before they are reduced: one
// all-reduce for the whole block.
// CHECK-LABEL: func.func @gptj
// CHECK:   %[[ATTN:.*]] = tpc.linear {{.*}} partial = {"tp"}>}
// CHECK:   %[[MLP:.*]] = tpc.linear {{.*}} partial = {"tp"}>}
// CHECK:   %[[SUM:.*]] = tpc.add %[[ATTN]], %[[MLP]] {tpc.sharding = #tpc.sharding<@mesh, [{}, {}, {}], partial = {"tp"}>}
// CHECK:   %[[WHOLE:.*]] = tpc.all_reduce %[[SUM]] over @mesh["tp"] {bytes_per_token = 1536 : i64
// CHECK:   tpc.add %arg0, %[[WHOLE]]
// CHECK-NOT: tpc.all_
func.func @gptj(%x: tensor<?x?x256xf32>) -> tensor<?x?x256xf32> {
  %g = tpc.weight "ln.weight" : tensor<256xf32>
  %b = tpc.weight "ln.bias" : tensor<256xf32>
  %h = tpc.layer_norm %x, %g, %b epsilon = 1.0e-5 : (tensor<?x?x256xf32>, tensor<256xf32>, tensor<256xf32>) -> tensor<?x?x256xf32>
  %wq = tpc.weight "q.weight" : tensor<256x256xf32>
  %wk = tpc.weight "k.weight" : tensor<256x256xf32>
  %wv = tpc.weight "v.weight" : tensor<256x256xf32>
  %q = tpc.linear %h, %wq layout = out_in : (tensor<?x?x256xf32>, tensor<256x256xf32>) -> tensor<?x?x256xf32>
  %k = tpc.linear %h, %wk layout = out_in : (tensor<?x?x256xf32>, tensor<256x256xf32>) -> tensor<?x?x256xf32>
  %v = tpc.linear %h, %wv layout = out_in : (tensor<?x?x256xf32>, tensor<256x256xf32>) -> tensor<?x?x256xf32>
  %qr = tpc.rope %q head_dim = 32 theta = 10000.0 : tensor<?x?x256xf32>
  %kr = tpc.rope %k head_dim = 32 theta = 10000.0 : tensor<?x?x256xf32>
  %a = tpc.attention %qr, %kr, %v heads = 8 kv_heads = 8 : (tensor<?x?x256xf32>, tensor<?x?x256xf32>, tensor<?x?x256xf32>) -> tensor<?x?x256xf32>
  %wo = tpc.weight "o.weight" : tensor<256x256xf32>
  %o = tpc.linear %a, %wo layout = out_in : (tensor<?x?x256xf32>, tensor<256x256xf32>) -> tensor<?x?x256xf32>
  %wi = tpc.weight "fc_in.weight" : tensor<1024x256xf32>
  %bi = tpc.weight "fc_in.bias" : tensor<1024xf32>
  %m = tpc.linear %h, %wi, %bi layout = out_in : (tensor<?x?x256xf32>, tensor<1024x256xf32>, tensor<1024xf32>) -> tensor<?x?x1024xf32>
  %act = tpc.gelu %m : tensor<?x?x1024xf32>
  %wout = tpc.weight "fc_out.weight" : tensor<256x1024xf32>
  %bout = tpc.weight "fc_out.bias" : tensor<256xf32>
  %mo = tpc.linear %act, %wout, %bout layout = out_in : (tensor<?x?x1024xf32>, tensor<256x1024xf32>, tensor<256xf32>) -> tensor<?x?x256xf32>
  %sum = tpc.add %o, %mo : tensor<?x?x256xf32>
  %r = tpc.add %x, %sum : tensor<?x?x256xf32>
  return %r : tensor<?x?x256xf32>
}

// -----

// A tied embedding and LM head: the table is split by vocabulary rows for
// both. The lookup gives partial sums (zeros outside a rank's rows), made
// whole by one all-reduce; the logits come out split by vocabulary and are
// gathered once for the result.
// CHECK-LABEL: func.func @tied_vocab_parallel
// CHECK:   %[[WTE:.*]] = tpc.weight "wte.weight" {global_shape = {{.*}}, tpc.sharding = #tpc.sharding<@mesh, [{"tp"}, {}]>} : tensor<250x256xf32>
// CHECK:   %[[E:.*]] = tpc.embedding %[[WTE]], %arg0 {tpc.sharding = #tpc.sharding<@mesh, [{}, {}, {}], partial = {"tp"}>}
// CHECK:   tpc.all_reduce %[[E]]
// CHECK:   %[[L:.*]] = tpc.lm_head %{{.*}}, %[[WTE]] {tpc.sharding = #tpc.sharding<@mesh, [{}, {}, {"tp"}]>} : (tensor<?x?x256xf32>, tensor<250x256xf32>) -> tensor<?x?x250xf32>
// CHECK:   %[[G:.*]] = tpc.all_gather %[[L]] over @mesh["tp"] dim = 2 {{.*}} : tensor<?x?x250xf32> -> tensor<?x?x1000xf32>
// CHECK:   return %[[G]]
func.func @tied_vocab_parallel(%ids: tensor<?x?xi32>) -> tensor<?x?x1000xf32> {
  %wte = tpc.weight "wte.weight" : tensor<1000x256xf32>
  %e = tpc.embedding %wte, %ids : (tensor<1000x256xf32>, tensor<?x?xi32>) -> tensor<?x?x256xf32>
  %g = tpc.weight "ln_f.weight" : tensor<256xf32>
  %b = tpc.weight "ln_f.bias" : tensor<256xf32>
  %h = tpc.layer_norm %e, %g, %b epsilon = 1.0e-5 : (tensor<?x?x256xf32>, tensor<256xf32>, tensor<256xf32>) -> tensor<?x?x256xf32>
  %l = tpc.lm_head %h, %wte : (tensor<?x?x256xf32>, tensor<1000x256xf32>) -> tensor<?x?x1000xf32>
  return %l : tensor<?x?x1000xf32>
}
