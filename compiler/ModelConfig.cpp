//===- ModelConfig.cpp - Hugging Face model descriptions ------------------===//
#include "compiler/ModelConfig.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

using namespace mlir::tpc;
using llvm::StringRef;
namespace json = llvm::json;

StringRef mlir::tpc::familyName(ModelFamily family) {
  switch (family) {
  case ModelFamily::Gpt2:
    return "gpt2";
  case ModelFamily::Llama:
    return "llama";
  case ModelFamily::Mistral:
    return "mistral";
  case ModelFamily::Qwen2:
    return "qwen2";
  }
  llvm_unreachable("unknown model family");
}

namespace {
/// Limits no real model comes near, which keep every derived size (weight
/// element counts, bytes) far from overflowing.
constexpr int64_t kMaxDimension = int64_t(1) << 24;
constexpr int64_t kMaxLayers = kMaxModelLayers;

/// Reads typed fields of one JSON object. The first problem is kept as the
/// error ("PATH: field 'KEY': expected WHAT, got VALUE") and later reads
/// return defaults, so a reader can be used in straight-line code and
/// checked once at the end.
class FieldReader {
public:
  FieldReader(const json::Object &object, StringRef path)
      : object(object), path(path) {}

  /// A required integer >= 1.
  int64_t positiveInt(StringRef key) {
    std::optional<int64_t> value = optionalPositiveInt(key);
    if (!value && !failed())
      fail(key, "missing, expected a positive integer");
    return value.value_or(1);
  }

  /// An integer >= 1, or nullopt when absent or null.
  std::optional<int64_t> optionalPositiveInt(StringRef key) {
    const json::Value *v = get(key);
    if (!v)
      return std::nullopt;
    std::optional<int64_t> n = v->getAsInteger();
    if (!n || *n < 1) {
      expected(key, "a positive integer", *v);
      return std::nullopt;
    }
    if (*n > kMaxDimension) {
      expected(key, "a positive integer at most " + llvm::Twine(kMaxDimension),
               *v);
      return std::nullopt;
    }
    return n;
  }

  /// A number > 0, or `fallback` when absent or null.
  double positiveNumber(StringRef key, double fallback) {
    const json::Value *v = get(key);
    if (!v)
      return fallback;
    std::optional<double> n = v->getAsNumber();
    if (!n || !(*n > 0)) {
      expected(key, "a positive number", *v);
      return fallback;
    }
    return *n;
  }

  /// A boolean, or `fallback` when absent or null.
  bool boolean(StringRef key, bool fallback) {
    const json::Value *v = get(key);
    if (!v)
      return fallback;
    std::optional<bool> b = v->getAsBoolean();
    if (!b)
      expected(key, "true or false", *v);
    return b.value_or(fallback);
  }

  /// A string, or nullopt when absent or null.
  std::optional<std::string> string(StringRef key) {
    const json::Value *v = get(key);
    if (!v)
      return std::nullopt;
    std::optional<StringRef> s = v->getAsString();
    if (!s) {
      expected(key, "a string", *v);
      return std::nullopt;
    }
    return s->str();
  }

  /// An object, or null when absent or null.
  const json::Object *optionalObject(StringRef key) {
    const json::Value *v = get(key);
    if (!v)
      return nullptr;
    const json::Object *o = v->getAsObject();
    if (!o)
      expected(key, "an object", *v);
    return o;
  }

  /// True when `key` is present and not null.
  bool has(StringRef key) const { return get(key) != nullptr; }

  /// Records "field 'KEY': MESSAGE" unless an error is already recorded.
  void fail(StringRef key, const llvm::Twine &message) {
    if (!failed())
      error = llvm::formatv("{0}: field '{1}': {2}", path, key, message.str());
  }

  /// Records "field 'KEY': expected WHAT, got VALUE".
  void expected(StringRef key, const llvm::Twine &what,
                const json::Value &got) {
    fail(key, "expected " + what + ", got " + llvm::formatv("{0}", got).str());
  }

