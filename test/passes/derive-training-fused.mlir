// RUN: tpc-opt %s --tpc-derive-training | FileCheck %s

// A fused residual add + norm differentiates too: the sum's gradient is
// its own plus the norm's input gradient, and reaches both addends.
// CHECK-LABEL: func.func @train_step
// CHECK: %[[SUM:.*]], %[[N:.*]] = tpc.add_rms_norm %[[X:.*]], %[[X]], %[[G:[^ ]*]]
// CHECK: %[[DN:.*]] = tpc.linear %{{.*}}, %{{.*}} layout = in_out
// CHECK: %[[DX:.*]] = tpc.norm_grad %[[SUM]], %[[DN]], %[[G]] epsilon
// CHECK: %[[DG:.*]] = tpc.norm_scale_grad %[[SUM]], %[[DN]] epsilon
// CHECK: %[[BOTH:.*]] = tpc.add %[[DX]], %[[DX]]
// CHECK: tpc.accumulate_grad %[[G]], %[[DG]]
// CHECK: tpc.embedding_grad %[[BOTH]]
func.func @forward(%ids: tensor<?x?xi32>) -> tensor<?x?x11xf32> {
  %table = tpc.weight "wte" : tensor<11x8xf32>
  %x = tpc.embedding %table, %ids : (tensor<11x8xf32>, tensor<?x?xi32>) -> tensor<?x?x8xf32>
  %g = tpc.weight "norm.weight" : tensor<8xf32>
  %sum, %n = tpc.add_rms_norm %x, %x, %g epsilon = 1.0e-5 : (tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<8xf32>) -> (tensor<?x?x8xf32>, tensor<?x?x8xf32>)
  %logits = tpc.lm_head %n, %table : (tensor<?x?x8xf32>, tensor<11x8xf32>) -> tensor<?x?x11xf32>
  return %logits : tensor<?x?x11xf32>
}
