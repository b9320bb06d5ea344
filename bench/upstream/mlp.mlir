// GPT-2-sized MLP (4096 tokens, 768 -> 3072 -> 768) for upstream MLIR's
// sharding-propagation + shard-partition. Upstream has no cost model: it
// needs the Megatron layout of each weight written down (column split of
// the first, row split of the second) and propagates from there.
shard.grid @grid(shape = 4)
func.func @mlp(%x: tensor<4096x768xf32>, %w1: tensor<768x3072xf32>,
               %w2: tensor<3072x768xf32>) -> tensor<4096x768xf32> {
  %s_col = shard.sharding @grid split_axes = [[], [0]] : !shard.sharding
  %w1_s = shard.shard %w1 to %s_col annotate_for_users : tensor<768x3072xf32>
  %s_row = shard.sharding @grid split_axes = [[0], []] : !shard.sharding
  %w2_s = shard.shard %w2 to %s_row annotate_for_users : tensor<3072x768xf32>
  %zero = arith.constant 0.0 : f32
  %e1 = tensor.empty() : tensor<4096x3072xf32>
  %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<4096x3072xf32>) -> tensor<4096x3072xf32>
  %h = linalg.matmul ins(%x, %w1_s : tensor<4096x768xf32>, tensor<768x3072xf32>)
                     outs(%f1 : tensor<4096x3072xf32>) -> tensor<4096x3072xf32>
  %e2 = tensor.empty() : tensor<4096x768xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<4096x768xf32>) -> tensor<4096x768xf32>
  %y = linalg.matmul ins(%h, %w2_s : tensor<4096x3072xf32>, tensor<3072x768xf32>)
                     outs(%f2 : tensor<4096x768xf32>) -> tensor<4096x768xf32>
  %s_rep = shard.sharding @grid split_axes = [[]] : !shard.sharding
  %y_r = shard.shard %y to %s_rep : tensor<4096x768xf32>
  return %y_r : tensor<4096x768xf32>
}