  bool failed() const { return !error.empty(); }
  llvm::Error takeError() {
    if (!failed())
      return llvm::Error::success();
    return llvm::createStringError(llvm::inconvertibleErrorCode(), error);
  }

private:
  const json::Value *get(StringRef key) const {
    const json::Value *v = object.get(key);
    return v && v->kind() != json::Value::Null ? v : nullptr;
  }

  const json::Object &object;
  std::string path;
  std::string error;
};

/// `eos_token_id`: one token id or a list of them, each in [0, vocab).
std::vector<int64_t> readEosTokenIds(const json::Object &object,
                                     StringRef path, int64_t vocab,
                                     FieldReader &r) {
  const json::Value *v = object.get("eos_token_id");
  if (!v || v->kind() == json::Value::Null)
    return {};
  std::vector<int64_t> ids;
  auto add = [&](const json::Value &item) {
    std::optional<int64_t> id = item.getAsInteger();
    if (id && *id >= 0 && *id < vocab) {
      ids.push_back(*id);
      return true;
    }
    return false;
  };
  bool ok = true;
  if (const json::Array *list = v->getAsArray())
    for (const json::Value &item : *list)
      ok &= add(item);
  else
    ok = add(*v);
  if (!ok)
    r.expected("eos_token_id",
               "a token id in [0, " + llvm::Twine(vocab) +
                   ") or a list of them",
               *v);
  return ids;
}

/// `divisor` must divide `total`; reported on field `key`.
void checkDivides(FieldReader &r, StringRef key, int64_t divisor,
                  StringRef totalKey, int64_t total) {
  if (total % divisor != 0)
    r.fail(key, llvm::formatv("expected a divisor of {0} ({1}), got {2}",
                              totalKey, total, divisor));
}

/// The checkpoint dtype: `torch_dtype` (older) or `dtype` (newer).
void readDtype(FieldReader &r, ModelConfig &c) {
  StringRef key = r.has("dtype") ? "dtype" : "torch_dtype";
  std::optional<std::string> dtype = r.string(key);
  if (dtype && *dtype != "float32" && *dtype != "bfloat16" &&
      *dtype != "float16")
    r.fail(key,
           "expected float32, bfloat16 or float16, got \"" + *dtype + "\"");
  c.checkpointDtype = dtype;
}

void readGpt2(FieldReader &r, ModelConfig &c) {
  c.vocabSize = r.positiveInt("vocab_size");
  c.hiddenSize = r.positiveInt("n_embd");
  c.numLayers = r.positiveInt("n_layer");
  c.numHeads = r.positiveInt("n_head");
  c.maxPositions =
      r.positiveInt(r.has("n_positions") ? "n_positions" : "n_ctx");
  // n_inner: null means 4 * n_embd.
  c.intermediateSize =
      r.optionalPositiveInt("n_inner").value_or(4 * c.hiddenSize);
  c.normEpsilon = r.positiveNumber("layer_norm_epsilon", 1e-5);
  c.tieWordEmbeddings = r.boolean("tie_word_embeddings", true);
  std::string act = r.string("activation_function").value_or("gelu_new");
  if (act != "gelu_new" && act != "gelu_pytorch_tanh" && act != "gelu_fast")
    r.fail("activation_function",
           "expected a tanh-form GeLU (gelu_new, gelu_pytorch_tanh or "
           "gelu_fast), got \"" +
               act + "\"");
  if (!r.boolean("scale_attn_weights", true))
    r.fail("scale_attn_weights", "expected true (scores scaled by "
                                 "1/sqrt(head_dim)), got false");
  if (r.boolean("scale_attn_by_inverse_layer_idx", false))
    r.fail("scale_attn_by_inverse_layer_idx",
           "expected false (not supported), got true");
  if (!r.failed())
    checkDivides(r, "n_head", c.numHeads, "n_embd", c.hiddenSize);
  c.numKvHeads = c.numHeads;
  c.headDim = c.hiddenSize / c.numHeads;
  c.qkvBias = c.outputBias = c.mlpBias = true;
}

/// RoPE: `rope_theta` + `rope_scaling` (older) or `rope_parameters`
/// (newer). Only unscaled RoPE is supported.
void readRope(FieldReader &r, ModelConfig &c) {
  c.ropeTheta = r.positiveNumber("rope_theta", 10000.0);
  StringRef key = r.has("rope_parameters") ? "rope_parameters" : "rope_scaling";
  const json::Object *rope = r.optionalObject(key);
  if (!rope)
    return;
  FieldReader sub(*rope, "");
  std::optional<std::string> type =
      sub.string(sub.has("rope_type") ? "rope_type" : "type");
  if (type && *type != "default")
    r.fail(key, "rope type \"" + *type +
                    "\" is not supported, expected \"default\" (no scaling)");
  if (key == "rope_parameters")
    c.ropeTheta = sub.positiveNumber("rope_theta", c.ropeTheta);
  if (sub.failed())
    r.fail(key, "expected {\"rope_type\": \"default\", \"rope_theta\": "
                "<positive number>}");
}

void readLlamaFamily(FieldReader &r, ModelConfig &c) {
  c.vocabSize = r.positiveInt("vocab_size");
  c.hiddenSize = r.positiveInt("hidden_size");
  c.intermediateSize = r.positiveInt("intermediate_size");
  c.numLayers = r.positiveInt("num_hidden_layers");
  c.numHeads = r.positiveInt("num_attention_heads");
  c.maxPositions = r.positiveInt("max_position_embeddings");
  c.numKvHeads =
      r.optionalPositiveInt("num_key_value_heads").value_or(c.numHeads);
  std::optional<int64_t> headDim = r.optionalPositiveInt("head_dim");
  c.normEpsilon = r.positiveNumber("rms_norm_eps", 1e-6);
  c.tieWordEmbeddings = r.boolean("tie_word_embeddings", false);
  std::string act = r.string("hidden_act").value_or("silu");
  if (act != "silu")
    r.fail("hidden_act", "expected \"silu\" (SwiGLU), got \"" + act + "\"");
  readRope(r, c);

  if (c.family == ModelFamily::Qwen2) {
    // Qwen2: biased q/k/v, unbiased o_proj; sliding window only if enabled.
    c.qkvBias = true;
    if (r.boolean("use_sliding_window", false))
      r.fail("use_sliding_window", "expected false (Qwen2's per-layer "
                                   "sliding window is not supported), got "
                                   "true");
  } else {
    c.qkvBias = c.outputBias = r.boolean("attention_bias", false);
    c.mlpBias = r.boolean("mlp_bias", false);
  }
  if (c.family == ModelFamily::Mistral) {
    std::optional<int64_t> window = r.optionalPositiveInt("sliding_window");
    // A window as long as the context never masks anything.
    if (window && *window < c.maxPositions)
      c.slidingWindow = window;
  }

  if (r.failed())
    return;
  checkDivides(r, "num_key_value_heads", c.numKvHeads, "num_attention_heads",
               c.numHeads);
  if (headDim) {
    c.headDim = *headDim;
  } else {
    checkDivides(r, "num_attention_heads", c.numHeads, "hidden_size",
                 c.hiddenSize);
    c.headDim = c.hiddenSize / c.numHeads;
  }
  if (c.headDim % 2 != 0)
    r.fail(headDim ? "head_dim" : "num_attention_heads",
           llvm::formatv("expected an even head_dim for RoPE, got {0}",
                         c.headDim));
}
} // namespace

