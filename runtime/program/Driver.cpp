//===- Driver.cpp - the main of every compiled tpc program ----------------===//
//
//   EXE (--weights PATH | --random-weights SEED) --tokens "1,2,3;4,5,6"
//       [--device cpu|cuda] [--output FILE.safetensors] [--verify]
//       [--bench N]
//
// Runs the tp = N forward pass on N thread ranks (or this process's rank
// under mpirun) on the CPU or on CUDA devices (one GPU per rank with NCCL,
// or virtual ranks sharing a GPU), prints a one-screen summary, optionally
// the difference against the tp = 1 program and timings, and writes the
// logits.
//
//===----------------------------------------------------------------------===//
#include "runtime/comm/GlooCommunicator.h"
#include "runtime/comm/Launch.h"
#include "runtime/cpu/Kernels.h"
#if TPC_HAS_CUDA
#include "runtime/comm/NcclCommunicator.h"
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
double seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

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

/// Where the ranks compute and how they talk.
struct Placement {
  /// Ranks computing on this host: this program's thread ranks, or the
  /// mpirun job's processes on this node.
  int ranksHere = 1;
  /// This process's place among them under mpirun (thread ranks use their
  /// rank).
  std::optional<int> processLocalRank;
  bool cuda = false;
  /// CUDA devices present (when `cuda`).
  int devices = 0;
  /// One GPU per rank through NCCL; otherwise virtual ranks share GPUs and
  /// their collectives are staged through the host (Gloo).
  bool nccl = false;
  /// The summary's words for it.
  std::string description;
};

Placement place(const std::string &device, int ranks,
                const comm::ProcessGroup &group) {
  Placement p;
  p.ranksHere = group.underMpirun ? group.localSize : ranks;
  if (group.underMpirun)
    p.processLocalRank = group.localRank;
  if (device == "cpu") {
    p.description = "cpu";
    return p;
  }
  std::string why;
  p.devices = program::cudaDeviceCount(&why);
  if (p.devices == 0)
    usageError("--device cuda: no CUDA device can be used (" + why + ")");
  p.cuda = true;
  p.nccl = ranks > 1 && p.ranksHere <= p.devices;
  if (ranks == 1)
    p.description = "cuda:0";
  else if (p.nccl)
    p.description = "cuda, one GPU per rank, NCCL";
  else
    p.description = "cuda, " + std::to_string(p.ranksHere) + " ranks on " +
                    std::to_string(p.devices) +
                    " GPU(s), collectives staged through the host";
  return p;
}

/// What rank 0 saw.
struct RunResult {
  std::vector<float> logits;
  DType dtype = DType::F32;
  double firstPass = 0;
  double perPass = 0;
};

/// One rank of the run: its device and communicator, the first pass (which
/// loads the weights) and `benchPasses` more, timed.
void runRank(comm::Communicator &host, const Placement &placement,
             const program::Ids &ids, const Options &o,
             const weights::WeightStore *store, int benchPasses,
             Tensor (*forward)(program::RankContext &, program::Ids),
             RunResult &result) {
  int local = placement.processLocalRank.value_or(host.rank());
  std::unique_ptr<program::Backend> gpu;
  std::unique_ptr<comm::Communicator> deviceComm;
  comm::Communicator *comm = &host;
  if (placement.cuda) {
    int device = local % placement.devices;
    gpu = program::makeCudaBackend(device);
#if TPC_HAS_CUDA
    if (placement.nccl)
      deviceComm = comm::NcclCommunicator::connect(host, device,
                                                   std::chrono::seconds(60));
    else
      deviceComm = std::make_unique<comm::HostStagedCommunicator>(host);
    comm = deviceComm.get();
#endif
  }
  // Declared after the backend: its tensors go first.
  program::RankContext ctx;
  ctx.rank = host.rank();
  ctx.size = host.size();
  ctx.comm = comm;
  ctx.store = store;
  ctx.seed = o.seed.value_or(0);
  ctx.seq = ids.seq;
  ctx.backend = gpu.get();
  auto pass = [&] {
    Tensor out = forward(ctx, ids);
    program::backendOf(ctx).synchronize();
    return out;
  };
  auto start = Clock::now();
  Tensor out = pass();
  if (host.rank() == 0) {
    result.firstPass = seconds(start);
    result.logits = out.toFloats();
    result.dtype = out.dtype();
  }
  if (benchPasses > 0) {
    host.barrier();
    auto benchStart = Clock::now();
    for (int i = 0; i < benchPasses; ++i)
      pass();
    host.barrier();
    if (host.rank() == 0)
      result.perPass = seconds(benchStart) / benchPasses;
  }
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

} // namespace

