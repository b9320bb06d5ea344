// tpc-fuse on a training step: gradients go straight into the weights'
// gradient buffers. The embedding's (tpc.accumulate_embedding_grad) with
// no dense [vocab, hidden] table in between: at tp = 1 from
// tpc.embedding_grad + tpc.accumulate_grad, at tp = 2 (the vocabulary
// split) also through the tpc.all_slice that kept the rank's rows. The LM
// head's contribution to the tied table, a linear's weight gradient,
// becomes tpc.accumulate_linear_weight_grad: its GEMM adds into the
// buffer. Both lower to one runtime call naming the table.
// RUN: tpc-opt %s --tpc-derive-training --tpc-tp-pipeline=tp=1 --tpc-fuse | FileCheck %s --check-prefixes=CHECK,TP1
// RUN: tpc-opt %s --tpc-derive-training --tpc-tp-pipeline=tp=2 --tpc-fuse | FileCheck %s --check-prefixes=CHECK,TP2
// RUN: tpc-opt %s --tpc-derive-training --tpc-tp-pipeline=tp=2 | FileCheck %s --check-prefix=UNFUSED
// RUN: tpc-opt %s --tpc-derive-training --tpc-tp-pipeline=tp=2 --tpc-fuse --tpc-plan-memory --tpc-lower-to-emitc | FileCheck %s --check-prefix=LOWERED

// CHECK: func.func @train_step(%[[IDS:[^:]*]]:
// CHECK: %[[TABLE:.*]] = tpc.weight "wte"
// CHECK-NOT: tpc.linear_weight_grad
// CHECK: tpc.accumulate_linear_weight_grad %[[TABLE]], %{{.*}}, %{{.*}} layout = out_in : tensor<{{.*}}x8xf32>
// CHECK-NOT: tpc.linear_weight_grad
// CHECK-NOT: tpc.embedding_grad
// CHECK-NOT: tpc.all_slice
// TP1: tpc.accumulate_embedding_grad %[[TABLE]], %{{.*}}, %[[IDS]] vocab = 11 : tensor<11x8xf32>, tensor<?x?x8xf32>, tensor<?x?xi32>
// TP2: tpc.accumulate_embedding_grad %[[TABLE]], %{{.*}}, %[[IDS]] vocab = 11 : tensor<?x8xf32>, tensor<?x?x8xf32>, tensor<?x?xi32>
// CHECK: return
// UNFUSED-LABEL: func.func @train_step
// UNFUSED: %[[DHEAD:.*]] = tpc.linear_weight_grad
// UNFUSED-NEXT: tpc.accumulate_grad %{{.*}}, %[[DHEAD]]
// UNFUSED: %[[DENSE:.*]] = tpc.embedding_grad
// UNFUSED-NEXT: %[[MINE:.*]] = tpc.all_slice %[[DENSE]] over @mesh["tp"] dim = 0
// UNFUSED-NEXT: tpc.accumulate_grad %{{.*}}, %[[MINE]]
// LOWERED-LABEL: func.func @train_step
// LOWERED: emitc.call_opaque "tpc::program::accumulateLinearWeightGrad"(%{{.*}}, %{{.*}}, %{{.*}}) {args = [0 : index, #emitc.opaque<"\22wte\22">, 1 : index, 2 : index, #emitc.opaque<"false">, #emitc.opaque<"false">]}
// LOWERED: emitc.call_opaque "tpc::program::accumulateEmbeddingGrad"(%{{.*}}, %{{.*}}, %{{.*}}) {args = [0 : index, #emitc.opaque<"\22wte\22">, 1 : index, 2 : index, #emitc.opaque<"11">, #emitc.opaque<"false">]}
// LOWERED-NOT: embeddingGrad
// LOWERED-NOT: linearWeightGrad
func.func @forward(%ids: tensor<?x?xi32>) -> tensor<?x?x11xf32> {
  %table = tpc.weight "wte" : tensor<11x8xf32>
  %x = tpc.embedding %table, %ids : (tensor<11x8xf32>, tensor<?x?xi32>) -> tensor<?x?x8xf32>
  %g = tpc.weight "norm.weight" : tensor<8xf32>
  %n = tpc.rms_norm %x, %g epsilon = 1.0e-5 : (tensor<?x?x8xf32>, tensor<8xf32>) -> tensor<?x?x8xf32>
  %logits = tpc.lm_head %n, %table : (tensor<?x?x8xf32>, tensor<11x8xf32>) -> tensor<?x?x11xf32>
  return %logits : tensor<?x?x11xf32>
}
