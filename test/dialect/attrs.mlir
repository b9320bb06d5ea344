// Round trip of the mesh op, the sharding attributes and pinned shardings.
// RUN: tpc-opt %s | tpc-opt | FileCheck %s

// CHECK: tpc.mesh @mesh ["tp" = 4]
tpc.mesh @mesh ["tp" = 4]
// CHECK: tpc.mesh @mesh2d ["dp" = 2, "tp" = 8]
tpc.mesh @mesh2d ["dp" = 2, "tp" = 8]

// CHECK-LABEL: func.func @pinned_shardings
func.func @pinned_shardings(%x: tensor<?x?x768xf32>) -> tensor<?x?x2304xf32> {
  // A column split of a fused [q|k|v] weight: three sections of whole heads.
  // CHECK: tpc.weight "c_attn.weight" {tpc.sharding = #tpc.sharding<@mesh, [{}, {"tp", unit = 64, sections = 3}]>} : tensor<768x2304xf32>
  %w = tpc.weight "c_attn.weight" {tpc.sharding = #tpc.sharding<@mesh, [{}, {"tp", unit = 64, sections = 3}]>} : tensor<768x2304xf32>
  // Key order inside a dimension does not matter; defaults are not printed.
  // CHECK: tpc.weight "c_attn.bias" {tpc.sharding = #tpc.sharding<@mesh, [{"tp", unit = 64, sections = 3}]>} : tensor<2304xf32>
  %b = tpc.weight "c_attn.bias" {tpc.sharding = #tpc.sharding<@mesh, [{sections = 3, "tp", unit = 64}]>} : tensor<2304xf32>
  // CHECK: tpc.linear {{.*}} {tpc.sharding = #tpc.sharding<@mesh, [{}, {}, {"tp"}]>}
  %y = tpc.linear %x, %w, %b layout = in_out {tpc.sharding = #tpc.sharding<@mesh, [{}, {}, {"tp"}]>} : (tensor<?x?x768xf32>, tensor<768x2304xf32>, tensor<2304xf32>) -> tensor<?x?x2304xf32>
  return %y : tensor<?x?x2304xf32>
}

// CHECK-LABEL: func.func @partial_and_2d
func.func @partial_and_2d(%x: tensor<?x?x64xf32>) -> tensor<?x?x64xf32> {
  %w = tpc.weight "w" : tensor<64x64xf32>
  // CHECK: {tpc.sharding = #tpc.sharding<@mesh2d, [{"dp"}, {}, {}], partial = {"tp"}>}
  %y = tpc.linear %x, %w layout = in_out {tpc.sharding = #tpc.sharding<@mesh2d, [{"dp"}, {}, {}], partial = {"tp"}>} : (tensor<?x?x64xf32>, tensor<64x64xf32>) -> tensor<?x?x64xf32>
  // Several axes on one dimension, major to minor.
  // CHECK: {tpc.sharding = #tpc.sharding<@mesh2d, [{}, {}, {"dp", "tp"}]>}
  %z = tpc.gelu %y {tpc.sharding = #tpc.sharding<@mesh2d, [{}, {}, {"dp", "tp"}]>} : tensor<?x?x64xf32>
  return %z : tensor<?x?x64xf32>
}

// One sharding per result of a multi-result op.
// CHECK-LABEL: func.func @per_result
func.func @per_result(%qkv: tensor<?x?x192xf32>) -> tensor<?x?x64xf32> {
  // CHECK: tpc.split %{{.*}} {tpc.sharding = [#tpc.sharding<@mesh, [{}, {}, {"tp", unit = 16}]>, #tpc.sharding<@mesh, [{}, {}, {}]>, #tpc.sharding<@mesh, [{}, {}, {}]>]}
  %q, %k, %v = tpc.split %qkv {tpc.sharding = [#tpc.sharding<@mesh, [{}, {}, {"tp", unit = 16}]>, #tpc.sharding<@mesh, [{}, {}, {}]>, #tpc.sharding<@mesh, [{}, {}, {}]>]} : tensor<?x?x192xf32> -> tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>
  return %q : tensor<?x?x64xf32>
}

// Standalone attributes print in their own syntax.
// CHECK-LABEL: func.func @standalone
// CHECK-SAME: tpc.dim = #tpc.dim<{"tp", unit = 128}>
// CHECK-SAME: tpc.layout = #tpc<layout out_in>
// CHECK-SAME: tpc.replicated = #tpc.dim<{}>
func.func @standalone() attributes {test.dims = {tpc.dim = #tpc.dim<{"tp", unit = 128}>, tpc.replicated = #tpc.dim<{}>, tpc.layout = #tpc<layout out_in>}} {
  return
}

// Grouped KV heads: each unit serves 4 query heads.
// CHECK-LABEL: func.func @gqa_groups
// CHECK: tpc.weight "k_proj.weight" {tpc.sharding = #tpc.sharding<@mesh, [{"tp", unit = 128, groups = 4}, {}]>} : tensor<1024x4096xf32>
func.func @gqa_groups() {
  %w = tpc.weight "k_proj.weight" {tpc.sharding = #tpc.sharding<@mesh, [{"tp", groups = 4, unit = 128}, {}]>} : tensor<1024x4096xf32>
  return
}

// A partitioned function: local types, global layouts, annotated collectives.
// CHECK-LABEL: func.func @partitioned
// CHECK-SAME: attributes {tpc.partitioned}
// CHECK: tpc.all_reduce %{{.*}} over @mesh["tp"] {bytes_per_token = 4608 : i64, cause = "transformer.h.0.mlp"} : tensor<?x?x768xf32>
func.func @partitioned(%x: tensor<?x?x768xf32>) -> tensor<?x?x768xf32> attributes {tpc.partitioned} {
  %w = tpc.weight "w" {tpc.sharding = #tpc.sharding<@mesh, [{"tp"}, {}]>} : tensor<192x768xf32>
  %y = tpc.all_reduce %x over @mesh["tp"] {cause = "transformer.h.0.mlp", bytes_per_token = 4608} : tensor<?x?x768xf32>
  return %y : tensor<?x?x768xf32>
}
