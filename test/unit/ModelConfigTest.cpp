//===- ModelConfigTest.cpp - reading Hugging Face configs -----------------===//
#include "compiler/ModelConfig.h"

#include "gtest/gtest.h"

using namespace mlir::tpc;

namespace {
ModelConfig parseOk(llvm::StringRef text) {
  auto config = parseModelConfig(text, "config.json");
  if (!config) {
    ADD_FAILURE() << llvm::toString(config.takeError());
    return {};
  }
  return *config;
}

TEST(ModelConfig, Gpt2Defaults) {
  ModelConfig c = parseOk(R"({"model_type": "gpt2", "vocab_size": 50257,
      "n_embd": 768, "n_layer": 12, "n_head": 12, "n_ctx": 1024,
      "n_inner": null})");
  EXPECT_EQ(c.family, ModelFamily::Gpt2);
  EXPECT_EQ(c.intermediateSize, 4 * 768);
  EXPECT_EQ(c.maxPositions, 1024); // n_ctx when n_positions is absent
  EXPECT_EQ(c.headDim, 64);
  EXPECT_EQ(c.numKvHeads, 12);
  EXPECT_TRUE(c.tieWordEmbeddings);
  EXPECT_TRUE(c.qkvBias && c.outputBias && c.mlpBias);
  EXPECT_DOUBLE_EQ(c.normEpsilon, 1e-5);
  EXPECT_FALSE(c.checkpointDtype);
}

TEST(ModelConfig, LlamaDefaults) {
  ModelConfig c = parseOk(R"({"model_type": "llama", "vocab_size": 32000,
      "hidden_size": 4096, "intermediate_size": 11008,
      "num_hidden_layers": 32, "num_attention_heads": 32,
      "max_position_embeddings": 4096, "torch_dtype": "bfloat16"})");
  EXPECT_EQ(c.numKvHeads, 32); // missing means no GQA
  EXPECT_EQ(c.headDim, 128);
  EXPECT_DOUBLE_EQ(c.ropeTheta, 10000.0);
  EXPECT_DOUBLE_EQ(c.normEpsilon, 1e-6);
  EXPECT_FALSE(c.tieWordEmbeddings);
  EXPECT_FALSE(c.qkvBias || c.outputBias || c.mlpBias);
  EXPECT_EQ(c.checkpointDtype, "bfloat16");
}

TEST(ModelConfig, NewerSpellingsWin) {
  ModelConfig c = parseOk(R"({"model_type": "llama", "vocab_size": 10,
      "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 1,
      "num_attention_heads": 4, "max_position_embeddings": 64,
      "rope_theta": 5.0, "rope_parameters": {"rope_type": "default",
      "rope_theta": 250000.0}, "torch_dtype": "float32",
      "dtype": "float16"})");
  EXPECT_DOUBLE_EQ(c.ropeTheta, 250000.0);
  EXPECT_EQ(c.checkpointDtype, "float16");
}

TEST(ModelConfig, Qwen2AndMistralSpecifics) {
  ModelConfig q = parseOk(R"({"model_type": "qwen2", "vocab_size": 10,
      "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 1,
      "num_attention_heads": 4, "num_key_value_heads": 2,
      "max_position_embeddings": 64, "attention_bias": false,
      "sliding_window": 8})");
  EXPECT_TRUE(q.qkvBias);
  EXPECT_FALSE(q.outputBias);
  EXPECT_FALSE(q.slidingWindow);

  const char *mistral = R"({"model_type": "mistral", "vocab_size": 10,
      "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 1,
      "num_attention_heads": 4, "max_position_embeddings": 64,
      "sliding_window": %d})";
  char text[512];
  snprintf(text, sizeof(text), mistral, 8);
  EXPECT_EQ(parseOk(text).slidingWindow, 8);
  snprintf(text, sizeof(text), mistral, 64);
  EXPECT_FALSE(parseOk(text).slidingWindow); // covers the whole context
}

TEST(ModelConfig, FirstProblemIsReported) {
  auto config = parseModelConfig(R"({"model_type": "gpt2", "n_embd": -1,
      "n_layer": 0})",
                                 "dir/config.json");
  ASSERT_FALSE(bool(config));
  EXPECT_EQ(llvm::toString(config.takeError()),
            "dir/config.json: field 'vocab_size': missing, expected a "
            "positive integer");
}
} // namespace
