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
    %g = tpc.weight "norm.weight" : tensor<8xf32>
    // expected-error @+1 {{'tpc.add_rms_norm' op has no derivative rule}}
    %sum, %n = tpc.add_rms_norm %x, %x, %g epsilon = 1.0e-5 : (tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<8xf32>) -> (tensor<?x?x8xf32>, tensor<?x?x8xf32>)
    %logits = tpc.lm_head %n, %table : (tensor<?x?x8xf32>, tensor<11x8xf32>) -> tensor<?x?x11xf32>
    return %logits : tensor<?x?x11xf32>
  }
}
