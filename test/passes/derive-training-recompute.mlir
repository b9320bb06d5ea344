// RUN: tpc-opt %s --tpc-derive-training="recompute=true" | FileCheck %s
// RUN: tpc-opt %s --tpc-derive-training | FileCheck %s --check-prefix=KEEP

// Activation recomputation: each layer's forward ops (weights named
// h.<N>.*, and the weightless ops computed from them) run again just before
// the layer's backward pass, which reads the copies; what no gradient
// reads (the last linear's output, the layer outputs) is not recomputed.
// The embedding and the head belong to no layer and are kept.
// CHECK-LABEL: func.func @train_step
// CHECK: %[[X:.*]] = tpc.embedding
// CHECK: %[[H0:.*]] = tpc.linear %[[X]], %[[W0:[^ ]*]] layout = in_out
// CHECK: %[[A0:.*]] = tpc.gelu %[[H0]]
// CHECK: %[[Y0:.*]] = tpc.linear %[[A0]], %[[V0:[^ ]*]] layout = in_out
// CHECK: %[[R0:.*]] = tpc.add %[[X]], %[[Y0]]
// CHECK: %[[H1:.*]] = tpc.linear %[[R0]], %[[W1:[^ ]*]] layout = in_out
// CHECK: %[[A1:.*]] = tpc.gelu %[[H1]]
// CHECK: %[[Y1:.*]] = tpc.linear %[[A1]], %[[V1:[^ ]*]] layout = in_out
// CHECK: %[[R1:.*]] = tpc.add %[[R0]], %[[Y1]]
// CHECK: %[[LOGITS:.*]] = tpc.lm_head %[[R1]]
// CHECK: tpc.cross_entropy_grad %[[LOGITS]]
// Layer 1 again, from its input R0, then its gradients from the copies.
// CHECK: %[[H1C:.*]] = tpc.linear %[[R0]], %[[W1]] layout = in_out
// CHECK-NEXT: %[[A1C:.*]] = tpc.gelu %[[H1C]]
// CHECK-NOT: tpc.add %[[R0]]
// CHECK: tpc.linear_weight_grad %[[A1C]]
// CHECK: tpc.gelu_grad %[[H1C]]
// CHECK: tpc.linear_weight_grad %[[R0]]
// Layer 0 again, from the embedding's output.
// CHECK: %[[H0C:.*]] = tpc.linear %[[X]], %[[W0]] layout = in_out
// CHECK-NEXT: %[[A0C:.*]] = tpc.gelu %[[H0C]]
// CHECK: tpc.linear_weight_grad %[[A0C]]
// CHECK: tpc.gelu_grad %[[H0C]]
// CHECK: tpc.linear_weight_grad %[[X]]
// CHECK: tpc.embedding_grad
// CHECK: return

// Without recomputation the gradients read the forward pass's values.
// KEEP-LABEL: func.func @train_step
// KEEP: %[[H1:.*]] = tpc.linear %{{.*}}, %[[W1:[^ ]*]] layout = in_out
// KEEP: %[[A1:.*]] = tpc.gelu %[[H1]]
// KEEP: tpc.cross_entropy_grad
// KEEP-NOT: tpc.linear %{{.*}}, %[[W1]] layout = in_out
// KEEP: tpc.linear_weight_grad %[[A1]]
// KEEP: tpc.gelu_grad %[[H1]]
func.func @forward(%ids: tensor<?x?xi32>) -> tensor<?x?x11xf32> {
  %table = tpc.weight "wte" : tensor<11x8xf32>
  %x = tpc.embedding %table, %ids : (tensor<11x8xf32>, tensor<?x?xi32>) -> tensor<?x?x8xf32>
  %w0 = tpc.weight "h.0.fc.weight" : tensor<8x16xf32>
  %h0 = tpc.linear %x, %w0 layout = in_out : (tensor<?x?x8xf32>, tensor<8x16xf32>) -> tensor<?x?x16xf32>
  %a0 = tpc.gelu %h0 : tensor<?x?x16xf32>
  %v0 = tpc.weight "h.0.proj.weight" : tensor<16x8xf32>
  %y0 = tpc.linear %a0, %v0 layout = in_out : (tensor<?x?x16xf32>, tensor<16x8xf32>) -> tensor<?x?x8xf32>
  %r0 = tpc.add %x, %y0 : tensor<?x?x8xf32>
  %w1 = tpc.weight "h.1.fc.weight" : tensor<8x16xf32>
  %h1 = tpc.linear %r0, %w1 layout = in_out : (tensor<?x?x8xf32>, tensor<8x16xf32>) -> tensor<?x?x16xf32>
  %a1 = tpc.gelu %h1 : tensor<?x?x16xf32>
  %v1 = tpc.weight "h.1.proj.weight" : tensor<16x8xf32>
  %y1 = tpc.linear %a1, %v1 layout = in_out : (tensor<?x?x16xf32>, tensor<16x8xf32>) -> tensor<?x?x8xf32>
  %r1 = tpc.add %r0, %y1 : tensor<?x?x8xf32>
  %logits = tpc.lm_head %r1, %table : (tensor<?x?x8xf32>, tensor<11x8xf32>) -> tensor<?x?x11xf32>
  return %logits : tensor<?x?x11xf32>
}
