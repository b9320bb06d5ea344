// RUN: tpc-opt %s --tpc-derive-training | FileCheck %s

// A fused SwiGLU gating (tpc.silu_mul, as tpc-fuse writes it) differentiates
// as silu(gate) * up: d gate = silu'(gate) (dy up), d up = dy silu(gate).
// CHECK-LABEL: func.func @train_step
// CHECK: %[[H:.*]] = tpc.silu_mul %[[GATE:[^,]*]], %[[UP:[^ ]*]] :
// CHECK-DAG: %[[DYUP:.*]] = tpc.mul %[[DY:[^,]*]], %[[UP]] :
// CHECK-DAG: tpc.silu_grad %[[GATE]], %[[DYUP]] :
// CHECK-DAG: %[[S:.*]] = tpc.silu %[[GATE]] :
// CHECK-DAG: tpc.mul %[[DY]], %[[S]] :
func.func @forward(%ids: tensor<?x?xi32>) -> tensor<?x?x11xf32> {
  %table = tpc.weight "wte" : tensor<11x8xf32>
  %x = tpc.embedding %table, %ids : (tensor<11x8xf32>, tensor<?x?xi32>) -> tensor<?x?x8xf32>
  %wg = tpc.weight "mlp.gate_proj.weight" : tensor<8x16xf32>
  %wu = tpc.weight "mlp.up_proj.weight" : tensor<8x16xf32>
  %wd = tpc.weight "mlp.down_proj.weight" : tensor<16x8xf32>
  %g = tpc.linear %x, %wg layout = in_out : (tensor<?x?x8xf32>, tensor<8x16xf32>) -> tensor<?x?x16xf32>
  %u = tpc.linear %x, %wu layout = in_out : (tensor<?x?x8xf32>, tensor<8x16xf32>) -> tensor<?x?x16xf32>
  %h = tpc.silu_mul %g, %u : tensor<?x?x16xf32>
  %y = tpc.linear %h, %wd layout = in_out : (tensor<?x?x16xf32>, tensor<16x8xf32>) -> tensor<?x?x8xf32>
  %logits = tpc.lm_head %y, %table : (tensor<?x?x8xf32>, tensor<11x8xf32>) -> tensor<?x?x11xf32>
  return %logits : tensor<?x?x11xf32>
}
