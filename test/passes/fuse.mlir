// tpc-fuse, on a partitioned block (tp = 2): the column-parallel linear
// takes its GeLU as an epilogue; the row-parallel linear, whose result is a
// partial sum, keeps none; the residual add after the all-reduce becomes
// one op with the RMSNorm of its sum, both results used; an add whose sum
// is read before the norm is left alone. Then the fused ops lower to one
// runtime call each.
// RUN: tpc-opt %s -split-input-file --tpc-tp-pipeline=tp=2 --tpc-fuse | FileCheck %s
// RUN: tpc-opt %s -split-input-file --tpc-tp-pipeline=tp=2 --tpc-fuse --tpc-plan-memory --tpc-lower-to-emitc | FileCheck %s --check-prefix=LOWERED

// CHECK-LABEL: func.func @block(
// CHECK:   %[[UP:.*]] = tpc.linear %{{.*}}, %{{.*}}, %{{.*}} layout = in_out activation = gelu {tpc.sharding = #tpc.sharding<@mesh, [{}, {}, {"tp"}]>}
// CHECK-NOT: tpc.gelu
// CHECK:   %[[DOWN:.*]] = tpc.linear %[[UP]], %{{.*}} layout = in_out {tpc.sharding = #tpc.sharding<@mesh, [{}, {}, {}], partial = {"tp"}>}
// CHECK:   %[[RED:.*]] = tpc.all_reduce %[[DOWN]]
// CHECK:   %[[SUM:.*]], %[[NORM:.*]] = tpc.add_rms_norm %{{.*}}, %[[RED]], %{{.*}} epsilon = {{.*}} {tpc.sharding = [#tpc.sharding<@mesh, [{}, {}, {}]>, #tpc.sharding<@mesh, [{}, {}, {}]>]}
// CHECK-NOT: tpc.rms_norm
// CHECK:   tpc.add %[[SUM]], %[[NORM]]
// LOWERED: emitc.call_opaque "tpc::program::linearBias"{{.*}}#emitc.opaque<"tpc::program::Activation::Gelu">
// LOWERED: %[[BOTH:.*]] = emitc.call_opaque "tpc::program::addRmsNorm"
// LOWERED-SAME: -> !emitc.opaque<"tpc::program::SumAndNorm">
// LOWERED-NEXT: emitc.call_opaque "tpc::program::takeSum"(%{{.*}}, %[[BOTH]])
// LOWERED-NEXT: emitc.call_opaque "tpc::program::takeNorm"(%{{.*}}, %[[BOTH]])
func.func @block(%x: tensor<?x?x64xf32>) -> tensor<?x?x64xf32> {
  %g = tpc.weight "ln.weight" : tensor<64xf32>
  %b = tpc.weight "ln.bias" : tensor<64xf32>
  %w1 = tpc.weight "fc.weight" : tensor<64x256xf32>
  %b1 = tpc.weight "fc.bias" : tensor<256xf32>
  %w2 = tpc.weight "proj.weight" : tensor<256x64xf32>
  %h = tpc.layer_norm %x, %g, %b epsilon = 1.0e-5 : (tensor<?x?x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x?x64xf32>
  %u = tpc.linear %h, %w1, %b1 layout = in_out : (tensor<?x?x64xf32>, tensor<64x256xf32>, tensor<256xf32>) -> tensor<?x?x256xf32>
  %a = tpc.gelu %u : tensor<?x?x256xf32>
  %y = tpc.linear %a, %w2 layout = in_out : (tensor<?x?x256xf32>, tensor<256x64xf32>) -> tensor<?x?x64xf32>
  %s = tpc.add %x, %y : tensor<?x?x64xf32>
  %g2 = tpc.weight "ln2.weight" : tensor<64xf32>
  %n = tpc.rms_norm %s, %g2 epsilon = 1.0e-6 : (tensor<?x?x64xf32>, tensor<64xf32>) -> tensor<?x?x64xf32>
  %r = tpc.add %s, %n : tensor<?x?x64xf32>
  return %r : tensor<?x?x64xf32>
}

// -----

// SwiGLU (tp = 2, gate and up column-parallel): the silu whose only reader
// is the mul becomes one tpc.silu_mul with the mul's sharding, and the
// gate's linear keeps no epilogue; a silu read twice stays the linear's
// epilogue.
// CHECK-LABEL: func.func @swiglu(
// CHECK:   %[[GATE:.*]] = tpc.linear %{{.*}}, %{{.*}} layout = in_out {tpc.sharding
// CHECK:   %[[UP:.*]] = tpc.linear
// CHECK:   %[[H:.*]] = tpc.silu_mul %[[GATE]], %[[UP]] {tpc.sharding = #tpc.sharding<@mesh, [{}, {}, {"tp"}]>}
// CHECK-NOT: tpc.mul
// CHECK:   tpc.linear %[[H]]
// CHECK:   %[[TWICE:.*]] = tpc.linear %{{.*}}, %{{.*}} layout = in_out activation = silu
// CHECK:   tpc.mul %[[TWICE]], %[[TWICE]]
// LOWERED-LABEL: func.func @swiglu(
// LOWERED: emitc.call_opaque "tpc::program::siluMul"
func.func @swiglu(%x: tensor<?x?x64xf32>) -> (tensor<?x?x64xf32>, tensor<?x?x256xf32>) {
  %wg = tpc.weight "mlp.gate_proj.weight" : tensor<64x256xf32>
  %wu = tpc.weight "mlp.up_proj.weight" : tensor<64x256xf32>
  %wd = tpc.weight "mlp.down_proj.weight" : tensor<256x64xf32>
  %g = tpc.linear %x, %wg layout = in_out : (tensor<?x?x64xf32>, tensor<64x256xf32>) -> tensor<?x?x256xf32>
  %u = tpc.linear %x, %wu layout = in_out : (tensor<?x?x64xf32>, tensor<64x256xf32>) -> tensor<?x?x256xf32>
  %a = tpc.silu %g : tensor<?x?x256xf32>
  %h = tpc.mul %a, %u : tensor<?x?x256xf32>
  %y = tpc.linear %h, %wd layout = in_out : (tensor<?x?x256xf32>, tensor<256x64xf32>) -> tensor<?x?x64xf32>
  %w2 = tpc.weight "other.weight" : tensor<64x256xf32>
  %t = tpc.linear %x, %w2 layout = in_out : (tensor<?x?x64xf32>, tensor<64x256xf32>) -> tensor<?x?x256xf32>
  %s = tpc.silu %t : tensor<?x?x256xf32>
  %sq = tpc.mul %s, %s : tensor<?x?x256xf32>
  return %y, %sq : tensor<?x?x64xf32>, tensor<?x?x256xf32>
}

// -----

// CHECK-LABEL: func.func @read_before_norm(
// CHECK:   %[[S:.*]] = tpc.add
// CHECK:   tpc.silu %[[S]]
// CHECK:   tpc.layer_norm %[[S]]
// CHECK-NOT: tpc.add_layer_norm
func.func @read_before_norm(%x: tensor<?x?x64xf32>, %y: tensor<?x?x64xf32>) -> (tensor<?x?x64xf32>, tensor<?x?x64xf32>) {
  %s = tpc.add %x, %y : tensor<?x?x64xf32>
  %t = tpc.silu %s : tensor<?x?x64xf32>
  %g = tpc.weight "ln.weight" : tensor<64xf32>
  %b = tpc.weight "ln.bias" : tensor<64xf32>
  %n = tpc.layer_norm %s, %g, %b epsilon = 1.0e-5 : (tensor<?x?x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x?x64xf32>
  return %t, %n : tensor<?x?x64xf32>, tensor<?x?x64xf32>
}
