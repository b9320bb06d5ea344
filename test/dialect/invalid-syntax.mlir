// Malformed tpc syntax: the parser points at the offending token.
// RUN: tpc-opt %s -split-input-file -verify-diagnostics

func.func @unknown_dim_key() {
  // expected-error @+1 {{expected a quoted mesh axis name, 'unit', 'sections' or 'groups', got 'heads'}}
  %w = tpc.weight "w" {tpc.sharding = #tpc.sharding<@mesh, [{"tp", heads = 4}]>} : tensor<8xf32>
  return
}

// -----

func.func @repeated_dim_key() {
  // expected-error @+1 {{each key may appear once, got 'unit' twice}}
  %w = tpc.weight "w" {tpc.sharding = #tpc.sharding<@mesh, [{"tp", unit = 4, unit = 2}]>} : tensor<8xf32>
  return
}

// -----

func.func @mesh_not_a_symbol() {
  // expected-error @+1 {{expected attribute value}}
  %w = tpc.weight "w" {tpc.sharding = #tpc.sharding<mesh, [{}]>} : tensor<8xf32>
  return
}

// -----

func.func @bad_partial_keyword() {
  // expected-error @+1 {{expected 'partial'}}
  %w = tpc.weight "w" {tpc.sharding = #tpc.sharding<@mesh, [{}], sums = {"tp"}>} : tensor<8xf32>
  return
}

// -----

// expected-error @+1 {{expected '='}}
tpc.mesh @mesh ["tp" 4]

// -----

// expected-error @+1 {{expected integer value}}
tpc.mesh @mesh ["tp" = four]

// -----

func.func @unknown_layout(%x: tensor<?x64xf32>) {
  %w = tpc.weight "w" : tensor<64x64xf32>
  // expected-error @+2 {{expected ::mlir::tpc::WeightLayout to be one of: in_out, out_in}}
  // expected-error @+1 {{failed to parse Tpc_WeightLayoutAttr parameter 'value'}}
  %y = tpc.linear %x, %w layout = row_major : (tensor<?x64xf32>, tensor<64x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

func.func @unknown_op() {
  // expected-error @+1 {{custom op 'tpc.matmul_fused' is unknown}}
  tpc.matmul_fused
  return
}
