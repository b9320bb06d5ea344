//===- Split.h - which part of a split dimension each rank holds -*- C++ -*-===//
//
// The one definition, shared by the compiler (local shapes, collectives,
// reports), the runtime (weight slicing) and the tests, of how a tensor
// dimension split over N ranks is dealt out.
//
// A split dimension of `size` elements is `sections` equal sections (fused
// [q|k|v] is 3), each made of whole units of `unit` elements (a head's
// head_dim). Within each section the units are dealt out in contiguous
// ranges as evenly as possible, the first ranks taking one more when the
// count does not divide (32 heads on 3 ranks: 11/11/10).
//
// `groups` > 1 describes grouped KV heads: each unit serves `groups`
// consecutive query heads. The query heads are dealt out as above and a rank
// holds every KV unit its query heads use, so ranks may share a KV unit
// (GQA with fewer KV heads than ranks, or uneven query splits).
//
// Header-only, no dependencies.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_SHARDING_SPLIT_H
#define TPC_RUNTIME_SHARDING_SPLIT_H

#include <cstdint>
#include <vector>

namespace tpc::sharding {

/// How a dimension is split: its granularity and the number of ranks.
struct DimSplit {
  int64_t size = 0;     ///< Elements in the global dimension.
  int64_t unit = 1;     ///< Elements per indivisible unit (a head).
  int64_t sections = 1; ///< Independently split equal sections.
  int64_t groups = 1;   ///< Query heads served by one unit (GQA).
  int64_t ranks = 1;    ///< Ranks the dimension is split over.

  /// Units per section.
  int64_t unitsPerSection() const { return size / (sections * unit); }
};

/// A half-open range [begin, end) of units or elements.
struct Range {
  int64_t begin = 0, end = 0;
  int64_t length() const { return end - begin; }
  bool operator==(const Range &o) const {
    return begin == o.begin && end == o.end;
  }
};

/// The `count` items dealt to `rank` of `ranks`, contiguous, the first
/// `count % ranks` ranks taking one more.
inline Range balancedRange(int64_t count, int64_t ranks, int64_t rank) {
  int64_t base = count / ranks, extra = count % ranks;
  int64_t begin = rank * base + (rank < extra ? rank : extra);
  return {begin, begin + base + (rank < extra ? 1 : 0)};
}

/// The units of one section that `rank` holds.
inline Range unitRange(const DimSplit &s, int64_t rank) {
  if (s.groups == 1)
    return balancedRange(s.unitsPerSection(), s.ranks, rank);
  Range q = balancedRange(s.unitsPerSection() * s.groups, s.ranks, rank);
  if (q.length() == 0)
    return {q.begin / s.groups, q.begin / s.groups};
  return {q.begin / s.groups, (q.end + s.groups - 1) / s.groups};
}

/// The element ranges of the global dimension `rank` holds, one per
/// section, in order; their concatenation is the rank's local dimension.
inline std::vector<Range> elementRanges(const DimSplit &s, int64_t rank) {
  Range units = unitRange(s, rank);
  int64_t sectionSize = s.size / s.sections;
  std::vector<Range> out;
  for (int64_t i = 0; i < s.sections; ++i)
    out.push_back({i * sectionSize + units.begin * s.unit,
                   i * sectionSize + units.end * s.unit});
  return out;
}

/// The size of `rank`'s local dimension.
inline int64_t localSize(const DimSplit &s, int64_t rank) {
  return unitRange(s, rank).length() * s.unit * s.sections;
}

/// True when every rank holds the same number of elements.
inline bool isEven(const DimSplit &s) {
  for (int64_t r = 1; r < s.ranks; ++r)
    if (localSize(s, r) != localSize(s, 0))
      return false;
  return true;
}

/// True when no element is held by two ranks (no shared KV units).
inline bool isDisjoint(const DimSplit &s) {
  int64_t total = 0;
  for (int64_t r = 0; r < s.ranks; ++r)
    total += localSize(s, r);
  return total == s.size;
}

} // namespace tpc::sharding

#endif // TPC_RUNTIME_SHARDING_SPLIT_H
