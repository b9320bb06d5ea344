//===- ShapeRules.cpp - shape rules of the tpc ops ------------------------===//
#include "dialects/tpc/ShapeRules.h"
#include "dialects/tpc/TpcAttrs.h"

#include "llvm/Support/FormatVariadic.h"

using namespace mlir::tpc;
using namespace mlir::tpc::shape_rules;

namespace {
/// An error whose message is `what must hold, got: value`.
template <typename... Ts> llvm::Error fail(const char *fmt, Ts &&...vals) {
  return llvm::createStringError(
      llvm::inconvertibleErrorCode(),
      llvm::formatv(fmt, std::forward<Ts>(vals)...).str());
}

std::string dimStr(int64_t d) {
  return d == kDynamic ? std::string("?") : std::to_string(d);
}

llvm::Error checkRank(llvm::StringRef what, ShapeRef shape, size_t rank) {
  if (shape.size() == rank)
    return llvm::Error::success();
  return fail("{0} must have rank {1}, got {2}", what, rank, format(shape));
}

llvm::Error checkMinRank(llvm::StringRef what, ShapeRef shape, size_t rank) {
  if (shape.size() >= rank)
    return llvm::Error::success();
  return fail("{0} must have rank >= {1}, got {2}", what, rank, format(shape));
}

bool isStatic(int64_t d) { return d != kDynamic; }
} // namespace

std::string shape_rules::format(ShapeRef shape) {
  std::string out = "[";
  for (auto [i, d] : llvm::enumerate(shape))
    out += (i ? ", " : "") + dimStr(d);
  return out + "]";
}

bool shape_rules::dimsCompatible(int64_t a, int64_t b) {
  return a == b || !isStatic(a) || !isStatic(b);
}

bool shape_rules::shapesCompatible(ShapeRef a, ShapeRef b) {
  if (a.size() != b.size())
    return false;
  for (auto [x, y] : llvm::zip_equal(a, b))
    if (!dimsCompatible(x, y))
      return false;
  return true;
}

llvm::Expected<Shape> shape_rules::linear(ShapeRef input, ShapeRef weight,
                                          std::optional<ShapeRef> bias,
                                          WeightLayout layout) {
  if (auto err = checkMinRank("input", input, 1))
    return std::move(err);
  if (auto err = checkRank("weight", weight, 2))
    return std::move(err);
  bool inOut = layout == WeightLayout::InOut;
  int64_t in = inOut ? weight[0] : weight[1];
  int64_t out = inOut ? weight[1] : weight[0];
  if (!dimsCompatible(in, input.back()))
    return fail("weight input dimension (dim {0} of {1} {2}) must equal the "
                "input's last dimension {3}, got {4}",
                inOut ? 0 : 1, stringifyWeightLayout(layout), format(weight),
                dimStr(input.back()), dimStr(in));
  if (bias) {
    if (auto err = checkRank("bias", *bias, 1))
      return std::move(err);
    if (!dimsCompatible((*bias)[0], out))
      return fail("bias size must equal the output features {0}, got {1}",
                  dimStr(out), dimStr((*bias)[0]));
  }
  Shape result(input.drop_back());
  result.push_back(out);
  return result;
}

llvm::Expected<llvm::SmallVector<Shape>>
shape_rules::split(ShapeRef input, llvm::ArrayRef<int64_t> sizes) {
  if (auto err = checkMinRank("input", input, 1))
    return std::move(err);
  if (sizes.empty())
    return fail("split must have at least one result, got none");
  llvm::SmallVector<Shape> results;
  int64_t total = 0;
  for (int64_t size : sizes) {
    if (!isStatic(size) || !isStatic(total))
      total = kDynamic;
    else
      total += size;
    Shape piece(input.drop_back());
    piece.push_back(size);
    results.push_back(std::move(piece));
  }
  if (!dimsCompatible(total, input.back()))
    return fail("the sections' sizes must add up to the input's last "
                "dimension {0}, got {1}",
                dimStr(input.back()), total);
  return results;
}

