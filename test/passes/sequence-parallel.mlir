// Sequence parallelism: activations per rank weigh before time, so the
// all-reduce after each row split becomes a reduce-scatter along the
// sequence, the residual add and the norm run on sequence shards, and an
// all-gather brings the sequence back before the next column split.
// RUN: tpc-opt %s --tpc-tp-pipeline="tp=4 sequence-parallel=1" | FileCheck %s

// CHECK-LABEL: func.func @block
// The first norm sees the whole (replicated) input, as the input arrives.
// CHECK:   %[[N1:.*]] = tpc.layer_norm %arg0, {{.*}} {tpc.sharding = #tpc.sharding<@mesh, [{}, {}, {}]>}
// CHECK:   tpc.linear %[[N1]], {{.*}} [{}, {}, {"tp", unit = 64, sections = 3}]>}
// CHECK:   %[[O:.*]] = tpc.linear {{.*}} partial = {"tp"}>}
// CHECK:   %[[X:.*]] = tpc.all_slice %arg0 over @mesh["tp"] dim = 1
// CHECK:   %[[OS:.*]] = tpc.reduce_scatter %[[O]] over @mesh["tp"] dim = 1 {bytes_per_token = 768 : i64
// CHECK:   %[[R1:.*]] = tpc.add %[[X]], %[[OS]] {tpc.sharding = #tpc.sharding<@mesh, [{}, {"tp"}, {}]>}
// CHECK:   %[[N2:.*]] = tpc.layer_norm %[[R1]], {{.*}} {tpc.sharding = #tpc.sharding<@mesh, [{}, {"tp"}, {}]>}
// CHECK:   %[[G:.*]] = tpc.all_gather %[[N2]] over @mesh["tp"] dim = 1 {bytes_per_token = 768 : i64
// CHECK:   tpc.linear %[[G]]
// CHECK:   %[[D:.*]] = tpc.linear {{.*}} partial = {"tp"}>}
// CHECK:   %[[DS:.*]] = tpc.reduce_scatter %[[D]] over @mesh["tp"] dim = 1
// CHECK:   %[[R2:.*]] = tpc.add %[[R1]], %[[DS]] {tpc.sharding = #tpc.sharding<@mesh, [{}, {"tp"}, {}]>}
// CHECK:   %[[OUT:.*]] = tpc.all_gather %[[R2]] over @mesh["tp"] dim = 1
// CHECK:   return %[[OUT]]
// CHECK-NOT: tpc.all_reduce
func.func @block(%x: tensor<?x?x256xf32>) -> tensor<?x?x256xf32> {
  %g1 = tpc.weight "ln_1.weight" : tensor<256xf32>
  %b1 = tpc.weight "ln_1.bias" : tensor<256xf32>
  %h1 = tpc.layer_norm %x, %g1, %b1 epsilon = 1.0e-5 : (tensor<?x?x256xf32>, tensor<256xf32>, tensor<256xf32>) -> tensor<?x?x256xf32>
  %w = tpc.weight "c_attn.weight" : tensor<256x768xf32>
  %qkv = tpc.linear %h1, %w layout = in_out : (tensor<?x?x256xf32>, tensor<256x768xf32>) -> tensor<?x?x768xf32>
  %q, %k, %v = tpc.split %qkv : tensor<?x?x768xf32> -> tensor<?x?x256xf32>, tensor<?x?x256xf32>, tensor<?x?x256xf32>
  %a = tpc.attention %q, %k, %v heads = 4 kv_heads = 4 : (tensor<?x?x256xf32>, tensor<?x?x256xf32>, tensor<?x?x256xf32>) -> tensor<?x?x256xf32>
  %wo = tpc.weight "c_proj.weight" : tensor<256x256xf32>
  %o = tpc.linear %a, %wo layout = in_out : (tensor<?x?x256xf32>, tensor<256x256xf32>) -> tensor<?x?x256xf32>
  %r1 = tpc.add %x, %o : tensor<?x?x256xf32>
  %g2 = tpc.weight "ln_2.weight" : tensor<256xf32>
  %b2 = tpc.weight "ln_2.bias" : tensor<256xf32>
  %h2 = tpc.layer_norm %r1, %g2, %b2 epsilon = 1.0e-5 : (tensor<?x?x256xf32>, tensor<256xf32>, tensor<256xf32>) -> tensor<?x?x256xf32>
  %wf = tpc.weight "c_fc.weight" : tensor<256x1024xf32>
  %f = tpc.linear %h2, %wf layout = in_out : (tensor<?x?x256xf32>, tensor<256x1024xf32>) -> tensor<?x?x1024xf32>
  %act = tpc.gelu %f : tensor<?x?x1024xf32>
  %wd = tpc.weight "mlp.c_proj.weight" : tensor<1024x256xf32>
  %d = tpc.linear %act, %wd layout = in_out : (tensor<?x?x1024xf32>, tensor<1024x256xf32>) -> tensor<?x?x256xf32>
  %r2 = tpc.add %r1, %d : tensor<?x?x256xf32>
  return %r2 : tensor<?x?x256xf32>
}
