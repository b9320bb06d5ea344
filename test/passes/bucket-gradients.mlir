// RUN: tpc-opt %s --tpc-bucket-gradients | FileCheck %s
// RUN: tpc-opt %s --tpc-bucket-gradients="bucket-mib=0.0003" | FileCheck %s --check-prefix=SMALL
// RUN: tpc-opt %s --tpc-bucket-gradients --tpc-bucket-gradients | FileCheck %s --check-prefix=TWICE

// Weights complete in the order of their last tpc.accumulate_grad: fc.bias,
// fc.weight, ln.weight, then the tied table, whose second contribution
// comes last. With the default 25 MiB all four are one bucket, reduced
// after the table's last accumulation.
// CHECK-LABEL: func.func @step
// CHECK: tpc.accumulate_grad %[[T:.*]], %{{.*}} : tensor<11x8xf32>
// CHECK-NOT: tpc.reduce_gradients
// CHECK: tpc.accumulate_grad %[[T]], %{{.*}} : tensor<11x8xf32>
// CHECK-NEXT: tpc.reduce_gradients %[[B:.*]], %[[W:.*]], %[[G:.*]], %[[T]] : tensor<8xf32>, tensor<8x8xf32>, tensor<8xf32>, tensor<11x8xf32>
// CHECK-NEXT: return

// Buckets of at most 314 bytes (f32 gradients: 32 + 256, then 32, then
// the table's 352 alone, larger than a bucket): each right after the
// accumulation that completes it.
// SMALL-LABEL: func.func @step
// SMALL: tpc.accumulate_grad %[[W:.*]], %{{.*}} : tensor<8x8xf32>
// SMALL-NEXT: tpc.reduce_gradients %[[B:.*]], %[[W]] : tensor<8xf32>, tensor<8x8xf32>
// SMALL-NEXT: tpc.accumulate_grad %[[G:.*]], %{{.*}} : tensor<8xf32>
// SMALL-NEXT: tpc.reduce_gradients %[[G]] : tensor<8xf32>
// SMALL-NEXT: tpc.accumulate_grad %[[T:.*]], %{{.*}} : tensor<11x8xf32>
// SMALL-NEXT: tpc.reduce_gradients %[[T]] : tensor<11x8xf32>
// SMALL-NEXT: return

// A function with buckets already is left alone; one without gradients too.
// TWICE-COUNT-1: tpc.reduce_gradients
// TWICE-NOT: tpc.reduce_gradients

func.func @step(%d8: tensor<8xf32>, %d88: tensor<8x8xf32>, %dt: tensor<11x8xf32>) {
  %t = tpc.weight "wte" : tensor<11x8xf32>
  %w = tpc.weight "fc.weight" : tensor<8x8xf32>
  %b = tpc.weight "fc.bias" : tensor<8xf32>
  %g = tpc.weight "ln.weight" : tensor<8xf32>
  tpc.accumulate_grad %t, %dt : tensor<11x8xf32>
  tpc.accumulate_grad %b, %d8 : tensor<8xf32>
  tpc.accumulate_grad %w, %d88 : tensor<8x8xf32>
  tpc.accumulate_grad %g, %d8 : tensor<8xf32>
  tpc.accumulate_grad %t, %dt : tensor<11x8xf32>
  return
}

// TWICE-LABEL: func.func @forward
// CHECK-LABEL: func.func @forward
// CHECK-NOT: tpc.reduce_gradients
func.func @forward(%x: tensor<8xf32>) -> tensor<8xf32> {
  return %x : tensor<8xf32>
}