llvm::Expected<Shape> shape_rules::embedding(ShapeRef table, ShapeRef ids) {
  if (auto err = checkRank("table", table, 2))
    return std::move(err);
  if (auto err = checkMinRank("ids", ids, 1))
    return std::move(err);
  Shape result(ids);
  result.push_back(table[1]);
  return result;
}

/// Offsets (or lengths) give one entry per sequence: their shape is
/// `batch`, the leading dimensions of the tensor they index.
static llvm::Error checkPerSequence(llvm::StringRef what, ShapeRef values,
                                   ShapeRef batch) {
  if (shapesCompatible(values, batch))
    return llvm::Error::success();
  return fail("{0} must have one entry per sequence, shape {1}, got {2}", what,
              format(batch), format(values));
}

llvm::Expected<Shape> shape_rules::positions(ShapeRef ids,
                                             std::optional<ShapeRef> offsets) {
  if (auto err = checkMinRank("ids", ids, 1))
    return std::move(err);
  if (offsets)
    if (auto err = checkPerSequence("offsets", *offsets, ids.drop_back()))
      return std::move(err);
  return Shape(ids);
}

llvm::Expected<Shape> shape_rules::norm(ShapeRef input,
                                        llvm::ArrayRef<ShapeRef> params) {
  if (auto err = checkMinRank("input", input, 1))
    return std::move(err);
  for (ShapeRef param : params) {
    if (auto err = checkRank("norm parameter", param, 1))
      return std::move(err);
    if (!dimsCompatible(param[0], input.back()))
      return fail("norm parameter size must equal the input's last "
                  "dimension {0}, got {1}",
                  dimStr(input.back()), dimStr(param[0]));
  }
  return Shape(input);
}

llvm::Expected<Shape> shape_rules::rope(ShapeRef input, int64_t headDim,
                                        std::optional<ShapeRef> offsets) {
  if (auto err = checkRank("input", input, 3))
    return std::move(err);
  if (offsets)
    if (auto err = checkPerSequence("offsets", *offsets, input.take_front()))
      return std::move(err);
  if (headDim <= 0 || headDim % 2 != 0)
    return fail("head_dim must be positive and even, got {0}", headDim);
  if (isStatic(input[2]) && input[2] % headDim != 0)
    return fail("features must be a multiple of head_dim {0}, got {1}", headDim,
                input[2]);
  return Shape(input);
}

llvm::Expected<Shape> shape_rules::attention(ShapeRef q, ShapeRef k, ShapeRef v,
                                             int64_t numHeads,
                                             int64_t numKvHeads,
                                             std::optional<ShapeRef> offsets) {
  for (auto [name, shape] : {std::pair{"q", q}, {"k", k}, {"v", v}})
    if (auto err = checkRank(name, shape, 3))
      return std::move(err);
  if (numHeads <= 0)
    return fail("num_heads must be positive, got {0}", numHeads);
  if (numKvHeads <= 0 || numHeads % numKvHeads != 0)
    return fail("num_kv_heads must be positive and divide num_heads {0}, "
                "got {1}",
                numHeads, numKvHeads);
  // Keys from a cache may be any number; otherwise one per query.
  unsigned shared = offsets ? 1 : 2;
  for (unsigned d = 0; d < shared; ++d)
    if (!dimsCompatible(q[d], k[d]) || !dimsCompatible(q[d], v[d]))
      return fail("q, k and v must agree in {0}, got {1}, {2}, {3}",
                  offsets ? "batch" : "batch and sequence", format(q),
                  format(k), format(v));
  if (offsets)
    if (auto err = checkPerSequence("offsets", *offsets, q.take_front()))
      return std::move(err);
  if (!shapesCompatible(k, v))
    return fail("k and v must have one shape, got {0} and {1}", format(k),
                format(v));
  if (isStatic(q[2])) {
    if (q[2] % numHeads != 0)
      return fail("query features must be divisible by num_heads {0}, got "
                  "{1}",
                  numHeads, q[2]);
    int64_t headDim = q[2] / numHeads;
    if (!dimsCompatible(k[2], numKvHeads * headDim))
      return fail("key/value features must be num_kv_heads * head_dim = "
                  "{0} * {1} = {2}, got {3}",
                  numKvHeads, headDim, numKvHeads * headDim, k[2]);
  }
  return Shape(q);
}

