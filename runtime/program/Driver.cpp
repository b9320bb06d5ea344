//===- Driver.cpp - the main of every compiled tpc program ----------------===//
//
//   EXE (--weights PATH | --random-weights SEED) --tokens "1,2,3;4,5,6"
//       [--device cpu|cuda] [--output FILE.safetensors] [--verify]
//       [--bench N] [--timeout SECONDS]
//   EXE ... --generate N (--prompt TEXT... | --prompts FILE | --tokens IDS)
//       [--tokenizer tokenizer.json] [--max-seq N] [--ignore-eos]
//       [--temperature T] [--top-k K] [--top-p P] [--seed S]
//   EXE --help
//
// The flags are defined and parsed in Options.cpp.
//
// Runs the tp = N forward pass on N thread ranks (or this process's rank
// under mpirun) on the CPU or on CUDA devices (one GPU per rank with NCCL,
// or virtual ranks sharing a GPU), prints a one-screen summary, optionally
// the difference against the tp = 1 program and timings, and writes the
// logits. With --generate it generates text instead: the prefill program
// over the prompts, then the decode program one token at a time.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/MemoryMeter.h"
#include "runtime/comm/Faults.h"
#include "runtime/comm/GlooCommunicator.h"
#include "runtime/comm/Launch.h"
#include "runtime/cpu/Kernels.h"
#if TPC_HAS_CUDA
#include "runtime/comm/NcclCommunicator.h"
#endif
#include "runtime/program/Generate.h"
#include "runtime/program/Options.h"
#include "runtime/program/Program.h"
#include "runtime/program/Train.h"
#include "runtime/tokenizer/Tokenizer.h"
#include "runtime/tokenizer/Unicode.h"
#include "runtime/weights/Safetensors.h"

#include <atomic>
#include <fstream>
#include <malloc.h>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>

using namespace tpc;
using Clock = std::chrono::steady_clock;

namespace {
double seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

[[noreturn]] void usageError(const std::string &message) {
  throw program::UsageError(message);
}

using program::Options;

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

/// Bytes of memory this host can still give: MemAvailable, or the cgroup's
/// limit less its usage when that is lower; nullopt when unknown.
std::optional<double> availableHostMemory() {
  std::optional<double> available;
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  double kib;
  std::string unit;
  while (meminfo >> key >> kib >> unit)
    if (key == "MemAvailable:")
      available = kib * 1024.0;
  std::ifstream maxFile("/sys/fs/cgroup/memory.max"),
      currentFile("/sys/fs/cgroup/memory.current");
  std::string max;
  double current = 0;
  if (maxFile >> max && max != "max" && currentFile >> current) {
    double left = std::stod(max) - current;
    available = available ? std::min(*available, left) : left;
  }
  return available;
}

std::string gib(double bytes) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.2f GiB", bytes / (1024.0 * 1024 * 1024));
  return text;
}

/// Fails before any work when the ranks of this process cannot fit in the
/// host's memory: each holds its weights, its KV caches (`cacheBytes`) and
/// its activation peak (`activationBytes`).
void checkHostMemory(const Placement &placement, double cacheBytes,
                     double activationBytes) {
  if (placement.cuda)
    return; // Device memory: a failed allocation says so itself.
  std::optional<double> available = availableHostMemory();
  if (!available)
    return;
  double ranks = placement.ranksHere;
  double weights = double(tpc_program_weight_bytes_per_rank) * ranks;
  double caches = cacheBytes * ranks, activations = activationBytes * ranks;
  double needed = weights + caches + activations;
  if (needed <= *available)
    return;
  throw std::runtime_error(
      "not enough memory: " + std::to_string(placement.ranksHere) +
      " rank(s) on this host need " + gib(needed) + " (weights " +
      gib(weights) + ", KV caches " + gib(caches) + ", activations " +
      gib(activations) + ") but " + gib(*available) +
      " is available; spread the ranks over more hosts (mpirun), compile "
      "with --dtype bf16, or ask for fewer tokens (--max-seq, fewer "
      "prompts)");
}

/// One rank's device, communicators and context, for the whole run.
struct Rank {
  std::unique_ptr<program::Backend> gpu;
  std::unique_ptr<comm::Communicator> deviceComm;
  /// Declared after the backend: its tensors go first.
  program::RankContext ctx;

