// The same attention block in the tpc dialect (with the real attention op,
// 12 heads of 64), with no annotation.
func.func @attention(%x: tensor<1x4096x768xf32>) -> tensor<1x4096x768xf32> {
  %wq = tpc.weight "q.weight" : tensor<768x768xf32>
  %wk = tpc.weight "k.weight" : tensor<768x768xf32>
  %wv = tpc.weight "v.weight" : tensor<768x768xf32>
  %q = tpc.linear %x, %wq layout = in_out : (tensor<1x4096x768xf32>, tensor<768x768xf32>) -> tensor<1x4096x768xf32>
  %k = tpc.linear %x, %wk layout = in_out : (tensor<1x4096x768xf32>, tensor<768x768xf32>) -> tensor<1x4096x768xf32>
  %v = tpc.linear %x, %wv layout = in_out : (tensor<1x4096x768xf32>, tensor<768x768xf32>) -> tensor<1x4096x768xf32>
  %a = tpc.attention %q, %k, %v heads = 12 kv_heads = 12 : (tensor<1x4096x768xf32>, tensor<1x4096x768xf32>, tensor<1x4096x768xf32>) -> tensor<1x4096x768xf32>
  %wo = tpc.weight "o.weight" : tensor<768x768xf32>
  %o = tpc.linear %a, %wo layout = in_out : (tensor<1x4096x768xf32>, tensor<768x768xf32>) -> tensor<1x4096x768xf32>
  return %o : tensor<1x4096x768xf32>
}
