//===- ShapeRules.h - shape rules of the tpc ops ----------------*- C++ -*-===//
//
// The one place that knows how each tpc op's result shape follows from its
// operand shapes. Op verifiers, the model importer and the sharding passes
// all call these rules, so a shape error reads the same wherever it is
// found. The rules work on plain shapes (ShapedType::kDynamic for `?`) and
// need no IR, which keeps them unit-testable.
//
// Each rule returns the result shape, or an error whose message says what
// must hold and what was found instead.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_DIALECTS_TPC_SHAPERULES_H
#define TPC_DIALECTS_TPC_SHAPERULES_H

#include "mlir/IR/BuiltinTypeInterfaces.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/Error.h"
#include <string>

namespace mlir::tpc {
enum class WeightLayout : uint32_t;

namespace shape_rules {

using Shape = llvm::SmallVector<int64_t, 4>;
using ShapeRef = llvm::ArrayRef<int64_t>;
inline constexpr int64_t kDynamic = ShapedType::kDynamic;

/// Formats a shape as `[?, ?, 768]`.
std::string format(ShapeRef shape);

/// True when the two dimension sizes are equal or either is dynamic.
bool dimsCompatible(int64_t a, int64_t b);

/// True when the two shapes have one rank and pairwise compatible sizes.
bool shapesCompatible(ShapeRef a, ShapeRef b);

/// linear: input [..., in] times weight ([in, out] or [out, in]) plus an
/// optional bias [out] gives [..., out].
llvm::Expected<Shape> linear(ShapeRef input, ShapeRef weight,
                             std::optional<ShapeRef> bias, WeightLayout layout);

/// split: input [..., n] cut along its last dimension into pieces of
/// `sizes` (which sum to n when all are static) gives [..., size] each.
llvm::Expected<llvm::SmallVector<Shape>> split(ShapeRef input,
                                               llvm::ArrayRef<int64_t> sizes);

/// embedding: table [vocab, hidden] looked up with ids [...] gives
/// [..., hidden].
llvm::Expected<Shape> embedding(ShapeRef table, ShapeRef ids);

/// positions: ids [..., seq] give positions of the same shape; the
/// optional offsets have one entry per sequence, ids' shape without `seq`.
llvm::Expected<Shape> positions(ShapeRef ids,
                                std::optional<ShapeRef> offsets = {});

/// Norms over the last dimension: every parameter is [hidden].
llvm::Expected<Shape> norm(ShapeRef input, llvm::ArrayRef<ShapeRef> params);

/// rope: input [batch, seq, heads * head_dim], head_dim even; the optional
/// offsets are [batch].
llvm::Expected<Shape> rope(ShapeRef input, int64_t headDim,
                           std::optional<ShapeRef> offsets = {});

/// attention: q [b, s, num_heads * d], k and v [b, s, num_kv_heads * d];
/// num_kv_heads divides num_heads. Gives q's shape. With offsets [b], k and
/// v are caches [b, cache_seq, num_kv_heads * d] of any length.
llvm::Expected<Shape> attention(ShapeRef q, ShapeRef k, ShapeRef v,
                                int64_t numHeads, int64_t numKvHeads,
                                std::optional<ShapeRef> offsets = {});

/// last_token: input [b, s, n] and lengths [b] give [b, n].
llvm::Expected<Shape> lastToken(ShapeRef input, ShapeRef lengths);

/// A KV cache buffer: [batch, max_seq, features].
llvm::Error kvCache(ShapeRef cache);

/// cache_update: cache [b, max_seq, n], input [b, s, n] (s <= max_seq when
/// both are static) and offsets [b] give the cache's shape.
llvm::Expected<Shape> cacheUpdate(ShapeRef cache, ShapeRef input,
                                  ShapeRef offsets);

/// lm_head: input [..., hidden] and weight [vocab, hidden] give
/// [..., vocab].
llvm::Expected<Shape> lmHead(ShapeRef input, ShapeRef weight);

/// all_gather over `axisSize` ranks along `dim`: that dim grows
/// axisSize-fold (stays dynamic when dynamic).
llvm::Expected<Shape> allGather(ShapeRef input, int64_t dim, int64_t axisSize);

/// reduce_scatter over `axisSize` ranks along `dim`: that dim, which
/// axisSize must divide when static, shrinks axisSize-fold.
llvm::Expected<Shape> reduceScatter(ShapeRef input, int64_t dim,
                                    int64_t axisSize);

/// A split dimension of size `size` made of `sections` equal sections of
/// whole `unit`s: both must divide it.
llvm::Error checkSplitGranularity(int64_t size, int64_t unit, int64_t sections);

} // namespace shape_rules
} // namespace mlir::tpc

#endif // TPC_DIALECTS_TPC_SHAPERULES_H