  Rank(comm::Communicator &host, const Placement &placement, const Options &o,
       const weights::WeightStore *store) {
    int local = placement.processLocalRank.value_or(host.rank());
    comm::Communicator *comm = &host;
    if (placement.cuda) {
      int device = local % placement.devices;
      gpu = program::makeCudaBackend(device);
#if TPC_HAS_CUDA
      if (placement.nccl)
        deviceComm = comm::NcclCommunicator::connect(host, device,
                                                     std::chrono::seconds(o.timeout));
      else
        deviceComm = std::make_unique<comm::HostStagedCommunicator>(host);
      comm = deviceComm.get();
#endif
    }
    ctx.rank = host.rank();
    ctx.size = host.size();
    ctx.comm = comm;
    ctx.store = store;
    ctx.seed = o.seed.value_or(0);
    ctx.backend = gpu.get();
  }
};

/// The q-quantile (0..1) of `values`, by the nearest rank.
double quantile(std::vector<double> values, double q) {
  if (values.empty())
    return 0;
  std::sort(values.begin(), values.end());
  size_t index = size_t(std::ceil(q * values.size()));
  return values[std::min(values.size() - 1, index > 0 ? index - 1 : 0)];
}

/// What rank 0 saw.
struct RunResult {
  std::vector<float> logits;
  DType dtype = DType::F32;
  double firstPass = 0;
  double perPass = 0, medianPass = 0;
  /// The most activation bytes any rank of this process held at once
  /// during a pass (weights and caches excluded).
  std::atomic<int64_t> activationPeak{0};
};

/// Raises `peak` to `bytes` when that is more (ranks of this process
/// report their own).
void raisePeak(std::atomic<int64_t> &peak, int64_t bytes) {
  for (int64_t seen = peak.load();
       bytes > seen && !peak.compare_exchange_weak(seen, bytes);) {
  }
}

/// The line that sets the measured activation peak beside the planned one.
void printActivationPeak(int64_t measured, double planned) {
  std::printf("activation peak per rank: %.2f MiB measured, %.2f MiB planned "
              "(%lld and %lld bytes)\n",
              measured / 1048576.0, planned / 1048576.0, (long long)measured,
              (long long)planned);
}

/// The compiler's planned activation peak (tpc_program_*_activation_peaks)
/// at `batch` x `seq` tokens.
double plannedPeak(const int64_t *triples, int64_t count, int64_t batch,
                   int64_t seq) {
  double peak = 0;
  for (int64_t i = 0; i + 2 < count; i += 3)
    peak = std::max(peak, double(triples[i]) + double(triples[i + 1]) * batch +
                              double(triples[i + 2]) * batch * seq);
  return peak;
}

/// One rank of a forward run: the first pass (which loads the weights) and
/// `benchPasses` more, timed.
void runRank(comm::Communicator &host, const Placement &placement,
             const program::Ids &ids, const Options &o,
             const weights::WeightStore *store, int benchPasses,
             Tensor (*forward)(program::RankContext &, program::Ids),
             RunResult &result) {
  Rank rank(host, placement, o, store);
  program::RankContext &ctx = rank.ctx;
  ctx.seq = ids.seq;
  auto meter = std::make_shared<MemoryMeter>();
  auto pass = [&] {
    comm::setPhase("forward pass");
    comm::injectFault("pass", ctx.rank);
    MemoryMeter::Scope metered(meter);
    Tensor out = forward(ctx, ids);
    program::backendOf(ctx).synchronize();
    return out;
  };
  auto start = Clock::now();
  Tensor out = pass();
  raisePeak(result.activationPeak, meter->peak());
  if (host.rank() == 0)
    result.firstPass = seconds(start);
  if (benchPasses > 0) {
    host.barrier();
    auto benchStart = Clock::now();
    // Each pass's time too: its median is robust to a pass that another
    // process on the host slowed down.
    std::vector<double> times;
    for (int i = 0; i < benchPasses; ++i) {
      auto passStart = Clock::now();
      pass();
      times.push_back(seconds(passStart));
    }
    host.barrier();
    if (host.rank() == 0) {
      result.perPass = seconds(benchStart) / benchPasses;
      result.medianPass = quantile(times, 0.5);
    }
  }
  // The first pass's logits become floats only now: an f32 copy held
  // through the timed passes would add a logits-sized buffer to the peak.
  if (host.rank() == 0) {
    result.logits = out.toFloats();
    result.dtype = out.dtype();
  }
}

void writeFile(const std::string &path,
               llvm::ArrayRef<weights::TensorToWrite> tensors) {
  if (llvm::Error err = weights::writeSafetensors(path, tensors))
    throw std::runtime_error(llvm::toString(std::move(err)));
}

/// The largest |a - b| and the largest |b|.
std::pair<double, double> difference(const std::vector<float> &a,
                                     const std::vector<float> &b) {
  double maxAbs = 0, scale = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    maxAbs = std::max(maxAbs, std::fabs(double(a[i]) - b[i]));
    scale = std::max(scale, std::fabs(double(b[i])));
  }
  if (a.size() != b.size())
    maxAbs = INFINITY;
  return {maxAbs, scale};
}