llvm::Expected<ModelConfig> mlir::tpc::parseModelConfig(StringRef text,
                                                        StringRef path) {
  auto fail = [&](const llvm::Twine &message) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   path + ": " + message);
  };
  if (text.trim().empty())
    return fail("empty file, expected a JSON object");
  llvm::Expected<json::Value> root = json::parse(text);
  if (!root)
    return fail("invalid JSON: " + llvm::toString(root.takeError()));
  const json::Object *object = root->getAsObject();
  if (!object)
    return fail("expected a JSON object at the top level");

  FieldReader r(*object, path);
  ModelConfig c;
  c.path = path.str();
  std::optional<std::string> type = r.string("model_type");
  if (!type && !r.failed())
    r.fail("model_type", "missing, expected one of gpt2, llama, mistral, "
                         "qwen2");
  if (r.failed())
    return r.takeError();
  if (*type == "gpt2")
    c.family = ModelFamily::Gpt2;
  else if (*type == "llama")
    c.family = ModelFamily::Llama;
  else if (*type == "mistral")
    c.family = ModelFamily::Mistral;
  else if (*type == "qwen2")
    c.family = ModelFamily::Qwen2;
  else
    return fail("field 'model_type': expected one of gpt2, llama, mistral, "
                "qwen2, got \"" +
                *type + "\"");

  if (c.family == ModelFamily::Gpt2)
    readGpt2(r, c);
  else
    readLlamaFamily(r, c);
  readDtype(r, c);
  if (!r.failed())
    c.eosTokenIds = readEosTokenIds(*object, path, c.vocabSize, r);
  if (!r.failed() && c.numLayers > kMaxLayers)
    r.fail(c.family == ModelFamily::Gpt2 ? "n_layer" : "num_hidden_layers",
           llvm::formatv("expected at most {0} layers, got {1}", kMaxLayers,
                         c.numLayers));
  if (!r.failed() && c.numHeads * c.headDim > kMaxDimension)
    r.fail(c.family == ModelFamily::Gpt2 ? "n_head" : "head_dim",
           llvm::formatv("expected heads * head_dim at most {0}, got {1} * "
                         "{2}",
                         kMaxDimension, c.numHeads, c.headDim));
  if (!r.failed() && c.intermediateSize > kMaxDimension)
    r.fail("n_inner", llvm::formatv("expected at most {0} (null means 4 * "
                                    "n_embd = {1})",
                                    kMaxDimension, c.intermediateSize));
  if (llvm::Error err = r.takeError())
    return std::move(err);
  return c;
}

