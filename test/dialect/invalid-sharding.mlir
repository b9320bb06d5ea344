// Every diagnostic about meshes, shardings and pinned `tpc.sharding`
// attributes, one self-contained case each.
// RUN: tpc-opt %s -split-input-file -verify-diagnostics

tpc.mesh @mesh ["tp" = 4]
func.func @unknown_axis() {
  // expected-error @+1 {{'tpc.sharding' of result #0: axis must be one of mesh @mesh's axes ("tp"), got "dp"}}
  %w = tpc.weight "w" {tpc.sharding = #tpc.sharding<@mesh, [{"dp"}, {}]>} : tensor<8x8xf32>
  return
}

// -----

tpc.mesh @mesh ["tp" = 4]
func.func @unknown_partial_axis() {
  // expected-error @+1 {{'tpc.sharding' of result #0: axis must be one of mesh @mesh's axes ("tp"), got "dp"}}
  %w = tpc.weight "w" {tpc.sharding = #tpc.sharding<@mesh, [{}, {}], partial = {"dp"}>} : tensor<8x8xf32>
  return
}

// -----

func.func @unknown_mesh() {
  // expected-error @+1 {{'tpc.sharding' of result #0: mesh @mesh must name a tpc.mesh in scope}}
  %w = tpc.weight "w" {tpc.sharding = #tpc.sharding<@mesh, [{}, {}]>} : tensor<8x8xf32>
  return
}

// -----

tpc.mesh @mesh ["tp" = 4]
func.func @rank_mismatch() {
  // expected-error @+1 {{'tpc.sharding' of result #0: sharding must give one dimension entry per tensor dimension (2), got 3}}
  %w = tpc.weight "w" {tpc.sharding = #tpc.sharding<@mesh, [{}, {}, {}]>} : tensor<8x8xf32>
  return
}

// -----

// A split must never cut inside a head: 2300 is not whole 64-wide heads in
// three sections.
tpc.mesh @mesh ["tp" = 4]
func.func @split_inside_a_head() {
  // expected-error @+1 {{'tpc.sharding' of result #0: dimension 1: a split dimension must hold 3 section(s) of whole units of 64, so be a multiple of 192, got 2300}}
  %w = tpc.weight "w" {tpc.sharding = #tpc.sharding<@mesh, [{}, {"tp", unit = 64, sections = 3}]>} : tensor<768x2300xf32>
  return
}

// -----

tpc.mesh @mesh ["tp" = 4]
func.func @not_a_sharding() {
  // expected-error @+1 {{'tpc.sharding' of result #0: must be a #tpc.sharding, got 3 : i64}}
  %w = tpc.weight "w" {tpc.sharding = 3} : tensor<8x8xf32>
  return
}

// -----

tpc.mesh @mesh ["tp" = 4]
func.func @one_per_result(%x: tensor<?x?x192xf32>) {
  // expected-error @+1 {{'tpc.sharding' must give one sharding per result (2), got 1}}
  %a, %b = tpc.split %x {tpc.sharding = [#tpc.sharding<@mesh, [{}, {}, {}]>]} : tensor<?x?x192xf32> -> tensor<?x?x96xf32>, tensor<?x?x96xf32>
  return
}

// -----

tpc.mesh @mesh ["tp" = 4]
func.func @scalar_result() {
  // expected-error @+1 {{'tpc.sharding' of result #0: only ranked tensors can be sharded, got 'f32'}}
  %c = arith.constant {tpc.sharding = #tpc.sharding<@mesh, []>} 1.0 : f32
  return
}

// -----

func.func @unknown_tpc_attribute() {
  // expected-error @+1 {{unknown tpc attribute 'tpc.shard', expected one of 'tpc.sharding', 'tpc.model_type', 'tpc.max_positions', 'tpc.max_local_shape', 'tpc.partitioned', 'tpc.sharded_results', 'tpc.eos_token_ids'}}
  %w = tpc.weight "w" {tpc.shard = 1} : tensor<8xf32>
  return
}

// -----

func.func @zero_unit() {
  // expected-error @+1 {{unit must be >= 1, got 0}}
  %w = tpc.weight "w" {tpc.sharding = #tpc.sharding<@mesh, [{"tp", unit = 0}]>} : tensor<8xf32>
  return
}

// -----

func.func @zero_sections() {
  // expected-error @+1 {{sections must be >= 1, got 0}}
  %w = tpc.weight "w" {tpc.sharding = #tpc.sharding<@mesh, [{"tp", sections = 0}]>} : tensor<8xf32>
  return
}

// -----

func.func @empty_axis_name() {
  // expected-error @+1 {{mesh axis names must be non-empty, got ""}}
  %w = tpc.weight "w" {tpc.sharding = #tpc.sharding<@mesh, [{""}]>} : tensor<8xf32>
  return
}

// -----

func.func @axis_twice_in_one_dim() {
  // expected-error @+1 {{a mesh axis may split a tensor once, got "tp" twice}}
  %w = tpc.weight "w" {tpc.sharding = #tpc.sharding<@mesh, [{"tp", "tp"}]>} : tensor<8xf32>
  return
}

// -----

func.func @axis_on_two_dims() {
  // expected-error @+1 {{a mesh axis may split a tensor once, got "tp" twice}}
  %w = tpc.weight "w" {tpc.sharding = #tpc.sharding<@mesh, [{"tp"}, {"tp"}]>} : tensor<8x8xf32>
  return
}

// -----

func.func @axis_split_and_partial() {
  // expected-error @+1 {{a mesh axis may split a tensor once, got "tp" twice}}
  %w = tpc.weight "w" {tpc.sharding = #tpc.sharding<@mesh, [{"tp"}], partial = {"tp"}>} : tensor<8xf32>
  return
}

// -----

func.func @standalone_dim_verified() attributes {
  // expected-error @+1 {{unit must be >= 1, got -4}}
  test.dim = #tpc.dim<{"tp", unit = -4}>} {
  return
}

// -----

// expected-error @+1 {{'tpc.max_positions' must be a positive integer, got 0 : i64}}
func.func @max_positions_zero() attributes {tpc.max_positions = 0 : i64} {
  return
}

// -----

// expected-error @+1 {{'tpc.model_type' must be a string, got 3 : i64}}
func.func @model_type_not_string() attributes {tpc.model_type = 3} {
  return
}

// -----

func.func @zero_groups() {
  // expected-error @+1 {{groups must be >= 1, got 0}}
  %w = tpc.weight "w" {tpc.sharding = #tpc.sharding<@mesh, [{"tp", groups = 0}]>} : tensor<8xf32>
  return
}

// -----

// expected-error @+1 {{'tpc.partitioned' must be a unit attribute, got 1 : i64}}
func.func @partitioned_not_unit() attributes {tpc.partitioned = 1} {
  return
}

// -----

// expected-error @+1 {{'tpc.eos_token_ids' must be an array<i64> of non-negative token ids, got array<i64: -1>}}
func.func @negative_eos() attributes {tpc.eos_token_ids = array<i64: -1>} {
  return
}

// -----

// expected-error @+1 {{'tpc.sharded_results' must be a unit attribute, got true}}
func.func @sharded_results_not_unit() attributes {tpc.sharded_results = true} {
  return
}

// -----

func.func @max_local_shape_rank() {
  // expected-error @+1 {{'tpc.max_local_shape' must be an array<i64> with one size (or -1) per dimension of the op's one tensor result, got array<i64: 4>}}
  %w = tpc.weight "w" {tpc.max_local_shape = array<i64: 4>} : tensor<8x2xf32>
  return
}

// -----

func.func @max_local_shape_of_several_results(%q: tensor<?x?x?xf32>, %kv: tensor<?x?x?xf32>) {
  // expected-error @+1 {{'tpc.max_local_shape' of an op with 3 results must be an array of array<i64>, one per tensor result with one size (or -1) per dimension, got array<i64: -1, -1, 32>}}
  %dq, %dk, %dv = tpc.attention_grad %q, %kv, %kv, %q heads = 4 kv_heads = 4 {tpc.max_local_shape = array<i64: -1, -1, 32>} : (tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?x?xf32>) -> (tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?x?xf32>)
  return
}

// -----

func.func @max_local_shape_one_per_result(%q: tensor<?x?x?xf32>, %kv: tensor<?x?x?xf32>) {
  // expected-error @+1 {{'tpc.max_local_shape' of an op with 3 results must be an array of array<i64>, one per tensor result with one size (or -1) per dimension, got [array<i64: -1, -1, 32>, array<i64: -1, -1, 32>]}}
  %dq, %dk, %dv = tpc.attention_grad %q, %kv, %kv, %q heads = 4 kv_heads = 4 {tpc.max_local_shape = [array<i64: -1, -1, 32>, array<i64: -1, -1, 32>]} : (tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?x?xf32>) -> (tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?x?xf32>)
  return
}
