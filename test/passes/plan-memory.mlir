// tpc-plan-memory: every activation is released right after the op that
// reads it last (or makes it, when nothing reads it); weights, KV caches
// and the function's results are not; running it twice plans once; the
// release lowers to one runtime call per value.
// RUN: tpc-opt %s -split-input-file --tpc-tp-pipeline=tp=4 --tpc-plan-memory | FileCheck %s
// RUN: tpc-opt %s -split-input-file --tpc-tp-pipeline=tp=4 --tpc-plan-memory --tpc-plan-memory | FileCheck %s
// RUN: tpc-opt %s -split-input-file --tpc-tp-pipeline=tp=4 --tpc-plan-memory --tpc-lower-to-emitc | FileCheck %s --check-prefix=LOWERED

// CHECK-LABEL: func.func @mlp(
// CHECK-SAME:    %[[X:.*]]: tensor<?x?x512xbf16>)
// CHECK:   %[[W1:.*]] = tpc.weight "fc.weight"
// CHECK:   %[[UP:.*]] = tpc.linear %[[X]], %[[W1]]
// CHECK-NEXT:   %[[ACT:.*]] = tpc.gelu %[[UP]]
// CHECK-NEXT:   tpc.release %[[UP]] : tensor<?x?x512xbf16>
// CHECK:   %[[DOWN:.*]] = tpc.linear %[[ACT]], %{{.*}}
// CHECK-NEXT:   tpc.release %[[ACT]] : tensor<?x?x512xbf16>
// CHECK-NEXT:   %[[SUM:.*]] = tpc.all_reduce %[[DOWN]]
// CHECK-NEXT:   tpc.release %[[DOWN]] : tensor<?x?x512xbf16>
// CHECK-NEXT:   %[[OUT:.*]] = tpc.add %[[X]], %[[SUM]]
// CHECK-NEXT:   tpc.release %[[SUM]] : tensor<?x?x512xbf16>
// CHECK-NEXT:   %[[SLICE:.*]] = tpc.all_slice %[[OUT]]
// CHECK-NEXT:   %[[UNUSED:.*]] = tpc.silu %[[SLICE]]
// CHECK-NEXT:   tpc.release %[[UNUSED]], %[[SLICE]] : tensor<?x?x128xbf16>, tensor<?x?x128xbf16>
// CHECK-NEXT:   return %[[OUT]]
// CHECK-NOT: tpc.release
// LOWERED:   %[[UP:.*]] = emitc.call_opaque "tpc::program::linearNoBias"
// LOWERED-NEXT:   %[[ACT:.*]] = emitc.call_opaque "tpc::program::gelu"(%[[CTX:.*]], %[[UP]])
// LOWERED-NEXT:   emitc.call_opaque "tpc::program::release"(%[[CTX]], %[[UP]]) {args = [0 : index, 1 : index]} : (!emitc.opaque<"tpc::program::RankContext &">, !emitc.opaque<"tpc::Tensor">) -> ()
func.func @mlp(%x: tensor<?x?x512xbf16>) -> tensor<?x?x512xbf16> {
  %w1 = tpc.weight "fc.weight" : tensor<512x2048xbf16>
  %h = tpc.linear %x, %w1 layout = in_out : (tensor<?x?x512xbf16>, tensor<512x2048xbf16>) -> tensor<?x?x2048xbf16>
  %a = tpc.gelu %h : tensor<?x?x2048xbf16>
  %w2 = tpc.weight "proj.weight" : tensor<2048x512xbf16>
  %y = tpc.linear %a, %w2 layout = in_out : (tensor<?x?x2048xbf16>, tensor<2048x512xbf16>) -> tensor<?x?x512xbf16>
  %r = tpc.add %x, %y : tensor<?x?x512xbf16>
  %unused = tpc.silu %r : tensor<?x?x512xbf16>
  return %r : tensor<?x?x512xbf16>
}

// -----

// A KV cache and its in-place update are program state: never released.
// CHECK-LABEL: func.func @decode_step(
// CHECK:   tpc.kv_cache "k0"
// CHECK:   %[[UPD:.*]] = tpc.cache_update
// CHECK-NOT:   tpc.release %[[UPD]]
// CHECK:   return
func.func @decode_step(%k: tensor<?x1x64xf32>, %off: tensor<?xi32>) -> tensor<?x?x64xf32> {
  %c = tpc.kv_cache "k0" : tensor<?x?x64xf32>
  %u = tpc.cache_update %c, %k, %off : (tensor<?x?x64xf32>, tensor<?x1x64xf32>, tensor<?xi32>) -> tensor<?x?x64xf32>
  return %u : tensor<?x?x64xf32>
}
