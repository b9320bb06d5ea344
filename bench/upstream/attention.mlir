// Attention projections (768 wide, 4096 tokens) for upstream MLIR. Upstream
// has no attention op, so the per-head attention core is stood in for by an
// elementwise combination of q, k and v: the comparison is about how the
// projections around it are propagated and partitioned. Upstream needs the
// layout of every weight written down.
shard.grid @grid(shape = 4)
func.func @attention(%x: tensor<4096x768xf32>, %wq: tensor<768x768xf32>,
                     %wk: tensor<768x768xf32>, %wv: tensor<768x768xf32>,
                     %wo: tensor<768x768xf32>) -> tensor<4096x768xf32> {
  %col = shard.sharding @grid split_axes = [[], [0]] : !shard.sharding
  %row = shard.sharding @grid split_axes = [[0], []] : !shard.sharding
  %wq_s = shard.shard %wq to %col annotate_for_users : tensor<768x768xf32>
  %wk_s = shard.shard %wk to %col annotate_for_users : tensor<768x768xf32>
  %wv_s = shard.shard %wv to %col annotate_for_users : tensor<768x768xf32>
  %wo_s = shard.shard %wo to %row annotate_for_users : tensor<768x768xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4096x768xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4096x768xf32>) -> tensor<4096x768xf32>
  %q = linalg.matmul ins(%x, %wq_s : tensor<4096x768xf32>, tensor<768x768xf32>) outs(%f : tensor<4096x768xf32>) -> tensor<4096x768xf32>
  %k = linalg.matmul ins(%x, %wk_s : tensor<4096x768xf32>, tensor<768x768xf32>) outs(%f : tensor<4096x768xf32>) -> tensor<4096x768xf32>
  %v = linalg.matmul ins(%x, %wv_s : tensor<4096x768xf32>, tensor<768x768xf32>) outs(%f : tensor<4096x768xf32>) -> tensor<4096x768xf32>
  %qk = linalg.mul ins(%q, %k : tensor<4096x768xf32>, tensor<4096x768xf32>) outs(%e : tensor<4096x768xf32>) -> tensor<4096x768xf32>
  %a = linalg.add ins(%qk, %v : tensor<4096x768xf32>, tensor<4096x768xf32>) outs(%e : tensor<4096x768xf32>) -> tensor<4096x768xf32>
  %o = linalg.matmul ins(%a, %wo_s : tensor<4096x768xf32>, tensor<768x768xf32>) outs(%f : tensor<4096x768xf32>) -> tensor<4096x768xf32>
  %rep = shard.sharding @grid split_axes = [[]] : !shard.sharding
  %o_r = shard.shard %o to %rep : tensor<4096x768xf32>
  return %o_r : tensor<4096x768xf32>
}
