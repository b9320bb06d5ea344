//===- Options.cpp - the command line of compiled programs ----------------===//
#include "runtime/program/Options.h"

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

#include <algorithm>
#include <cmath>
#include <map>

ABSL_FLAG(std::string, weights, "",
          "Weights: a .safetensors file, a sharded checkpoint's index, or a "
          "directory holding either");
ABSL_FLAG(std::string, random_weights, "",
          "Instead of --weights: seeded random weights (a non-negative "
          "integer seed)");
ABSL_FLAG(std::string, tokens, "",
          "Token ids: sequences separated by ';', ids by ',' (\"1,2,3;4,5\")");
ABSL_FLAG(std::string, prompt, "",
          "A prompt as text (repeat the flag for a batch); needs --generate");
ABSL_FLAG(std::string, prompts, "",
          "A file of prompts, one per line (blank lines skipped)");
ABSL_FLAG(std::string, tokenizer, "",
          "A Hugging Face tokenizer.json (default: the one beside the model "
          "it was compiled from)");
ABSL_FLAG(std::string, device, "",
          "cpu or cuda (default: cuda when a GPU can be used)");
ABSL_FLAG(std::string, output, "",
          "Write the logits (forward) or the tokens and their distributions "
          "(generation) to this safetensors file");
ABSL_FLAG(bool, verify, false,
          "Compare with the tp = 1 program in the same run");
ABSL_FLAG(int32_t, bench, 0, "Time this many more passes or generations");
ABSL_FLAG(int32_t, timeout, 60,
          "Seconds a rank waits for a peer in a collective before the run "
          "fails, naming the rank");
ABSL_FLAG(int64_t, generate, 0,
          "Generate this many tokens per sequence (prefill, then decode)");
ABSL_FLAG(bool, ignore_eos, false,
          "Generate the full --generate length past end-of-sequence tokens");
ABSL_FLAG(int64_t, max_seq, 0,
          "Positions each sequence's KV cache holds (0: the model's maximum)");
ABSL_FLAG(double, temperature, 0,
          "Sampling temperature; 0 picks the most likely token (greedy)");
ABSL_FLAG(int64_t, top_k, 0, "Sample among the k most likely tokens (0: all)");
ABSL_FLAG(double, top_p, 1,
          "Sample among the most likely tokens whose probability reaches p");
ABSL_FLAG(uint64_t, seed, 0, "Seed of the sampling");
// Training (programs compiled with tpc-compile --train).
ABSL_FLAG(std::string, data, "",
          "Train on these token ids: a flat binary file of --data-type ids");
ABSL_FLAG(std::string, data_type, "uint16",
          "Element type of a flat binary --data file: uint16 or uint32");
ABSL_FLAG(std::string, data_tensor, "",
          "The tensor of a .safetensors --data file holding the token ids "
          "(default: its only tensor)");
ABSL_FLAG(int64_t, steps, 1, "Training steps");
ABSL_FLAG(bool, shuffle, false,
          "Take the training windows in a random order drawn from --seed "
          "(else in file order)");
ABSL_FLAG(int64_t, batch, 8, "Sequences per step (the global batch)");
ABSL_FLAG(int64_t, micro_batch, 0,
          "Sequences per pass of each data-parallel replica, the step's "
          "gradients accumulated over its passes (0: one pass)");
ABSL_FLAG(int64_t, seq_len, 64, "Tokens per training sequence");
ABSL_FLAG(std::string, optimizer, "adamw", "adamw or sgd");
ABSL_FLAG(double, lr, 1e-3, "Peak learning rate");
ABSL_FLAG(double, weight_decay, 0.0,
          "AdamW's decoupled weight decay of the weight matrices");
ABSL_FLAG(int64_t, warmup, 0,
          "Steps of linear learning-rate warm-up, then cosine decay to a "
          "tenth");
ABSL_FLAG(double, clip, 1.0,
          "Clip the gradients to this global norm (0: no clipping)");
ABSL_FLAG(std::string, save, "",
          "After training, write the weights (whole tensors, checkpoint "
          "names) to this safetensors file");
