//===- ShapeRulesTest.cpp - the tpc shape rules ---------------------------===//
#include "dialects/tpc/ShapeRules.h"
#include "dialects/tpc/TpcAttrs.h"

#include "gtest/gtest.h"

using namespace mlir::tpc;
using namespace mlir::tpc::shape_rules;

namespace {
constexpr int64_t Q = kDynamic;

/// The shape a rule produced; fails the test when it produced an error.
Shape ok(llvm::Expected<Shape> result) {
  if (!result) {
    ADD_FAILURE() << llvm::toString(result.takeError());
    return {};
  }
  return *result;
}

/// The message of the error a rule produced; fails when it succeeded.
std::string error(llvm::Expected<Shape> result) {
  if (result) {
    ADD_FAILURE() << "expected an error, got " << format(*result);
    return {};
  }
  return llvm::toString(result.takeError());
}

TEST(ShapeRules, FormatsDynamicDims) {
  EXPECT_EQ(format({Q, 4, 768}), "[?, 4, 768]");
  EXPECT_EQ(format({}), "[]");
}

TEST(ShapeRules, LinearBothLayouts) {
  EXPECT_EQ(
      ok(linear({Q, Q, 768}, {768, 3072}, std::nullopt, WeightLayout::InOut)),
      Shape({Q, Q, 3072}));
  int64_t bias[] = {3072};
  EXPECT_EQ(ok(linear({2, 5, 768}, {3072, 768}, llvm::ArrayRef(bias),
                      WeightLayout::OutIn)),
            Shape({2, 5, 3072}));
}

TEST(ShapeRules, LinearRejectsMismatchedContraction) {
  EXPECT_EQ(error(linear({Q, Q, 768}, {1024, 3072}, std::nullopt,
                         WeightLayout::InOut)),
            "weight input dimension (dim 0 of in_out [1024, 3072]) must "
            "equal the input's last dimension 768, got 1024");
  int64_t bias[] = {7};
  EXPECT_EQ(error(linear({Q, 768}, {768, 3072}, llvm::ArrayRef(bias),
                         WeightLayout::InOut)),
            "bias size must equal the output features 3072, got 7");
  EXPECT_EQ(error(linear({Q, 768}, {768}, std::nullopt, WeightLayout::InOut)),
            "weight must have rank 2, got [768]");
}

TEST(ShapeRules, SplitFusedSections) {
  auto pieces = split({Q, Q, 2304}, {768, 768, 768});
  ASSERT_TRUE(!!pieces) << llvm::toString(pieces.takeError());
  ASSERT_EQ(pieces->size(), 3u);
  EXPECT_EQ((*pieces)[2], Shape({Q, Q, 768}));
  auto bad = split({Q, Q, 2304}, {768, 768});
  ASSERT_FALSE(!!bad);
  EXPECT_EQ(llvm::toString(bad.takeError()),
            "the sections' sizes must add up to the input's last dimension "
            "2304, got 1536");
  auto none = split({Q, 8}, {});
  ASSERT_FALSE(!!none);
  EXPECT_EQ(llvm::toString(none.takeError()),
            "split must have at least one result, got none");
}

TEST(ShapeRules, EmbeddingAndPositions) {
  EXPECT_EQ(ok(embedding({50257, 768}, {Q, Q})), Shape({Q, Q, 768}));
  EXPECT_EQ(ok(positions({2, 9})), Shape({2, 9}));
  EXPECT_EQ(error(positions({})), "ids must have rank >= 1, got []");
}

TEST(ShapeRules, Norms) {
  EXPECT_EQ(ok(norm({Q, Q, 64}, {{64}, {64}})), Shape({Q, Q, 64}));
  EXPECT_EQ(error(norm({Q, Q, 64}, {{64}, {32}})),
            "norm parameter size must equal the input's last dimension 64, "
            "got 32");
}

TEST(ShapeRules, Rope) {
  EXPECT_EQ(ok(rope({Q, Q, 256}, 64)), Shape({Q, Q, 256}));
  EXPECT_EQ(error(rope({Q, Q, 256}, 63)),
            "head_dim must be positive and even, got 63");
  EXPECT_EQ(error(rope({Q, Q, 200}, 64)),
            "features must be a multiple of head_dim 64, got 200");
}

TEST(ShapeRules, AttentionWithGroupedKvHeads) {
  EXPECT_EQ(ok(attention({Q, Q, 4096}, {Q, Q, 1024}, {Q, Q, 1024}, 32, 8)),
            Shape({Q, Q, 4096}));
  EXPECT_EQ(error(attention({Q, Q, 770}, {Q, Q, 770}, {Q, Q, 770}, 12, 12)),
            "query features must be divisible by num_heads 12, got 770");
  EXPECT_EQ(error(attention({Q, Q, 4096}, {Q, Q, 1024}, {Q, Q, 1024}, 32, 5)),
            "num_kv_heads must be positive and divide num_heads 32, got 5");
  EXPECT_EQ(error(attention({Q, Q, 4096}, {Q, Q, 512}, {Q, Q, 512}, 32, 8)),
            "key/value features must be num_kv_heads * head_dim = 8 * 128 = "
            "1024, got 512");
  EXPECT_EQ(error(attention({2, Q, 64}, {3, Q, 64}, {3, Q, 64}, 1, 1)),
            "q, k and v must agree in batch and sequence, got [2, ?, 64], "
            "[3, ?, 64], [3, ?, 64]");
}

TEST(ShapeRules, LmHead) {
  EXPECT_EQ(ok(lmHead({Q, Q, 768}, {50257, 768})), Shape({Q, Q, 50257}));
  EXPECT_EQ(error(lmHead({Q, Q, 768}, {50257, 512})),
            "weight [vocab, hidden] hidden size must equal the input's last "
            "dimension 768, got 512");
}

TEST(ShapeRules, Collectives) {
  EXPECT_EQ(ok(allGather({2, 32, 768}, 1, 4)), Shape({2, 128, 768}));
  EXPECT_EQ(ok(allGather({2, Q, 768}, 1, 4)), Shape({2, Q, 768}));
  EXPECT_EQ(ok(reduceScatter({2, 128, 768}, 1, 4)), Shape({2, 32, 768}));
  EXPECT_EQ(error(reduceScatter({2, 30, 768}, 1, 4)),
            "scattered dimension 1 must be divisible by the axis size 4, got "
            "30");
  EXPECT_EQ(error(allGather({2, 30}, 2, 4)),
            "dim must index a dimension of [2, 30], got 2");
}

TEST(ShapeRules, SplitGranularity) {
  EXPECT_FALSE(checkSplitGranularity(2304, 64, 3));
  EXPECT_FALSE(checkSplitGranularity(Q, 64, 3));
  EXPECT_EQ(llvm::toString(checkSplitGranularity(2300, 64, 3)),
            "a split dimension must hold 3 section(s) of whole units of 64, "
            "so be a multiple of 192, got 2300");
}
} // namespace