llvm::Expected<Shape> shape_rules::lmHead(ShapeRef input, ShapeRef weight) {
  if (auto err = checkMinRank("input", input, 1))
    return std::move(err);
  if (auto err = checkRank("weight", weight, 2))
    return std::move(err);
  if (!dimsCompatible(weight[1], input.back()))
    return fail("weight [vocab, hidden] hidden size must equal the input's "
                "last dimension {0}, got {1}",
                dimStr(input.back()), dimStr(weight[1]));
  Shape result(input.drop_back());
  result.push_back(weight[0]);
  return result;
}

llvm::Expected<Shape> shape_rules::lastToken(ShapeRef input,
                                             ShapeRef lengths) {
  if (auto err = checkRank("input", input, 3))
    return std::move(err);
  if (auto err = checkPerSequence("lengths", lengths, input.take_front()))
    return std::move(err);
  return Shape{input[0], input[2]};
}

llvm::Error shape_rules::kvCache(ShapeRef cache) {
  if (auto err = checkRank("a KV cache", cache, 3))
    return err;
  if (!isStatic(cache[2]))
    return fail("a KV cache's features must be static, got {0}",
                format(cache));
  return llvm::Error::success();
}

llvm::Expected<Shape> shape_rules::cacheUpdate(ShapeRef cache, ShapeRef input,
                                               ShapeRef offsets) {
  if (auto err = kvCache(cache))
    return std::move(err);
  if (auto err = checkRank("input", input, 3))
    return std::move(err);
  if (!dimsCompatible(cache[0], input[0]) ||
      !dimsCompatible(cache[2], input[2]))
    return fail("input must match the cache in batch and features, got {0} "
                "for cache {1}",
                format(input), format(cache));
  if (isStatic(cache[1]) && isStatic(input[1]) && input[1] > cache[1])
    return fail("input must have at most the cache's {0} positions, got {1}",
                cache[1], input[1]);
  if (auto err = checkPerSequence("offsets", offsets, input.take_front()))
    return std::move(err);
  return Shape(cache);
}

static llvm::Error checkCollectiveDim(ShapeRef input, int64_t dim) {
  if (dim < 0 || dim >= static_cast<int64_t>(input.size()))
    return fail("dim must index a dimension of {0}, got {1}", format(input),
                dim);
  return llvm::Error::success();
}

llvm::Expected<Shape> shape_rules::allGather(ShapeRef input, int64_t dim,
                                             int64_t axisSize) {
  if (auto err = checkCollectiveDim(input, dim))
    return std::move(err);
  Shape result(input);
  if (isStatic(result[dim]))
    result[dim] *= axisSize;
  return result;
}

llvm::Expected<Shape> shape_rules::reduceScatter(ShapeRef input, int64_t dim,
                                                 int64_t axisSize) {
  if (auto err = checkCollectiveDim(input, dim))
    return std::move(err);
  Shape result(input);
  if (isStatic(result[dim])) {
    if (result[dim] % axisSize != 0)
      return fail("scattered dimension {0} must be divisible by the axis "
                  "size {1}, got {2}",
                  dim, axisSize, result[dim]);
    result[dim] /= axisSize;
  }
  return result;
}

llvm::Error shape_rules::checkSplitGranularity(int64_t size, int64_t unit,
                                               int64_t sections) {
  if (!isStatic(size) || size % (unit * sections) == 0)
    return llvm::Error::success();
  return fail("a split dimension must hold {0} section(s) of whole units of "
              "{1}, so be a multiple of {2}, got {3}",
              sections, unit, unit * sections, size);
}