ABSL_FLAG(std::string, grads, "",
          "Write the first step's gradients (whole tensors, checkpoint "
          "names) to this safetensors file");

using namespace tpc;
using namespace tpc::program;

namespace {
[[noreturn]] void fail(const std::string &message) { throw UsageError(message); }

/// What each flag's value must be, for messages.
const std::map<std::string, std::string> &expectations() {
  static const std::map<std::string, std::string> table = {
      {"random_weights", "a non-negative integer seed"},
      {"bench", "a positive number of passes"},
      {"timeout", "a positive number of seconds"},
      {"generate", "a positive number of tokens"},
      {"max_seq", "a positive number of positions"},
      {"temperature", "a number >= 0 (0: greedy)"},
      {"top_k", "an integer >= 0 (0: all)"},
      {"top_p", "a number in (0, 1]"},
      {"seed", "a non-negative integer"},
      {"data_type", "uint16 or uint32"},
      {"steps", "a positive number of steps"},
      {"batch", "a positive number of sequences"},
      {"micro_batch", "a positive number of sequences"},
      {"seq_len", "a positive number of tokens"},
      {"optimizer", "adamw or sgd"},
      {"lr", "a positive number"},
      {"weight_decay", "a number >= 0"},
      {"warmup", "a number of steps >= 0"},
      {"clip", "a number >= 0 (0: no clipping)"},
  };
  return table;
}

std::string dashed(std::string name) {
  std::replace(name.begin(), name.end(), '_', '-');
  return name;
}

[[noreturn]] void badValue(const std::string &name, const std::string &value) {
  auto it = expectations().find(name);
  fail("--" + dashed(name) + ": expected " +
       (it != expectations().end() ? it->second : std::string("a value")) +
       ", got '" + value + "'");
}

/// The flag called `name` if this file defines it (not one of Abseil's).
absl::CommandLineFlag *programFlag(const std::string &name) {
  absl::CommandLineFlag *flag = absl::FindCommandLineFlag(name);
  if (!flag || flag->Filename().find("program/Options.cpp") == std::string::npos)
    return nullptr;
  return flag;
}
} // namespace

