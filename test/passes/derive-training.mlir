// RUN: tpc-opt %s --tpc-derive-training | FileCheck %s

// The step goes first in the module; every contribution to a weight's
// gradient ends in a tpc.accumulate_grad as soon as it is made, two for
// the tied table (the head's before the rest of the backward pass).
// CHECK: func.func @train_step(%[[IDS:.*]]: tensor<?x?xi32>, %[[TARGETS:.*]]: tensor<?x?xi32>, %[[DLOSS:.*]]: tensor<?x?xf32>) -> tensor<?x?xf32>
// CHECK: %[[X:.*]] = tpc.embedding %[[TABLE:[^,]*]], %[[IDS]]
// CHECK: %[[N:.*]] = tpc.layer_norm %[[X]]
// CHECK: %[[H:.*]] = tpc.linear %[[N]], %[[W:[^,]*]], %[[B:[^ ]*]] layout = in_out
// CHECK: %[[A:.*]] = tpc.gelu %[[H]]
// CHECK: %[[LOGITS:.*]] = tpc.lm_head %[[A]], %[[TABLE]]
// CHECK: %[[LOSS:.*]], %[[LSE:.*]] = tpc.cross_entropy %[[LOGITS]], %[[TARGETS]] vocab = 11 ignore_index = -100
// CHECK: %[[DLOGITS:.*]] = tpc.cross_entropy_grad %[[LOGITS]], %[[TARGETS]], %[[LSE]], %[[DLOSS]]
// CHECK: %[[DA:.*]] = tpc.linear %[[DLOGITS]], %[[TABLE]] layout = in_out
// CHECK: %[[DHEAD:.*]] = tpc.linear_weight_grad %[[A]], %[[DLOGITS]] layout = out_in
// CHECK-NEXT: tpc.accumulate_grad %[[TABLE]], %[[DHEAD]]
// CHECK: %[[DH:.*]] = tpc.gelu_grad %[[H]], %[[DA]]
// CHECK: %[[DN:.*]] = tpc.linear %[[DH]], %[[W]] layout = out_in
// CHECK: %[[DW:.*]] = tpc.linear_weight_grad %[[N]], %[[DH]] layout = in_out
// CHECK: %[[DB:.*]] = tpc.sum_rows %[[DH]]
// CHECK: tpc.accumulate_grad %[[W]], %[[DW]]
// CHECK: tpc.accumulate_grad %[[B]], %[[DB]]
// CHECK: %[[DX:.*]] = tpc.norm_grad %[[X]], %[[DN]], %{{.*}} epsilon = {{.*}} centered
// CHECK: tpc.norm_scale_grad %[[X]], %[[DN]] epsilon = {{.*}} centered
// CHECK: tpc.sum_rows %[[DN]]
// CHECK: %[[DTABLE:.*]] = tpc.embedding_grad %[[DX]], %[[IDS]] vocab = 11
// CHECK-NEXT: tpc.accumulate_grad %[[TABLE]], %[[DTABLE]]
// CHECK: return %[[LOSS]]
// CHECK-LABEL: func.func @forward
func.func @forward(%ids: tensor<?x?xi32>) -> tensor<?x?x11xf32> {
  %table = tpc.weight "wte" : tensor<11x8xf32>
  %x = tpc.embedding %table, %ids : (tensor<11x8xf32>, tensor<?x?xi32>) -> tensor<?x?x8xf32>
  %g = tpc.weight "ln.weight" : tensor<8xf32>
  %s = tpc.weight "ln.bias" : tensor<8xf32>
  %n = tpc.layer_norm %x, %g, %s epsilon = 1.0e-5 : (tensor<?x?x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x?x8xf32>
  %w = tpc.weight "fc.weight" : tensor<8x8xf32>
  %b = tpc.weight "fc.bias" : tensor<8xf32>
  %h = tpc.linear %n, %w, %b layout = in_out : (tensor<?x?x8xf32>, tensor<8x8xf32>, tensor<8xf32>) -> tensor<?x?x8xf32>
  %a = tpc.gelu %h : tensor<?x?x8xf32>
  %logits = tpc.lm_head %a, %table : (tensor<?x?x8xf32>, tensor<11x8xf32>) -> tensor<?x?x11xf32>
  return %logits : tensor<?x?x11xf32>
}