/// The forward pass: logits of every position.
int runForward(const Options &o, const Placement &placement,
               const comm::ProcessGroup &group,
               const weights::WeightStore *source) {
  program::Ids ids = program::parseTokens(o.tokens, tpc_program_vocab,
                                         tpc_program_max_positions);
  checkHostMemory(placement, 0,
                  plannedPeak(tpc_program_forward_activation_peaks,
                              tpc_program_forward_activation_peaks_count,
                              ids.batch, ids.seq));
  int ranks = int(tpc_program_tp);
  RunResult result;
  comm::runRanks(
      ranks, std::chrono::seconds(o.timeout), [&](comm::Communicator &host) {
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
  double planned = plannedPeak(tpc_program_forward_activation_peaks,
                               tpc_program_forward_activation_peaks_count,
                               ids.batch, ids.seq);
  printActivationPeak(result.activationPeak.load(), planned);

  if (o.verify) {
    // The unsharded program, on one rank of the same device.
    RunResult single;
    Placement one = place(o.device, 1, group);
    if (!one.cuda)
      cpu::shareCores(1);
    comm::runThreadRanks(
        1, std::chrono::seconds(o.timeout), [&](comm::Communicator &host) {
          runRank(host, one, ids, o, source, 0,
                  referenceOf(forward_tp1, forward), single);
        });
    // Relative to the largest logit: per-element ratios explode on logits
    // near zero and say nothing.
    auto [maxAbs, scale] = difference(result.logits, single.logits);
    std::printf("verify against tp = 1: max abs diff %.3g, max rel diff "
                "%.3g (to the largest |logit| %.3g)\n",
                maxAbs, maxAbs / std::max(scale, 1e-30), scale);
  }
  if (o.bench > 0)
    std::printf("bench: %.4f s per pass, %.1f tokens/s (%d passes after "
                "the first; median %.4f s)\n",
                result.perPass, ids.batch * ids.seq / result.perPass, o.bench,
                result.medianPass);
  if (!o.output.empty()) {
    writeFile(o.output,
              {weights::f32Tensor("logits",
                                  {ids.batch, ids.seq, tpc_program_vocab},
                                  result.logits)});
    std::printf("logits [%lld, %lld, %lld] written to %s\n",
                (long long)ids.batch, (long long)ids.seq,
                (long long)tpc_program_vocab, o.output.c_str());
  }
  return 0;
}

/// Training: --steps steps of the training program over --data.
int runTraining(const Options &o, const Placement &placement,
                const comm::ProcessGroup &group,
                const weights::WeightStore *source) {
  if (!train_step)
    usageError("--data: this program was compiled without --train; "
               "recompile it with tpc-compile --train");
  if (placement.cuda)
    usageError("--data: training runs on the CPU so far; pass --device cpu");
  const Options::Training &t = o.training;
  if (t.seqLen > tpc_program_max_positions)
    usageError("--seq-len: " + std::to_string(t.seqLen) +
               " tokens exceed the model's " +
               std::to_string(tpc_program_max_positions) + " positions");
  std::vector<int32_t> tokens =
      program::readTokenFile(t.data, t.dataType, t.dataTensor,
                             tpc_program_vocab, t.seqLen + 1);
  // Each pass of the program holds one micro-batch of one replica.
  int64_t passBatch = t.microBatch > 0
                          ? t.microBatch
                          : std::max<int64_t>(1, t.batch / tpc_program_dp);
  checkHostMemory(placement, 0,
                  plannedPeak(tpc_program_train_activation_peaks,
                              tpc_program_train_activation_peaks_count,
                              passBatch, t.seqLen));
  program::TrainingRequest request;
  request.tokens = &tokens;
  request.steps = t.steps;
  request.batch = t.batch;
  request.seqLen = t.seqLen;
  request.optimizer.adamw = t.optimizer == "adamw";
  request.optimizer.lr = t.lr;
  request.optimizer.weightDecay = t.weightDecay;
  request.optimizer.warmup = t.warmup;
  request.optimizer.steps = t.steps;
  request.optimizer.clip = t.clip;
  request.keepFirstGrads = !t.grads.empty() || o.verify;
  request.keepWeights = !t.save.empty();
  int tpSize = int(tpc_program_tp), dpSize = int(tpc_program_dp);
  if (t.batch % dpSize != 0)
    usageError("--batch: " + std::to_string(t.batch) +
               " sequences do not split evenly over the program's " +
               std::to_string(dpSize) + " data-parallel replicas");
  if (t.microBatch > 0 && (t.batch / dpSize) % t.microBatch != 0)
    usageError("--micro-batch: " + std::to_string(t.microBatch) +
               " does not divide each replica's " +
               std::to_string(t.batch / dpSize) + " sequences of --batch " +
               std::to_string(t.batch));
  request.microBatch = t.microBatch;
  request.shuffle = t.shuffle;
  request.seed = o.sampling.seed;
  if (group.rank == 0) {
    std::printf("model %s (%s), tp = %d, dp = %d%s, training: %lld steps "
                "of %lld x %lld tokens from %s (%zu tokens), device %s\n",
                tpc_program_model, tpc_program_dtype, tpSize, dpSize,
                tpc_program_zero_stage == 2   ? " (ZeRO-2)"
                : tpc_program_zero_stage == 1 ? " (ZeRO-1)"
                                              : "",
                (long long)t.steps,
                (long long)t.batch, (long long)t.seqLen, t.data.c_str(),
                tokens.size(), placement.description.c_str());
    std::printf("weights per rank: %.1f MiB; collectives per step: %lld\n",
                tpc_program_weight_bytes_per_rank / 1048576.0,
                (long long)tpc_program_train_collectives);
  }
  request.onStep = [&](int64_t step, double loss, double norm, double lr,
                       double seconds, double optimizerSeconds,
                       double gatherWaitSeconds) {
    if (group.rank != 0)
      return;
    std::string waited =
        gatherWaitSeconds >= 0
            ? " (" + std::to_string(std::lround(gatherWaitSeconds * 1e3)) +
                  " waiting for gathered weights)"
            : "";
    std::printf("step %lld/%lld: loss %.6f, grad norm %.4g, lr %.3g, %.0f "
                "tokens/s (%.0f ms: forward and backward %.0f%s, optimizer "
                "%.0f)\n",
                (long long)step + 1, (long long)t.steps, loss, norm, lr,
                double(t.batch * t.seqLen) / seconds, seconds * 1e3,
                (seconds - optimizerSeconds) * 1e3, waited.c_str(),
                optimizerSeconds * 1e3);
    std::fflush(stdout);
  };
  program::TrainingResult result;
  std::atomic<int64_t> activationPeak{0}; // the largest rank's, this host
  comm::runRanks(
      tpSize * dpSize, std::chrono::seconds(o.timeout),
      [&](comm::Communicator &world) {
        // World rank w is tp rank w % tp of replica w / tp: each mesh axis
        // gets a communicator of its own.
        int w = world.rank();
        std::unique_ptr<comm::Communicator> tpComm, dpComm;
        comm::Communicator *tpGroup = &world;
        program::TrainingRequest mine = request;
        if (dpSize > 1) {
          comm::setPhase("splitting the mesh into tp and dp groups");
          tpComm = world.split(w / tpSize, w % tpSize, tpSize);
          dpComm = world.split(w % tpSize, w / tpSize, dpSize);
          tpGroup = tpComm.get();
          mine.dp = dpComm.get();
          mine.dpRank = w / tpSize;
          mine.dpSize = dpSize;
          mine.zeroStage = int(tpc_program_zero_stage);
          // Every rank's groups connected before any rank goes on: a rank
          // that fails in its first step is then reported there, not as a
          // connection closed during another rank's split.
          world.barrier();
        }
        Rank rank(*tpGroup, placement, o, source);
        program::TrainingResult trained =
            program::train(rank.ctx, train_step, mine);
        raisePeak(activationPeak, trained.activationPeak);
        if (w == 0)
          result = std::move(trained);
        // The groups' connections go before the world's final barrier.
        world.barrier();
      });
  if (group.rank != 0)
    return 0;
  double planned = plannedPeak(tpc_program_train_activation_peaks,
                               tpc_program_train_activation_peaks_count,
                               passBatch, t.seqLen);
  printActivationPeak(activationPeak.load(), planned);
  auto write = [&](const std::string &path,
                   const std::map<std::string, std::vector<float>> &tensors,
                   const char *what) {
    std::vector<weights::TensorToWrite> out;
    for (auto &[name, values] : tensors)
      out.push_back(weights::f32Tensor(name, result.shapes.at(name), values));
    writeFile(path, out);
    std::printf("%s (%zu tensors) written to %s\n", what, out.size(),
                path.c_str());
  };
  if (o.verify) {
    // The unsharded step on one rank, same weights and batch.
    Placement one = place(o.device, 1, group);
    cpu::shareCores(1);
    program::TrainingRequest first = request;
    first.steps = 1;
    first.keepWeights = false;
    first.onStep = nullptr;
    program::TrainingResult single;
    comm::runThreadRanks(1, std::chrono::seconds(o.timeout),
                         [&](comm::Communicator &host) {
                           Rank rank(host, one, o, source);
                           single = program::train(
                               rank.ctx,
                               referenceOf(train_step_tp1, train_step), first);
                         });
    double maxDiff = 0, scale = 0;
    for (auto &[name, values] : single.firstGrads) {
      auto [diff, size] = difference(result.firstGrads.at(name), values);
      maxDiff = std::max(maxDiff, diff);
      scale = std::max(scale, size);
    }
    std::printf("verify against tp = 1: first step loss diff %.3g, max abs "
                "gradient diff %.3g (largest |gradient| %.3g)\n",
                std::fabs(result.losses[0] - single.losses[0]), maxDiff, scale);
  }
  if (!t.grads.empty())
    write(t.grads, result.firstGrads, "first step's gradients");
  if (!t.save.empty())
    write(t.save, result.weights, "weights");
  return 0;
}

std::string joinIds(const std::vector<int32_t> &ids) {
  std::string out;
  for (int32_t id : ids)
    out += (out.empty() ? "" : " ") + std::to_string(id);
  return out;
}

/// The lines of `path` (without line ends), empty ones skipped.
std::vector<std::string> readLines(const std::string &path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buffer)
    usageError(path + ": cannot read: " + buffer.getError().message());
  std::vector<std::string> lines;
  llvm::SmallVector<llvm::StringRef> parts;
  (*buffer)->getBuffer().split(parts, '\n');
  for (llvm::StringRef line : parts)
    if (!line.rtrim("\r").empty())
      lines.push_back(line.rtrim("\r").str());
  return lines;
}

/// Prints one sequence's text as it grows: the prompt, then each new piece
/// once it decodes to whole characters (a byte-level token may end inside
/// one, which then shows as U+FFFD until the next token completes it).
class TextStream {
public:
  TextStream(const tokenizer::Tokenizer &tok, std::vector<int32_t> prompt)
      : tok(tok), ids(std::move(prompt)) {
    shown = tok.decode(ids, /*skipSpecialTokens=*/true);
    std::printf("%s", shown.c_str());
    std::fflush(stdout);
  }
  void add(int32_t token) {
    ids.push_back(token);
    std::string text = tok.decode(ids, /*skipSpecialTokens=*/true);
    static const std::string replacement = "\xEF\xBF\xBD";
    if (text.size() >= 3 && text.compare(text.size() - 3, 3, replacement) == 0)
      return; // Wait for the rest of the character.
    // Decoders may rewrite earlier text (a stripped space): print what is
    // new after the longest common prefix.
    size_t common = 0;
    while (common < text.size() && common < shown.size() &&
           text[common] == shown[common])
      ++common;
    std::printf("%s", text.substr(std::min(common, text.size())).c_str());
    std::fflush(stdout);
    shown = std::move(text);
  }

private:
  const tokenizer::Tokenizer &tok;
  std::vector<int32_t> ids;
  std::string shown;
};

/// Generation: prefill the prompts, decode up to --generate tokens each.
int runGeneration(const Options &o, const Placement &placement,
                  const comm::ProcessGroup &group,
                  const weights::WeightStore *source) {
  if (!prefill || !decode)
    usageError("--generate: this program's model has no attention to cache, "
               "so it has no prefill and decode programs");
  int64_t maxSeq = o.maxSeq.value_or(tpc_program_max_positions);
  if (maxSeq > tpc_program_max_positions)
    usageError("--max-seq: expected at most the model's " +
               std::to_string(tpc_program_max_positions) + " positions, got " +
               std::to_string(maxSeq));
  // The tokenizer: --tokenizer, or the one beside the compiled model.
  std::optional<tokenizer::Tokenizer> tok;
  std::string tokenizerPath =
      !o.tokenizer.empty() ? o.tokenizer : std::string(tpc_program_tokenizer);
  bool text = !o.prompts.empty() || !o.promptsFile.empty();
  if (text && tokenizerPath.empty())
    usageError("--prompt: this program was not compiled from a directory "
               "with a tokenizer.json; give --tokenizer PATH");
  if (!tokenizerPath.empty()) {
    auto loaded = tokenizer::Tokenizer::load(tokenizerPath);
    if (!loaded)
      usageError(llvm::toString(loaded.takeError()));
    tok = std::move(*loaded);
  }

  program::GenerationRequest request;
  std::string flag = text ? "--prompt" : "--tokens";
  if (text) {
    std::vector<std::string> prompts = o.prompts;
    if (!o.promptsFile.empty())
      for (std::string &line : readLines(o.promptsFile))
        prompts.push_back(std::move(line));
    if (prompts.empty())
      usageError(o.promptsFile + ": expected one prompt per line, found none");
    for (const std::string &prompt : prompts) {
      auto ids = tok->encode(prompt);
      if (!ids)
        usageError(flag + ": " + llvm::toString(ids.takeError()));
      if (ids->empty())
        usageError(flag + ": the prompt \"" + prompt +
                   "\" has no tokens (the tokenizer adds none)");
      for (int32_t id : *ids)
        if (id >= tpc_program_vocab)
          usageError(flag + ": token id " + std::to_string(id) +
                     " from the tokenizer is outside the model's vocabulary "
                     "of " +
                     std::to_string(tpc_program_vocab));
      request.prompts.push_back(std::move(*ids));
    }
  } else {
    request.prompts = program::parseSequences(o.tokens, tpc_program_vocab);
  }
  for (const std::vector<int32_t> &prompt : request.prompts)
    if (int64_t(prompt.size()) > maxSeq)
      usageError(flag + ": a prompt of " + std::to_string(prompt.size()) +
                 " tokens is longer than --max-seq " + std::to_string(maxSeq));
  request.maxNewTokens = o.generate;
  request.sampling = o.sampling;
  // --ignore-eos generates the full length (benchmarks).
  if (!o.ignoreEos)
    request.eosTokenIds.assign(tpc_program_eos_ids,
                               tpc_program_eos_ids + tpc_program_eos_ids_count);
  request.maxSeq = maxSeq;
  request.keepLogits = o.verify || !o.output.empty();
  int64_t batch = int64_t(request.prompts.size());
  int64_t longest = 0;
  for (const std::vector<int32_t> &prompt : request.prompts)
    longest = std::max<int64_t>(longest, int64_t(prompt.size()));
  checkHostMemory(
      placement,
      double(tpc_program_kv_bytes_per_position) * double(batch) *
          double(maxSeq),
      std::max(plannedPeak(tpc_program_forward_activation_peaks,
                           tpc_program_forward_activation_peaks_count, batch,
                           longest),
               plannedPeak(tpc_program_decode_activation_peaks,
                           tpc_program_decode_activation_peaks_count, batch,
                           1)));
  // A single sequence streams as it comes: its text (prompt first), or its
  // ids without a tokenizer.
  bool stream = batch == 1 && group.rank == 0;
  std::optional<TextStream> textStream;
  if (stream && tok) {
    textStream.emplace(*tok, request.prompts[0]);
    request.onStep = [&](int64_t, const std::vector<int32_t> &tokens,
                         const std::vector<bool> &produced) {
      if (produced[0])
        textStream->add(tokens[0]);
    };
  } else if (stream) {
    request.onStep = [](int64_t step, const std::vector<int32_t> &tokens,
                        const std::vector<bool> &produced) {
      if (!produced[0])
        return;
      std::printf("%s%d", step == 0 ? "generated: " : " ", tokens[0]);
      std::fflush(stdout);
    };
  }

  program::GenerationPrograms programs{prefill, decode,
                                       tpc_program_logits_layout,
                                       tpc_program_vocab};
  int ranks = int(tpc_program_tp);
  program::GenerationResult result;
  std::vector<double> firstTokenTimes, tokenTimes;
  // Step times early and late in each run: flat when decode does not
  // recompute the prefix.
  std::vector<double> earlySteps, lateSteps;
  double decodeSeconds = 0;
  int64_t decodeTokens = 0;
  comm::runRanks(
      ranks, std::chrono::seconds(o.timeout), [&](comm::Communicator &host) {
        Rank rank(host, placement, o, source);
        program::GenerationResult mine =
            program::generate(rank.ctx, host, programs, request);
        // More runs of the same generation, timed (weights are loaded).
        program::GenerationRequest again = request;
        again.keepLogits = false;
        again.onStep = nullptr;
        for (int i = 0; i < o.bench; ++i) {
          program::GenerationResult timed =
              program::generate(rank.ctx, host, programs, again);
          if (host.rank() != 0)
            continue;
          firstTokenTimes.push_back(timed.prefillSeconds);
          for (double t : timed.stepSeconds) {
            tokenTimes.push_back(t);
            decodeSeconds += t;
          }
          size_t steps = timed.stepSeconds.size(),
                 tenth = std::max<size_t>(1, steps / 10);
          if (steps >= 2) {
            earlySteps.insert(earlySteps.end(), timed.stepSeconds.begin(),
                              timed.stepSeconds.begin() + tenth);
            lateSteps.insert(lateSteps.end(), timed.stepSeconds.end() - tenth,
                             timed.stepSeconds.end());
          }
          for (const auto &tokens : timed.tokens)
            decodeTokens += std::max<int64_t>(int64_t(tokens.size()) - 1, 0);
        }
        if (host.rank() == 0)
          result = std::move(mine);
      });
  if (group.rank != 0)
    return 0;
  if (stream)
    std::printf("\n");
  if (tok && !stream)
    for (int64_t b = 0; b < batch; ++b) {
      std::vector<int32_t> all = request.prompts[b];
      all.insert(all.end(), result.tokens[b].begin(), result.tokens[b].end());
      std::printf("--- [%lld]\n%s\n", (long long)b,
                  tok->decode(all, /*skipSpecialTokens=*/true).c_str());
    }

  std::printf("model %s, tp = %lld, %lld prompt(s), device %s\n",
              tpc_program_model, (long long)ranks, (long long)batch,
              placement.description.c_str());
  std::printf("weights per rank: %.1f MiB; KV cache per rank: %.1f MiB "
              "(%lld x %lld positions); collectives per decode step: %lld\n",
              tpc_program_weight_bytes_per_rank / 1048576.0,
              double(tpc_program_kv_bytes_per_position) * batch * maxSeq /
                  1048576.0,
              (long long)batch, (long long)maxSeq,
              (long long)tpc_program_decode_collectives);
  for (int64_t b = 0; b < batch; ++b)
    std::printf("[%lld] %zu + %zu tokens (%s): %s\n", (long long)b,
                request.prompts[b].size(), result.tokens[b].size(),
                program::describe(result.stopReasons[b]).c_str(),
                joinIds(result.tokens[b]).c_str());
  std::printf("first run (loading weights included): time to first token "
              "%.3f s, %zu decode steps %.3f s\n",
              result.prefillSeconds, result.stepSeconds.size(),
              std::accumulate(result.stepSeconds.begin(),
                              result.stepSeconds.end(), 0.0));

  if (o.verify) {
    // The tp = 1 programs replay the same tokens: their logits at every
    // step, and whether they would have picked the same tokens.
    program::GenerationRequest replay = request;
    replay.forcedTokens = &result.tokens;
    replay.onStep = nullptr;
    replay.keepLogits = true;
    program::GenerationPrograms single{referenceOf(prefill_tp1, prefill),
                                       referenceOf(decode_tp1, decode),
                                       program::Layout{}, tpc_program_vocab};
    program::GenerationResult reference;
    Placement one = place(o.device, 1, group);
    if (!one.cuda)
      cpu::shareCores(1);
    comm::runThreadRanks(
        1, std::chrono::seconds(o.timeout), [&](comm::Communicator &host) {
          Rank rank(host, one, o, source);
          reference = program::generate(rank.ctx, host, single, replay);
        });
    double maxAbs = 0, scale = 0;
    int64_t disagreements = 0, compared = 0;
    for (size_t step = 0; step < result.logits.size(); ++step) {
      for (int64_t b = 0; b < batch; ++b) {
        if (int64_t(result.tokens[b].size()) <= int64_t(step))
          continue;
        auto row = [&](const std::vector<float> &all) {
          return std::vector<float>(all.begin() + b * tpc_program_vocab,
                                    all.begin() + (b + 1) * tpc_program_vocab);
        };
        auto [diff, largest] =
            difference(row(result.logits[step]), row(reference.logits[step]));
        maxAbs = std::max(maxAbs, diff);
        scale = std::max(scale, largest);
        ++compared;
        disagreements += reference.picked[step][b] != result.tokens[b][step];
      }
    }
    std::printf("verify against tp = 1: max abs logit diff %.3g over %zu "
                "steps (max rel %.3g); tokens %s (%lld of %lld differ)\n",
                maxAbs, result.logits.size(), maxAbs / std::max(scale, 1e-30),
                disagreements == 0 ? "agree" : "DIFFER",
                (long long)disagreements, (long long)compared);
  }
  if (o.bench > 0) {
    std::printf("bench (%d runs after the first): time to first token %.2f "
                "ms (median), time per output token %.2f ms (median), %.2f "
                "ms (p90), %.1f tokens/s\n",
                o.bench, quantile(firstTokenTimes, 0.5) * 1e3,
                quantile(tokenTimes, 0.5) * 1e3,
                quantile(tokenTimes, 0.9) * 1e3,
                decodeSeconds > 0 ? decodeTokens / decodeSeconds : 0.0);
    if (!earlySteps.empty())
      std::printf("bench: time per output token over the first tenth of the "
                  "steps %.2f ms, over the last tenth %.2f ms (median)\n",
                  quantile(earlySteps, 0.5) * 1e3,
                  quantile(lateSteps, 0.5) * 1e3);
  }
  if (!o.output.empty()) {
    // tokens: prompt then generated, -1 past each sequence's end; logits:
    // the distribution each token was drawn from, NaN past its end.
    int64_t width = 0, steps = int64_t(result.logits.size());
    for (int64_t b = 0; b < batch; ++b)
      width = std::max<int64_t>(
          width, int64_t(request.prompts[b].size() + result.tokens[b].size()));
    std::vector<int64_t> tokens(batch * width, -1);
    std::vector<float> logits(batch * steps * tpc_program_vocab, NAN);
    for (int64_t b = 0; b < batch; ++b) {
      std::vector<int32_t> all = request.prompts[b];
      all.insert(all.end(), result.tokens[b].begin(), result.tokens[b].end());
      std::copy(all.begin(), all.end(), tokens.begin() + b * width);
      for (int64_t step = 0; step < int64_t(result.tokens[b].size()); ++step) {
        std::vector<float> processed = program::processedLogits(
            result.logits[step].data() + b * tpc_program_vocab,
            tpc_program_vocab, o.sampling);
        std::copy(processed.begin(), processed.end(),
                  logits.begin() + (b * steps + step) * tpc_program_vocab);
      }
    }
    writeFile(o.output,
              {weights::i64Tensor("tokens", {batch, width}, tokens),
               weights::f32Tensor("logits", {batch, steps, tpc_program_vocab},
                                  logits)});
    std::printf("tokens [%lld, %lld] and logits [%lld, %lld, %lld] written "
                "to %s\n",
                (long long)batch, (long long)width, (long long)batch,
                (long long)steps, (long long)tpc_program_vocab,
                o.output.c_str());
  }
  return 0;
}

/// Activations are freed at their last use (tpc-plan-memory) and the next
/// pass asks for the same sizes again: freed buffers stay in the heap for
/// reuse instead of going back to the kernel and being faulted in again.
/// One arena (a thread's own is capped at 64 MiB and sends larger
/// requests, such as GPT-2's 25 MiB logits once its other buffers are
/// there, to fresh mmaps) and no mmaps (glibc maps every request over 32
/// MiB anew: logits of 512 tokens are 103 MiB, a weight's gradient up to
/// 147 MiB). GPT-2 small at 128 tokens: 6300 page faults a pass before,
/// none after; a training step 2-4% faster. ZeRO-2 frees each bucket's
/// gradients to lower the peak: there buffers over 32 MiB go back to the
/// kernel (its steps were a third faster with the heap kept, but its peak
/// 7% higher: GPT-2 small at dp = 2, 6.17 against 5.77 GB).
void keepFreedMemory(bool shardsGradients) {
  if (!shardsGradients) {
    mallopt(M_ARENA_MAX, 1);
    mallopt(M_MMAP_MAX, 0);
  } else {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
  }
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

} // namespace

int main(int argc, char **argv) {
  const char *self = argc > 0 ? argv[0] : "tpc-program";
  try {
    Options o = program::parseOptions(argc, argv);
    keepFreedMemory(/*shardsGradients=*/!o.training.data.empty() &&
                    tpc_program_zero_stage >= 2);
    if (o.help) {
      std::printf("%s", program::help(self).c_str());
      return 0;
    }
    if (o.device.empty())
      o.device = program::cudaDeviceCount() > 0 ? "cuda" : "cpu";
    if (o.device != "cpu" && o.device != "cuda")
      usageError("--device: expected cpu or cuda, got '" + o.device + "'");
    // A data-parallel training program runs dp replicas of its tp ranks.
    int ranks = int(tpc_program_tp * tpc_program_dp);
    comm::ProcessGroup group = comm::detectProcessGroup();
    if (group.underMpirun && group.size != ranks)
      usageError("mpirun started " + std::to_string(group.size) +
                 " processes for a " +
                 (tpc_program_dp > 1
                      ? "dp x tp = " + std::to_string(tpc_program_dp) +
                            " x " + std::to_string(tpc_program_tp)
                      : "tp = " + std::to_string(tpc_program_tp)) +
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
    if (!o.training.data.empty())
      return runTraining(o, placement, group, source);
    if (tpc_program_dp > 1 && group.underMpirun)
      usageError("this dp x tp training program runs inference on its tp "
                 "ranks as threads: run it without mpirun");
    return o.generate > 0 ? runGeneration(o, placement, group, source)
                          : runForward(o, placement, group, source);
  } catch (const comm::AbandonedRanks &e) {
    // Rank threads that never returned still hold this process's state:
    // leave without running destructors under them.
    std::fprintf(stderr, "%s: error: %s\n", self, e.what());
    std::fflush(nullptr);
    std::_Exit(1);
  } catch (const std::exception &e) {
    std::fprintf(stderr, "%s: error: %s\n", self, e.what());
    return 1;
  }
}