Options tpc::program::parseOptions(int argc, char **argv) {
  Options o;
  std::map<std::string, std::string> given; // name -> value as written
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      o.help = true;
      continue;
    }
    if (arg.rfind("--", 0) != 0)
      fail("unexpected argument '" + arg + "'; flags start with --");
    std::string name = arg.substr(2);
    std::optional<std::string> value;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    // Flags are documented with dashes; Abseil names them with underscores.
    std::string key = absl::StrReplaceAll(name, {{"-", "_"}});
    absl::CommandLineFlag *flag = programFlag(key);
    if (!flag)
      fail("unknown option '--" + name + "'");
    if (!value) {
      if (flag->IsOfType<bool>())
        value = "true";
      else if (i + 1 < argc)
        value = argv[++i];
      else
        fail("--" + name + ": expected a value");
    }
    if (key == "prompt") {
      o.prompts.push_back(*value);
      continue;
    }
    std::string error;
    if (!flag->ParseFrom(*value, &error))
      badValue(key, *value);
    given[key] = *value;
  }

  o.weights = absl::GetFlag(FLAGS_weights);
  if (std::string seed = absl::GetFlag(FLAGS_random_weights); !seed.empty()) {
    uint64_t n;
    if (!absl::SimpleAtoi(seed, &n) || seed[0] == '-' || seed[0] == '+')
      badValue("random_weights", seed);
    o.seed = n;
  }
  o.tokens = absl::GetFlag(FLAGS_tokens);
  o.promptsFile = absl::GetFlag(FLAGS_prompts);
  o.tokenizer = absl::GetFlag(FLAGS_tokenizer);
  o.device = absl::GetFlag(FLAGS_device);
  o.output = absl::GetFlag(FLAGS_output);
  o.verify = absl::GetFlag(FLAGS_verify);
  o.bench = absl::GetFlag(FLAGS_bench);
  o.timeout = absl::GetFlag(FLAGS_timeout);
  o.generate = absl::GetFlag(FLAGS_generate);
  o.ignoreEos = absl::GetFlag(FLAGS_ignore_eos);
  if (given.count("max_seq"))
    o.maxSeq = absl::GetFlag(FLAGS_max_seq);
  o.sampling.temperature = absl::GetFlag(FLAGS_temperature);
  o.sampling.topK = absl::GetFlag(FLAGS_top_k);
  o.sampling.topP = absl::GetFlag(FLAGS_top_p);
  o.sampling.seed = absl::GetFlag(FLAGS_seed);
  o.training.data = absl::GetFlag(FLAGS_data);
  o.training.dataType = absl::GetFlag(FLAGS_data_type);
  o.training.dataTensor = absl::GetFlag(FLAGS_data_tensor);
  o.training.steps = absl::GetFlag(FLAGS_steps);
  o.training.batch = absl::GetFlag(FLAGS_batch);
  o.training.microBatch = absl::GetFlag(FLAGS_micro_batch);
  o.training.shuffle = absl::GetFlag(FLAGS_shuffle);
  o.training.seqLen = absl::GetFlag(FLAGS_seq_len);
  o.training.optimizer = absl::GetFlag(FLAGS_optimizer);
  o.training.lr = absl::GetFlag(FLAGS_lr);
  o.training.weightDecay = absl::GetFlag(FLAGS_weight_decay);
  o.training.warmup = absl::GetFlag(FLAGS_warmup);
  o.training.clip = absl::GetFlag(FLAGS_clip);
  o.training.save = absl::GetFlag(FLAGS_save);
  o.training.grads = absl::GetFlag(FLAGS_grads);
  if (o.help)
    return o;

  // Ranges.
  auto check = [&](const char *name, bool ok) {
    if (given.count(name) && !ok)
      badValue(name, given[name]);
  };
  check("bench", o.bench >= 1);
  check("timeout", o.timeout >= 1);
  check("generate", o.generate >= 1 && o.generate <= (int64_t(1) << 30));
  check("max_seq", o.maxSeq && *o.maxSeq >= 1 && *o.maxSeq <= (int64_t(1) << 30));
  check("temperature", o.sampling.temperature >= 0 &&
                           std::isfinite(o.sampling.temperature));
  check("top_k", o.sampling.topK >= 0);
  check("top_p", o.sampling.topP > 0 && o.sampling.topP <= 1);
  check("seed", o.sampling.seed <= (uint64_t(1) << 53));
  check("data_type",
        o.training.dataType == "uint16" || o.training.dataType == "uint32");
  check("steps", o.training.steps >= 1);
  check("batch", o.training.batch >= 1 && o.training.batch <= (1 << 20));
  check("micro_batch",
        o.training.microBatch >= 1 && o.training.microBatch <= (1 << 20));
  check("seq_len", o.training.seqLen >= 1 && o.training.seqLen <= (1 << 24));
  check("optimizer",
        o.training.optimizer == "adamw" || o.training.optimizer == "sgd");
  check("lr", o.training.lr > 0 && std::isfinite(o.training.lr));
  check("weight_decay",
        o.training.weightDecay >= 0 && std::isfinite(o.training.weightDecay));
  check("warmup", o.training.warmup >= 0);
  check("clip", o.training.clip >= 0 && std::isfinite(o.training.clip));

  // Combinations.
  if (o.weights.empty() == !o.seed)
    fail("expected exactly one of --weights PATH and --random-weights SEED");
  bool text = !o.prompts.empty() || !o.promptsFile.empty();
  bool training = !o.training.data.empty();
  static const char *const trainingFlags[] = {
      "data_type", "data_tensor", "steps", "batch", "micro_batch", "shuffle",
      "seq_len",
      "optimizer", "lr",
      "weight_decay", "warmup", "clip", "save",   "grads"};
  for (const char *name : trainingFlags)
    if (given.count(name) && !training)
      fail("--" + dashed(name) + " is a training flag: give --data FILE");
  if (training) {
    if (!o.tokens.empty() || text || o.generate > 0)
      fail("--data trains: --tokens, --prompt, --prompts and --generate "
           "run inference");
    return o;
  }
  if (o.tokens.empty() == !text)
    fail(o.tokens.empty()
             ? "expected --tokens IDS (such as \"1,2,3;4,5,6\"), or --prompt "
               "TEXT or --prompts FILE with --generate N"
             : "expected either --tokens or --prompt/--prompts, not both");
  if (text && o.generate == 0)
    fail("--prompt and --prompts generate text: give --generate N");
  bool samples = o.sampling.temperature > 0;
  if (!samples && (o.sampling.topK > 0 || o.sampling.topP < 1))
    fail("--top-k and --top-p sample: give a --temperature above 0 (0 is "
         "greedy)");
  if (o.generate == 0 && (o.maxSeq || samples || o.ignoreEos))
    fail("--max-seq, --temperature, --top-k, --top-p and --ignore-eos need "
         "--generate N");
  return o;
}

