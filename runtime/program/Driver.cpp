//===- Driver.cpp - the main of every compiled tpc program ----------------===//
//
//   EXE (--weights PATH | --random-weights SEED) --tokens "1,2,3;4,5,6"
//       [--device cpu|cuda] [--output FILE.safetensors] [--verify]
//       [--bench N]
//
// Runs the tp = N forward pass on N thread ranks (or this process's rank
// under mpirun), prints a one-screen summary, optionally the difference
// against the tp = 1 program and timings, and writes the logits.
//
//===----------------------------------------------------------------------===//
#include "runtime/comm/Launch.h"
#if TPC_HAS_CUDA
#include "runtime/cuda/Kernels.h"
#endif
#include "runtime/program/Program.h"
#include "runtime/weights/Safetensors.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>

using namespace tpc;
using Clock = std::chrono::steady_clock;

namespace {
struct Options {
  std::string weights;
  std::optional<uint64_t> seed;
  std::string tokens;
  std::string device;
  std::string output;
  bool verify = false;
  int bench = 0;
};

[[noreturn]] void usageError(const std::string &message) {
  throw std::runtime_error(message);
}

Options parse(int argc, char **argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc)
        usageError(arg + ": expected a value");
      return argv[++i];
    };
    if (arg == "--weights")
      o.weights = value();
    else if (arg == "--random-weights") {
      std::string v = value();
      char *end = nullptr;
      uint64_t seed = std::strtoull(v.c_str(), &end, 10);
      if (v.empty() || *end)
        usageError("--random-weights: expected a non-negative integer "
                   "seed, got '" +
                   v + "'");
      o.seed = seed;
    } else if (arg == "--tokens")
      o.tokens = value();
    else if (arg == "--device")
      o.device = value();
    else if (arg == "--output")
      o.output = value();
    else if (arg == "--verify")
      o.verify = true;
    else if (arg == "--bench") {
      std::string v = value();
      o.bench = std::atoi(v.c_str());
      if (o.bench < 1)
        usageError("--bench: expected a positive number of passes, got '" + v +
                   "'");
    } else
      usageError("unknown option '" + arg + "'");
  }
  if (o.weights.empty() == !o.seed)
    usageError("expected exactly one of --weights PATH and "
               "--random-weights SEED");
  if (o.tokens.empty())
    usageError("--tokens: expected token ids such as \"1,2,3;4,5,6\"");
  return o;
}

program::Ids parseTokens(const std::string &text) {
  program::Ids ids;
  std::stringstream sequences(text);
  std::string sequence;
  while (std::getline(sequences, sequence, ';')) {
    std::stringstream items(sequence);
    std::string item;
    int64_t length = 0;
    while (std::getline(items, item, ',')) {
      char *end = nullptr;
      long id = std::strtol(item.c_str(), &end, 10);
      if (item.empty() || *end || id < 0)
        usageError("--tokens: expected non-negative integer ids separated "
                   "by ',' and sequences by ';', got '" +
                   item + "'");
      if (id >= tpc_program_vocab)
        usageError("--tokens: id " + item + " is outside the vocabulary of " +
                   std::to_string(tpc_program_vocab));
      ids.values.push_back(int32_t(id));
      ++length;
    }
    if (ids.batch == 0)
      ids.seq = length;
    else if (length != ids.seq)
      usageError("--tokens: every sequence must have the same length, got " +
                 std::to_string(ids.seq) + " and " + std::to_string(length));
    ++ids.batch;
  }
  if (ids.batch == 0 || ids.seq == 0)
    usageError("--tokens: expected at least one token");
  if (ids.seq > tpc_program_max_positions)
    usageError("--tokens: sequences of " + std::to_string(ids.seq) +
               " tokens exceed the model's " +
               std::to_string(tpc_program_max_positions) + " positions");
  return ids;
}

/// Runs `forward` on `ranks` ranks with their `contexts`, which (with the
/// weights they loaded) live across passes; returns rank 0's logits.
std::vector<float> run(program::Ids ids, int ranks, const Options &o,
                       const weights::WeightStore *store,
                       std::vector<program::RankContext> &contexts,
                       Tensor (*forward)(program::RankContext &,
                                         program::Ids)) {
  contexts.resize(ranks);
  std::vector<float> logits;
  comm::runRanks(ranks, std::chrono::seconds(60),
                 [&](comm::Communicator &comm) {
                   program::RankContext &ctx = contexts[comm.rank()];
                   ctx.rank = comm.rank();
                   ctx.size = comm.size();
                   ctx.comm = &comm;
                   ctx.store = store;
                   ctx.seed = o.seed.value_or(0);
                   ctx.seq = ids.seq;
                   Tensor out = forward(ctx, ids);
                   if (comm.rank() == 0)
                     logits = out.toFloats();
                 });
  return logits;
}

