// What tpc-derive-generation cannot derive from, one case each.
// RUN: tpc-opt %s -split-input-file -verify-diagnostics --tpc-derive-generation

// expected-error @+1 {{tpc-derive-generation needs a @forward function to derive from}}
module {
  func.func @block(%ids: tensor<?x?xi32>) -> tensor<?x?xi32> {
    return %ids : tensor<?x?xi32>
  }
}

// -----

// expected-error @+1 {{tpc-derive-generation: @forward has no attention, so nothing to cache}}
func.func @forward(%ids: tensor<?x?xi32>) -> tensor<?x?x64xf32> {
  %e = tpc.weight "embed.weight" : tensor<64x64xf32>
  %x = tpc.embedding %e, %ids : (tensor<64x64xf32>, tensor<?x?xi32>) -> tensor<?x?x64xf32>
  %logits = tpc.lm_head %x, %e : (tensor<?x?x64xf32>, tensor<64x64xf32>) -> tensor<?x?x64xf32>
  return %logits : tensor<?x?x64xf32>
}

// -----

// expected-error @+1 {{tpc-derive-generation: @forward must take one argument (token ids), got 2}}
func.func @forward(%ids: tensor<?x?xi32>, %other: tensor<?x?xi32>) -> tensor<?x?xi32> {
  return %ids : tensor<?x?xi32>
}

// -----

// expected-error @+1 {{tpc-derive-generation: token ids must be [batch, seq] integers, got 'tensor<?xi32>'}}
func.func @forward(%ids: tensor<?xi32>) -> tensor<?xi32> {
  return %ids : tensor<?xi32>
}

// -----

// expected-error @+1 {{tpc-derive-generation: @forward must return [batch, seq, vocab] logits, got 'tensor<4x64xf32>'}}
func.func @forward(%ids: tensor<?x?xi32>) -> tensor<4x64xf32> {
  %e = tpc.weight "embed.weight" : tensor<64x64xf32>
  %x = tpc.embedding %e, %ids : (tensor<64x64xf32>, tensor<?x?xi32>) -> tensor<?x?x64xf32>
  %a = tpc.attention %x, %x, %x heads = 4 kv_heads = 4 : (tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>) -> tensor<?x?x64xf32>
  %w = tpc.weight "w" : tensor<4x64xf32>
  return %w : tensor<4x64xf32>
}
