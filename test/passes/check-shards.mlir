// tpc-check-shards rejects partitioned weights whose local types do not
// match what the layout deals every rank.
// RUN: tpc-opt %s -split-input-file --tpc-check-shards -verify-diagnostics

tpc.mesh @mesh ["tp" = 4]
func.func @good() attributes {tpc.partitioned} {
  // expected-remark @-1 {{shards of 2 weights checked over 4 ranks: 1 split, tiling each exactly once except shared KV heads; 1 whole on every rank}}
  %w = tpc.weight "w" {global_shape = array<i64: 768, 2304>, tpc.sharding = #tpc.sharding<@mesh, [{}, {"tp", unit = 64, sections = 3}]>} : tensor<768x576xf32>
  %b = tpc.weight "b" {global_shape = array<i64: 768>, tpc.sharding = #tpc.sharding<@mesh, [{}]>} : tensor<768xf32>
  return
}

// -----

tpc.mesh @mesh ["tp" = 4]
func.func @wrong_local_size() attributes {tpc.partitioned} {
  // expected-error @+1 {{dimension 1 local size must be 576, got 600}}
  %w = tpc.weight "w" {global_shape = array<i64: 768, 2304>, tpc.sharding = #tpc.sharding<@mesh, [{}, {"tp", unit = 64, sections = 3}]>} : tensor<768x600xf32>
  return
}

// -----

tpc.mesh @mesh ["tp" = 3]
func.func @uneven_must_be_dynamic() attributes {tpc.partitioned} {
  // expected-error @+1 {{dimension 0 local size must be dynamic, got 11}}
  %w = tpc.weight "w" {global_shape = array<i64: 32, 8>, tpc.sharding = #tpc.sharding<@mesh, [{"tp"}, {}]>} : tensor<11x8xf32>
  return
}

// -----

tpc.mesh @mesh ["tp" = 4]
func.func @whole_dimension_cut() attributes {tpc.partitioned} {
  // expected-error @+1 {{dimension 1 is whole, so every rank must hold 8 elements, got 4}}
  %w = tpc.weight "w" {global_shape = array<i64: 32, 8>, tpc.sharding = #tpc.sharding<@mesh, [{"tp"}, {}]>} : tensor<8x4xf32>
  return
}

// -----

tpc.mesh @mesh ["tp" = 4]
func.func @no_global_shape() attributes {tpc.partitioned} {
  // expected-error @+1 {{a partitioned weight must record its global_shape}}
  %w = tpc.weight "w" {tpc.sharding = #tpc.sharding<@mesh, [{"tp"}]>} : tensor<8xf32>
  return
}
