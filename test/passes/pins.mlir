// Pinned layouts are kept; the plan is made around them.
// RUN: tpc-opt %s -split-input-file --tpc-auto-shard=tp=4 -verify-diagnostics | FileCheck %s

tpc.mesh @mesh ["tp" = 4]
// The up projection is pinned to a row split: the plan follows it (its
// input gets sliced, its output is a partial sum) instead of the column
// split it would choose.
// CHECK-LABEL: func.func @pinned_row_split
// CHECK: tpc.weight "up.weight" {tpc.sharding = #tpc.sharding<@mesh, [{"tp"}, {}]>}
// CHECK: tpc.linear {{.*}} {tpc.sharding = #tpc.sharding<@mesh, [{}, {}, {}], partial = {"tp"}>}
func.func @pinned_row_split(%x: tensor<?x?x256xf32>) -> tensor<?x?x1024xf32> {
  %w = tpc.weight "up.weight" {tpc.sharding = #tpc.sharding<@mesh, [{"tp"}, {}]>} : tensor<256x1024xf32>
  %y = tpc.linear %x, %w layout = in_out : (tensor<?x?x256xf32>, tensor<256x1024xf32>) -> tensor<?x?x1024xf32>
  return %y : tensor<?x?x1024xf32>
}

// -----

tpc.mesh @mesh ["tp" = 4]
// A pin on an op's result restricts the op to strategies giving it.
// CHECK-LABEL: func.func @pinned_result
// CHECK: tpc.gelu {{.*}} {tpc.sharding = #tpc.sharding<@mesh, [{}, {}, {}]>}
func.func @pinned_result(%x: tensor<?x?x256xf32>) -> tensor<?x?x1024xf32> {
  %w = tpc.weight "up.weight" : tensor<256x1024xf32>
  %y = tpc.linear %x, %w layout = in_out : (tensor<?x?x256xf32>, tensor<256x1024xf32>) -> tensor<?x?x1024xf32>
  %g = tpc.gelu %y {tpc.sharding = #tpc.sharding<@mesh, [{}, {}, {}]>} : tensor<?x?x1024xf32>
  return %g : tensor<?x?x1024xf32>
}

// -----

tpc.mesh @mesh ["tp" = 4]
// Two heads cannot be split over four ranks.
func.func @impossible_pin(%q: tensor<?x?x64xf32>) -> tensor<?x?x64xf32> {
  // expected-error @+1 {{pinned sharding splits dimension 2 of result #0 (size 64), which cannot be split over tp = 4; tp degrees that work: 1 to 2}}
  %a = tpc.attention %q, %q, %q heads = 2 kv_heads = 2 {tpc.sharding = #tpc.sharding<@mesh, [{}, {}, {"tp", unit = 32}]>} : (tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>) -> tensor<?x?x64xf32>
  return %a : tensor<?x?x64xf32>
}

// -----

tpc.mesh @mesh ["tp" = 4]
func.func @impossible_weight_pin() -> tensor<3x8xf32> {
  // expected-error @+1 {{pinned sharding splits dimension 0 (size 3), which cannot be split over tp = 4; tp degrees that work: 1 to 3}}
  %w = tpc.weight "w" {tpc.sharding = #tpc.sharding<@mesh, [{"tp"}, {}]>} : tensor<3x8xf32>
  return %w : tensor<3x8xf32>
}

// -----

tpc.mesh @mesh ["tp" = 4]
func.func @partial_weight_pin() -> tensor<4xf32> {
  // expected-error @+1 {{pinned sharding of a weight must split at most one dimension over @mesh["tp"], got #tpc.sharding<@mesh, [{}], partial = {"tp"}>}}
  %w = tpc.weight "w" {tpc.sharding = #tpc.sharding<@mesh, [{}], partial = {"tp"}>} : tensor<4xf32>
  return %w : tensor<4xf32>
}

// -----

// A mesh @mesh of another size than the option.
// expected-error @+1 {{auto-sharding needs mesh @mesh to be ["tp" = 4]}}
tpc.mesh @mesh ["tp" = 2]
func.func @f() {
  return
}

// -----

// Every dimension too small: a warning names the weight and what would work.
func.func @too_small(%x: tensor<?x?x2xf32>) -> tensor<?x?x3xf32> {
  // expected-warning @+1 {{weight stays replicated: no dimension of 'tensor<2x3xf32>' splits over tp = 4 (tp degrees that work: dimension 0: 1 to 2; dimension 1: 1 to 3)}}
  %w = tpc.weight "w" : tensor<2x3xf32>
  %y = tpc.linear %x, %w layout = in_out : (tensor<?x?x2xf32>, tensor<2x3xf32>) -> tensor<?x?x3xf32>
  return %y : tensor<?x?x3xf32>
}

// -----

tpc.mesh @mesh ["tp" = 4]
// A row-split pin on the producer and a whole-result pin on its user
// conflict: the plan keeps both and says what it costs.
func.func @conflicting_pins(%x: tensor<?x?x256xf32>) -> tensor<?x?x1024xf32> {
  %w = tpc.weight "up.weight" : tensor<256x1024xf32>
  // expected-note @+1 {{the producer's pin is here}}
  %y = tpc.linear %x, %w layout = in_out {tpc.sharding = #tpc.sharding<@mesh, [{}, {}, {"tp"}]>} : (tensor<?x?x256xf32>, tensor<256x1024xf32>) -> tensor<?x?x1024xf32>
  // expected-warning @+1 {{pinned layouts conflict: operand #0 is pinned split along dimension 2 by its producer, and this op's pin needs it whole; an all-gather is inserted between them}}
  %g = tpc.gelu %y {tpc.sharding = #tpc.sharding<@mesh, [{}, {}, {}]>} : tensor<?x?x1024xf32>
  return %g : tensor<?x?x1024xf32>
}
