// tpc-lower-to-emitc: every op of a partitioned function becomes one call
// into the runtime's program layer, the rank's context first, with the
// partitioner's layouts and the element type as literals. Weights that only
// linear layers read load through linearWeight, with their layout (in_out:
// true), so that the backend may keep them packed.
// RUN: tpc-opt %s -split-input-file --tpc-tp-pipeline=tp=4 --tpc-lower-to-emitc | FileCheck %s
// RUN: not tpc-opt %s -split-input-file --tpc-lower-to-emitc -o /dev/null 2>&1 | FileCheck %s --check-prefix=UNPARTITIONED

// CHECK:       emitc.include "runtime/program/Ops.h"
// CHECK-LABEL: func.func @mlp(
// CHECK-SAME:    %[[CTX:.*]]: !emitc.opaque<"tpc::program::RankContext &">, %[[X:.*]]: !emitc.opaque<"tpc::Tensor">) -> !emitc.opaque<"tpc::Tensor">
// CHECK:   %[[W1:.*]] = emitc.call_opaque "tpc::program::linearWeight"(%[[CTX]]) {args = [0 : index, #emitc.opaque<"\22fc.weight\22">, #emitc.opaque<"{512, 2048}">, #emitc.opaque<"tpc::program::Layout{1, false, 1, 1, 1}">, #emitc.opaque<"tpc::DType::BF16">, #emitc.opaque<"true">]}
// CHECK:   %[[UP:.*]] = emitc.call_opaque "tpc::program::linearNoBias"(%[[CTX]], %[[X]], %[[W1]]) {args = [0 : index, 1 : index, 2 : index, #emitc.opaque<"true">]}
// CHECK:   %[[ACT:.*]] = emitc.call_opaque "tpc::program::gelu"(%[[CTX]], %[[UP]])
// CHECK:   %[[W2:.*]] = emitc.call_opaque "tpc::program::linearWeight"(%[[CTX]]) {{.*}}"{2048, 512}">, #emitc.opaque<"tpc::program::Layout{0, false, 1, 1, 1}">, #emitc.opaque<"tpc::DType::BF16">, #emitc.opaque<"true">]}
// CHECK:   %[[DOWN:.*]] = emitc.call_opaque "tpc::program::linearNoBias"(%[[CTX]], %[[ACT]], %[[W2]])
// CHECK:   %[[SUM:.*]] = emitc.call_opaque "tpc::program::allReduced"(%[[CTX]], %[[DOWN]])
// CHECK:   %[[OUT:.*]] = emitc.call_opaque "tpc::program::add"(%[[CTX]], %[[X]], %[[SUM]])
// CHECK:   return %[[OUT]] : !emitc.opaque<"tpc::Tensor">
// CHECK-NOT: tpc.
// UNPARTITIONED: error: tpc-lower-to-emitc needs a partitioned function; run tpc-partition first
func.func @mlp(%x: tensor<?x?x512xbf16>) -> tensor<?x?x512xbf16> {
  %w1 = tpc.weight "fc.weight" : tensor<512x2048xbf16>
  %h = tpc.linear %x, %w1 layout = in_out : (tensor<?x?x512xbf16>, tensor<512x2048xbf16>) -> tensor<?x?x2048xbf16>
  %a = tpc.gelu %h : tensor<?x?x2048xbf16>
  %w2 = tpc.weight "proj.weight" : tensor<2048x512xbf16>
  %y = tpc.linear %a, %w2 layout = in_out : (tensor<?x?x2048xbf16>, tensor<2048x512xbf16>) -> tensor<?x?x512xbf16>
  %r = tpc.add %x, %y : tensor<?x?x512xbf16>
  return %r : tensor<?x?x512xbf16>
}

// -----

// A fused q|k|v projection: one splitPiece call per piece; attention gets
// its query and key layouts (whole heads of 16 over 4 ranks).
// CHECK-LABEL: func.func @attention
// CHECK:   %[[QKV:.*]] = emitc.call_opaque "tpc::program::linearNoBias"
// CHECK:   %[[Q:.*]] = emitc.call_opaque "tpc::program::splitPiece"(%[[CTX2:.*]], %[[QKV]]) {args = [0 : index, 1 : index, #emitc.opaque<"3">, #emitc.opaque<"0">]}
// CHECK:   %[[K:.*]] = emitc.call_opaque "tpc::program::splitPiece"(%[[CTX2]], %[[QKV]]) {args = [0 : index, 1 : index, #emitc.opaque<"3">, #emitc.opaque<"1">]}
// CHECK:   %[[V:.*]] = emitc.call_opaque "tpc::program::splitPiece"(%[[CTX2]], %[[QKV]]) {args = [0 : index, 1 : index, #emitc.opaque<"3">, #emitc.opaque<"2">]}
// CHECK:   emitc.call_opaque "tpc::program::attention"(%[[CTX2]], %[[Q]], %[[K]], %[[V]]) {args = [0 : index, 1 : index, 2 : index, 3 : index, #emitc.opaque<"8">, #emitc.opaque<"8">, #emitc.opaque<"tpc::program::Layout{2, false, 16, 1, 1}">, #emitc.opaque<"tpc::program::Layout{2, false, 16, 1, 1}">, #emitc.opaque<"0">]}
func.func @attention(%x: tensor<?x?x128xf32>) -> tensor<?x?x128xf32> {
  %w = tpc.weight "qkv.weight" : tensor<128x384xf32>
  %qkv = tpc.linear %x, %w layout = in_out : (tensor<?x?x128xf32>, tensor<128x384xf32>) -> tensor<?x?x384xf32>
  %q, %k, %v = tpc.split %qkv : tensor<?x?x384xf32> -> tensor<?x?x128xf32>, tensor<?x?x128xf32>, tensor<?x?x128xf32>
  %a = tpc.attention %q, %k, %v heads = 8 kv_heads = 8 : (tensor<?x?x128xf32>, tensor<?x?x128xf32>, tensor<?x?x128xf32>) -> tensor<?x?x128xf32>
  %wo = tpc.weight "o.weight" : tensor<128x128xf32>
  %o = tpc.linear %a, %wo layout = in_out : (tensor<?x?x128xf32>, tensor<128x128xf32>) -> tensor<?x?x128xf32>
  return %o : tensor<?x?x128xf32>
}


