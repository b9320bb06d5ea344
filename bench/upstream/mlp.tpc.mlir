// The same MLP in the tpc dialect, with no annotation: tpc-auto-shard
// chooses the layout itself.
func.func @mlp(%x: tensor<1x4096x768xf32>) -> tensor<1x4096x768xf32> {
  %w1 = tpc.weight "c_fc.weight" : tensor<768x3072xf32>
  %h = tpc.linear %x, %w1 layout = in_out : (tensor<1x4096x768xf32>, tensor<768x3072xf32>) -> tensor<1x4096x3072xf32>
  %w2 = tpc.weight "c_proj.weight" : tensor<3072x768xf32>
  %y = tpc.linear %h, %w2 layout = in_out : (tensor<1x4096x3072xf32>, tensor<3072x768xf32>) -> tensor<1x4096x768xf32>
  return %y : tensor<1x4096x768xf32>
}