llvm::Expected<ModelConfig> mlir::tpc::readModelConfig(StringRef path) {
  llvm::SmallString<256> file(path);
  if (llvm::sys::fs::is_directory(path))
    llvm::sys::path::append(file, "config.json");
  auto buffer = llvm::MemoryBuffer::getFile(file, /*IsText=*/true);
  if (!buffer)
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        file + ": cannot read: " + buffer.getError().message());
  llvm::Expected<ModelConfig> config =
      parseModelConfig((*buffer)->getBuffer(), file);
  if (!config)
    return config.takeError();

  // generation_config.json, beside the config, says how to generate: its
  // end-of-sequence ids win over the config's.
  llvm::SmallString<256> generation(llvm::sys::path::parent_path(file));
  llvm::sys::path::append(generation, "generation_config.json");
  if (!llvm::sys::fs::exists(generation))
    return config;
  auto text = llvm::MemoryBuffer::getFile(generation, /*IsText=*/true);
  if (!text)
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        generation + ": cannot read: " + text.getError().message());
  llvm::Expected<json::Value> root = json::parse((*text)->getBuffer());
  if (!root)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   generation + ": invalid JSON: " +
                                       llvm::toString(root.takeError()));
  const json::Object *object = root->getAsObject();
  if (!object)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   generation +
                                       ": expected a JSON object at the top "
                                       "level");
  FieldReader r(*object, generation);
  std::vector<int64_t> ids =
      readEosTokenIds(*object, generation, config->vocabSize, r);
  if (llvm::Error err = r.takeError())
    return std::move(err);
  if (object->get("eos_token_id"))
    config->eosTokenIds = std::move(ids);
  return config;
}
