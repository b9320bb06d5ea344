// RUN: tpc-opt %s --split-input-file --tpc-derive-training --verify-diagnostics

// expected-error @+1 {{tpc-derive-training needs a @forward function to derive from}}
module {
  func.func @other(%ids: tensor<?x?xi32>) -> tensor<?x?xi32> {
    return %ids : tensor<?x?xi32>
  }
}

// -----

module {
  func.func @forward(%ids: tensor<?x?xi32>) -> tensor<?x?x11xf32> {
    %table = tpc.weight "wte" : tensor<11x8xf32>
    %x = tpc.embedding %table, %ids : (tensor<11x8xf32>, tensor<?x?xi32>) -> tensor<?x?x8xf32>
    %offsets = arith.constant dense<0> : tensor<1xi32>
    // expected-error @+1 {{'tpc.rope' op from offsets (a generation program) has no derivative rule}}
    %r = tpc.rope %x offsets %offsets head_dim = 4 theta = 1.0e4 : tensor<?x?x8xf32>, tensor<1xi32>
    %logits = tpc.lm_head %r, %table : (tensor<?x?x8xf32>, tensor<11x8xf32>) -> tensor<?x?x11xf32>
    return %logits : tensor<?x?x11xf32>
  }
}

// -----

// expected-error @+1 {{tpc-derive-training: the module already has a symbol @train_step}}
module {
  func.func @train_step() {
    return
  }
  func.func @forward(%ids: tensor<?x?xi32>) -> tensor<?x?x11xf32> {
    %table = tpc.weight "wte" : tensor<11x8xf32>
    %x = tpc.embedding %table, %ids : (tensor<11x8xf32>, tensor<?x?xi32>) -> tensor<?x?x8xf32>
    %logits = tpc.lm_head %x, %table : (tensor<?x?x8xf32>, tensor<11x8xf32>) -> tensor<?x?x11xf32>
    return %logits : tensor<?x?x11xf32>
  }
}

// -----

module {
  // expected-error @+1 {{tpc-derive-training needs ids [batch, seq] and logits [batch, seq, vocab], got 'tensor<?xi32>' and 'tensor<?x11xf32>'}}
  func.func @forward(%ids: tensor<?xi32>) -> tensor<?x11xf32> {
    %table = tpc.weight "wte" : tensor<11x8xf32>
    %x = tpc.embedding %table, %ids : (tensor<11x8xf32>, tensor<?xi32>) -> tensor<?x8xf32>
    %logits = tpc.lm_head %x, %table : (tensor<?x8xf32>, tensor<11x8xf32>) -> tensor<?x11xf32>
    return %logits : tensor<?x11xf32>
  }
}