std::string tpc::program::help(const char *program) {
  std::string out = absl::StrCat(
      "usage: ", program,
      " (--weights PATH | --random-weights SEED)\n"
      "       (--tokens IDS | --prompt TEXT... | --prompts FILE | --data FILE)"
      " [flags]\n\n"
      "Runs a tensor-parallel program compiled by tpc-compile on its ranks "
      "(threads, or\nthe processes of an mpirun job): one forward pass over "
      "--tokens, with\n--generate N text generation (prefill, then decode "
      "against the KV caches), or\nwith --data (a program compiled with "
      "--train) training steps.\n\nflags:\n");
  std::vector<std::pair<std::string, absl::CommandLineFlag *>> flags;
  for (auto &[name, flag] : absl::GetAllFlags())
    if (programFlag(std::string(name)))
      flags.push_back({dashed(std::string(name)), flag});
  std::sort(flags.begin(), flags.end());
  for (auto &[name, flag] : flags) {
    std::string def = flag->DefaultValue();
    absl::StrAppend(&out, "  --", name, "\n      ", flag->Help(),
                    def.empty() ? "" : absl::StrCat(" (default: ", def, ")"),
                    "\n");
  }
  return out;
}

std::vector<std::vector<int32_t>>
tpc::program::parseSequences(const std::string &text, int64_t vocab) {
  std::vector<std::vector<int32_t>> sequences;
  if (text.empty())
    fail("--tokens: expected at least one token");
  for (absl::string_view sequence : absl::StrSplit(text, ';')) {
    std::vector<int32_t> ids;
    if (sequence.empty())
      fail("--tokens: expected at least one token in every sequence");
    for (absl::string_view item : absl::StrSplit(sequence, ',')) {
      int64_t id;
      if (item.empty() || !absl::SimpleAtoi(item, &id) || id < 0 ||
          item[0] == '+' || item[0] == ' ')
        fail("--tokens: expected non-negative integer ids separated by ',' "
             "and sequences by ';', got '" +
             std::string(item) + "'");
      if (id >= vocab)
        fail("--tokens: id " + std::string(item) +
             " is outside the vocabulary of " + std::to_string(vocab));
      ids.push_back(int32_t(id));
    }
    sequences.push_back(std::move(ids));
  }
  return sequences;
}

Ids tpc::program::parseTokens(const std::string &text, int64_t vocab,
                              int64_t maxPositions) {
  Ids ids;
  for (const std::vector<int32_t> &sequence : parseSequences(text, vocab)) {
    if (ids.batch > 0 && int64_t(sequence.size()) != ids.seq)
      fail("--tokens: every sequence must have the same length, got " +
           std::to_string(ids.seq) + " and " + std::to_string(sequence.size()));
    ids.seq = int64_t(sequence.size());
    ids.values.insert(ids.values.end(), sequence.begin(), sequence.end());
    ++ids.batch;
  }
  if (ids.seq > maxPositions)
    fail("--tokens: sequences of " + std::to_string(ids.seq) +
         " tokens exceed the model's " + std::to_string(maxPositions) +
         " positions");
  return ids;
}
