//===- SplitTest.cpp - how split dimensions are dealt out -----------------===//
#include "runtime/sharding/Split.h"

#include "gtest/gtest.h"

#include <set>

using namespace tpc::sharding;

namespace {
std::vector<int64_t> localSizes(const DimSplit &s) {
  std::vector<int64_t> out;
  for (int64_t r = 0; r < s.ranks; ++r)
    out.push_back(localSize(s, r));
  return out;
}

/// Every element of the dimension, over all ranks, with multiplicity.
std::multiset<int64_t> coverage(const DimSplit &s) {
  std::multiset<int64_t> out;
  for (int64_t r = 0; r < s.ranks; ++r)
    for (Range range : elementRanges(s, r))
      for (int64_t e = range.begin; e < range.end; ++e)
        out.insert(e);
  return out;
}

TEST(Split, EvenColumnSplit) {
  DimSplit s{/*size=*/3072, /*unit=*/1, /*sections=*/1, /*groups=*/1, 4};
  EXPECT_EQ(localSizes(s), std::vector<int64_t>({768, 768, 768, 768}));
  EXPECT_EQ(elementRanges(s, 2)[0], (Range{1536, 2304}));
  EXPECT_TRUE(isEven(s));
  EXPECT_TRUE(isDisjoint(s));
}

TEST(Split, UnevenHeadsElevenElevenTen) {
  DimSplit s{32 * 128, 128, 1, 1, 3};
  EXPECT_EQ(localSizes(s),
            std::vector<int64_t>({11 * 128, 11 * 128, 10 * 128}));
  EXPECT_EQ(elementRanges(s, 1)[0], (Range{11 * 128, 22 * 128}));
  EXPECT_FALSE(isEven(s));
  EXPECT_TRUE(isDisjoint(s));
}

TEST(Split, FusedSectionsSplitSectionBySection) {
  // GPT-2 small c_attn: [q|k|v], 12 heads of 64 each, on 4 ranks.
  DimSplit s{2304, 64, 3, 1, 4};
  std::vector<Range> r1 = elementRanges(s, 1);
  ASSERT_EQ(r1.size(), 3u);
  EXPECT_EQ(r1[0], (Range{192, 384}));               // q heads 3..5
  EXPECT_EQ(r1[1], (Range{768 + 192, 768 + 384}));   // k heads 3..5
  EXPECT_EQ(r1[2], (Range{1536 + 192, 1536 + 384})); // v heads 3..5
  EXPECT_EQ(localSize(s, 1), 576);
}

TEST(Split, GqaKvHeadsFollowTheirQueryHeads) {
  // 32 query heads, 2 KV heads (groups of 16), tp = 8: each KV head is
  // held by the four ranks whose query heads use it.
  DimSplit kv{2 * 128, 128, 1, 16, 8};
  for (int64_t r = 0; r < 8; ++r)
    EXPECT_EQ(unitRange(kv, r), (Range{r / 4, r / 4 + 1}));
  EXPECT_FALSE(isDisjoint(kv));
  // 8 KV heads on 8 ranks: one each.
  DimSplit kv8{8 * 128, 128, 1, 4, 8};
  EXPECT_TRUE(isDisjoint(kv8));
  EXPECT_EQ(unitRange(kv8, 5), (Range{5, 6}));
  // tp = 4 divides the KV heads: a plain disjoint split.
  DimSplit kv4{8 * 128, 128, 1, 4, 4};
  EXPECT_TRUE(isDisjoint(kv4));
  EXPECT_EQ(unitRange(kv4, 3), (Range{6, 8}));
}

TEST(Split, GqaUnevenQueryHeadsShareBoundaryKvHeads) {
  // 32 query heads on 3 ranks (11/11/10), 8 KV heads: rank 0 uses KV 0..2,
  // rank 1 KV 2..5, rank 2 KV 5..7.
  DimSplit kv{8, 1, 1, 4, 3};
  EXPECT_EQ(unitRange(kv, 0), (Range{0, 3}));
  EXPECT_EQ(unitRange(kv, 1), (Range{2, 6}));
  EXPECT_EQ(unitRange(kv, 2), (Range{5, 8}));
}

TEST(Split, EveryElementHeldExactlyOnceWithoutGroups) {
  for (int64_t ranks = 1; ranks <= 9; ++ranks)
    for (int64_t sections : {1, 3})
      for (int64_t units : {1, 5, 12, 32})
        for (int64_t unit : {1, 4}) {
          DimSplit s{units * unit * sections, unit, sections, 1, ranks};
          std::multiset<int64_t> seen = coverage(s);
          ASSERT_EQ(seen.size(), static_cast<size_t>(s.size));
          for (int64_t e = 0; e < s.size; ++e)
            ASSERT_EQ(seen.count(e), 1u) << "element " << e;
        }
}

TEST(Split, MoreRanksThanUnitsLeavesSomeEmpty) {
  DimSplit s{3, 1, 1, 1, 5};
  EXPECT_EQ(localSizes(s), std::vector<int64_t>({1, 1, 1, 0, 0}));
}
} // namespace