void writeLogits(const std::string &path, const std::vector<float> &logits,
                 const program::Ids &ids) {
  std::string header =
      "{\"logits\":{\"dtype\":\"F32\",\"shape\":[" + std::to_string(ids.batch) +
      "," + std::to_string(ids.seq) + "," + std::to_string(tpc_program_vocab) +
      "],\"data_offsets\":[0," + std::to_string(logits.size() * 4) + "]}}";
  std::ofstream out(path, std::ios::binary);
  uint64_t length = header.size();
  out.write(reinterpret_cast<const char *>(&length), 8);
  out << header;
  out.write(reinterpret_cast<const char *>(logits.data()),
            std::streamsize(logits.size() * 4));
  if (!out)
    throw std::runtime_error(path + ": cannot write the logits");
}

double seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}
} // namespace

int main(int argc, char **argv) {
  const char *self = argc > 0 ? argv[0] : "tpc-program";
  try {
    Options o = parse(argc, argv);
    if (o.device.empty()) {
#if TPC_HAS_CUDA
      o.device = cuda::deviceAvailable() ? "cuda" : "cpu";
#else
      o.device = "cpu";
#endif
    }
    if (o.device == "cuda")
      usageError("--device cuda: this program's GPU path is not built yet "
                 "(the CUDA kernels exist, the program layer runs on the "
                 "CPU); use --device cpu");
    if (o.device != "cpu")
      usageError("--device: expected cpu or cuda, got '" + o.device + "'");
    program::Ids ids = parseTokens(o.tokens);

    std::optional<weights::WeightStore> store;
    if (!o.weights.empty()) {
      auto opened = weights::WeightStore::open(o.weights);
      if (!opened)
        usageError(llvm::toString(opened.takeError()));
      store = std::move(*opened);
    }
    const weights::WeightStore *source = store ? &*store : nullptr;

    int ranks = int(tpc_program_tp);
    std::vector<program::RankContext> sharded, single;
    auto start = Clock::now();
    std::vector<float> logits = run(ids, ranks, o, source, sharded, forward);
    double first = seconds(start);

    std::printf("model %s, tp = %lld, %lld x %lld tokens, device cpu\n",
                tpc_program_model, (long long)ranks, (long long)ids.batch,
                (long long)ids.seq);
    std::printf("weights per rank: %.1f MiB; collectives per pass: %lld\n",
                tpc_program_weight_bytes_per_rank / 1048576.0,
                (long long)tpc_program_collectives);
    std::printf("first pass (loading weights included): %.3f s\n", first);

    if (o.verify) {
      std::vector<float> reference =
          run(ids, 1, o, source, single, forward_tp1);
      // Relative to the largest logit: per-element ratios explode on
      // logits near zero and say nothing.
      double maxAbs = 0, scale = 0;
      for (size_t i = 0; i < logits.size(); ++i) {
        maxAbs = std::max(maxAbs, std::fabs(double(logits[i]) - reference[i]));
        scale = std::max(scale, std::fabs(double(reference[i])));
      }
      std::printf("verify against tp = 1: max abs diff %.3g, max rel diff "
                  "%.3g (to the largest |logit| %.3g)\n",
                  maxAbs, maxAbs / std::max(scale, 1e-30), scale);
    }
    if (o.bench > 0) {
      // The first pass loaded the weights; every rank keeps them.
      auto benchStart = Clock::now();
      for (int i = 0; i < o.bench; ++i)
        run(ids, ranks, o, source, sharded, forward);
      double perPass = seconds(benchStart) / o.bench;
      std::printf("bench: %.4f s per pass, %.1f tokens/s (weights loaded, "
                  "ranks started per pass)\n",
                  perPass, ids.batch * ids.seq / perPass);
    }
    if (!o.output.empty()) {
      writeLogits(o.output, logits, ids);
      std::printf("logits [%lld, %lld, %lld] written to %s\n",
                  (long long)ids.batch, (long long)ids.seq,
                  (long long)tpc_program_vocab, o.output.c_str());
    }
    return 0;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "%s: error: %s\n", self, e.what());
    return 1;
  }
}