int main(int argc, char **argv) {
  const char *self = argc > 0 ? argv[0] : "tpc-program";
  try {
    Options o = parse(argc, argv);
    if (o.device.empty())
      o.device = program::cudaDeviceCount() > 0 ? "cuda" : "cpu";
    if (o.device != "cpu" && o.device != "cuda")
      usageError("--device: expected cpu or cuda, got '" + o.device + "'");
    program::Ids ids = parseTokens(o.tokens);
    int ranks = int(tpc_program_tp);
    comm::ProcessGroup group = comm::detectProcessGroup();
    if (group.underMpirun && group.size != ranks)
      usageError("mpirun started " + std::to_string(group.size) +
                 " processes for a tp = " + std::to_string(ranks) +
                 " program; use -np " + std::to_string(ranks));
    Placement placement = place(o.device, ranks, group);

    std::optional<weights::WeightStore> store;
    if (!o.weights.empty()) {
      auto opened = weights::WeightStore::open(o.weights);
      if (!opened)
        usageError(llvm::toString(opened.takeError()));
      store = std::move(*opened);
    }
    const weights::WeightStore *source = store ? &*store : nullptr;

    // Ranks are threads of this process, or the processes of an mpirun
    // job; either way they are started once, for every pass.
    if (!placement.cuda)
      cpu::shareCores(placement.ranksHere);
    RunResult result;
    comm::runRanks(
        ranks, std::chrono::seconds(60), [&](comm::Communicator &host) {
          runRank(host, placement, ids, o, source, o.bench, forward, result);
        });
    // Under mpirun, the first process speaks for the job.
    if (group.rank != 0)
      return 0;

    std::printf("model %s (%s), tp = %lld, %lld x %lld tokens, device %s\n",
                tpc_program_model, dtypeName(result.dtype).c_str(),
                (long long)ranks, (long long)ids.batch, (long long)ids.seq,
                placement.description.c_str());
    std::printf("weights per rank: %.1f MiB; collectives per pass: %lld\n",
                tpc_program_weight_bytes_per_rank / 1048576.0,
                (long long)tpc_program_collectives);
    std::printf("first pass (loading weights included): %.3f s\n",
                result.firstPass);

    if (o.verify) {
      // The unsharded program, on one rank of the same device.
      RunResult single;
      Placement one = place(o.device, 1, group);
      if (!one.cuda)
        cpu::shareCores(1);
      comm::runThreadRanks(
          1, std::chrono::seconds(60), [&](comm::Communicator &host) {
            runRank(host, one, ids, o, source, 0, forward_tp1, single);
          });
      const std::vector<float> &reference = single.logits;
      // Relative to the largest logit: per-element ratios explode on
      // logits near zero and say nothing.
      double maxAbs = 0, scale = 0;
      for (size_t i = 0; i < result.logits.size(); ++i) {
        maxAbs = std::max(maxAbs,
                          std::fabs(double(result.logits[i]) - reference[i]));
        scale = std::max(scale, std::fabs(double(reference[i])));
      }
      std::printf("verify against tp = 1: max abs diff %.3g, max rel diff "
                  "%.3g (to the largest |logit| %.3g)\n",
                  maxAbs, maxAbs / std::max(scale, 1e-30), scale);
    }
    if (o.bench > 0)
      std::printf("bench: %.4f s per pass, %.1f tokens/s (%d passes after "
                  "the first)\n",
                  result.perPass, ids.batch * ids.seq / result.perPass,
                  o.bench);
    if (!o.output.empty()) {
      writeLogits(o.output, result.logits, ids);
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
