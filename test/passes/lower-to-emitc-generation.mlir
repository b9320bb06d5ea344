// tpc-lower-to-emitc on the generation programs.
// Generation programs: positions, RoPE and attention from per-sequence
// offsets (token ids, offsets and lengths are tpc::program::Ids), the KV
// caches with their global features and layout, the in-place update, the
// last token before the LM head.
// RUN: tpc-opt %s --tpc-derive-generation --tpc-tp-pipeline=tp=2 --tpc-lower-to-emitc="name-suffix=_tp2" | FileCheck %s --check-prefix=GEN
// GEN-LABEL: func.func @forward_tp2(
// GEN-LABEL: func.func @decode_tp2(
// GEN-SAME:    %[[CTX:[^:]*]]: !emitc.opaque<"tpc::program::RankContext &">, %[[IDS:[^:]*]]: !emitc.opaque<"tpc::program::Ids">, %[[OFF:[^:]*]]: !emitc.opaque<"tpc::program::Ids">, %[[LEN:[^:]*]]: !emitc.opaque<"tpc::program::Ids">) -> !emitc.opaque<"tpc::Tensor">
// GEN:   emitc.call_opaque "tpc::program::rope"(%[[CTX]], %{{.*}}, %[[OFF]]) {args = [0 : index, 1 : index, 2 : index, #emitc.opaque<"16">, #emitc.opaque<"1.00000000000000000e+04">]}
// GEN:   %[[KC:.*]] = emitc.call_opaque "tpc::program::kvCache"(%[[CTX]]) {args = [0 : index, #emitc.opaque<"\22attention.0.k_cache\22">, #emitc.opaque<"32">, #emitc.opaque<"tpc::program::Layout{2, false, 16, 1, 2}">, #emitc.opaque<"tpc::DType::F32">]}
// GEN:   %[[K:.*]] = emitc.call_opaque "tpc::program::cacheUpdate"(%[[CTX]], %[[KC]], %{{.*}}, %[[OFF]])
// GEN:   %[[VC:.*]] = emitc.call_opaque "tpc::program::kvCache"
// GEN:   %[[V:.*]] = emitc.call_opaque "tpc::program::cacheUpdate"(%[[CTX]], %[[VC]], %{{.*}}, %[[OFF]])
// GEN:   emitc.call_opaque "tpc::program::attention"(%[[CTX]], %{{.*}}, %[[K]], %[[V]], %[[OFF]]) {args = [0 : index, 1 : index, 2 : index, 3 : index, 4 : index, #emitc.opaque<"4">, #emitc.opaque<"2">, #emitc.opaque<"tpc::program::Layout{2, false, 16, 1, 1}">, #emitc.opaque<"tpc::program::Layout{2, false, 16, 1, 2}">, #emitc.opaque<"0">]}
// GEN:   %[[LAST:.*]] = emitc.call_opaque "tpc::program::lastToken"(%[[CTX]], %{{.*}}, %[[LEN]])
// GEN:   emitc.call_opaque "tpc::program::lmHead"(%[[CTX]], %[[LAST]]
// GEN:   return
func.func @forward(%ids: tensor<?x?xi32>) -> tensor<?x?x64xf32> {
  %e = tpc.weight "embed.weight" : tensor<64x64xf32>
  %x = tpc.embedding %e, %ids : (tensor<64x64xf32>, tensor<?x?xi32>) -> tensor<?x?x64xf32>
  %wq = tpc.weight "q.weight" : tensor<64x64xf32>
  %wk = tpc.weight "k.weight" : tensor<32x64xf32>
  %q = tpc.linear %x, %wq layout = out_in : (tensor<?x?x64xf32>, tensor<64x64xf32>) -> tensor<?x?x64xf32>
  %k = tpc.linear %x, %wk layout = out_in : (tensor<?x?x64xf32>, tensor<32x64xf32>) -> tensor<?x?x32xf32>
  %qr = tpc.rope %q head_dim = 16 theta = 1.0e4 : tensor<?x?x64xf32>
  %kr = tpc.rope %k head_dim = 16 theta = 1.0e4 : tensor<?x?x32xf32>
  %a = tpc.attention %qr, %kr, %k heads = 4 kv_heads = 2 : (tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32>) -> tensor<?x?x64xf32>
  %logits = tpc.lm_head %a, %e : (tensor<?x?x64xf32>, tensor<64x64xf32>) -> tensor<?x?x64xf32>
  return %logits : tensor<?x?x64xf32>
}
