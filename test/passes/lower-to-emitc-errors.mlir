// What tpc-lower-to-emitc refuses, one case each.
// RUN: tpc-opt %s -split-input-file -verify-diagnostics --tpc-lower-to-emitc

// Found by fuzzing: a tpc op outside any function has no rank context.
// expected-error @+1 {{tpc-lower-to-emitc lowers tpc ops inside functions only}}
%outside = tpc.weight "wte.weight" : tensor<101x64xf32>

// -----

// expected-error @+1 {{tpc-lower-to-emitc needs a partitioned function; run tpc-partition first}}
func.func @unpartitioned(%x: tensor<?x?x8xf32>) -> tensor<?x?x8xf32> {
  return %x : tensor<?x?x8xf32>
}
