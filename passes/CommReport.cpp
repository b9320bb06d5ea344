//===- CommReport.cpp - what a partitioned plan costs ---------------------===//
#include "passes/CommReport.h"
#include "passes/CostModel.h"
#include "passes/Passes.h"
#include "passes/Strategy.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/ToolOutputFile.h"

namespace mlir::tpc {
#define GEN_PASS_DEF_COMMREPORT
#include "passes/Passes.h.inc"
} // namespace mlir::tpc

using namespace mlir;
using namespace mlir::tpc;
namespace split = ::tpc::sharding;

namespace {
/// The block an op belongs to: its scope up to the first numeric component
/// ("model.layers.3.mlp" -> "model.layers.3"), or "(outside blocks)".
std::string blockOf(Operation *op) {
  auto name = dyn_cast<NameLoc>(op->getLoc());
  if (!name)
    return "(outside blocks)";
  SmallVector<StringRef> parts;
  name.getName().getValue().split(parts, '.');
  std::string block;
  for (StringRef part : parts) {
    block += (block.empty() ? "" : ".") + part.str();
    if (!part.empty() &&
        llvm::all_of(part, [](char c) { return llvm::isDigit(c); }))
      return block;
  }
  return "(outside blocks)";
}

/// The largest number of elements any rank holds of dimension `d` of a
/// tensor of `global` shape laid out by `sharding`.
int64_t largestShare(ShardingAttr sharding, RankedTensorType global, unsigned d,
                     int64_t ranks) {
  if (!sharding || !sharding.getDims()[d].isSplit())
    return global.getDimSize(d);
  split::DimSplit s = dimSplit(sharding, global, d, ranks);
  int64_t largest = 0;
  for (int64_t r = 0; r < ranks; ++r)
    largest = std::max(largest, split::localSize(s, r));
  return largest;
}

/// The global type of a partitioned weight.
RankedTensorType globalTypeOf(WeightOp weight) {
  if (auto shape = weight.getGlobalShape())
    return RankedTensorType::get(*shape, weight.getType().getElementType());
  return weight.getType();
}

double flopsPerToken(Operation *op, int64_t ranks, int64_t tokens) {
  auto weightShare = [&](Value w) {
    auto weight = w.getDefiningOp<WeightOp>();
    if (!weight)
      return 0.0;
    RankedTensorType global = globalTypeOf(weight);
    ShardingAttr sharding = getResultSharding(weight, 0);
    return double(largestShare(sharding, global, 0, ranks)) *
           largestShare(sharding, global, 1, ranks);
  };
  if (auto linear = dyn_cast<LinearOp>(op))
    return 2 * weightShare(linear.getWeight());
  if (auto head = dyn_cast<LmHeadOp>(op))
    return 2 * weightShare(head.getWeight());
  if (auto grad = dyn_cast<LinearWeightGradOp>(op)) {
    // x^T dy: as many multiply-adds as the weight's (local) entries.
    auto local = cast<RankedTensorType>(grad.getResult().getType());
    return 2.0 * double(local.getNumElements());
  }
  if (auto grad = dyn_cast<AttentionGradOp>(op)) {
    // QK^T again, then dV, dP, dQ and dK: five products of attention's two.
    auto q = cast<RankedTensorType>(grad.getQ().getType());
    int64_t features = q.getDimSize(2);
    if (ShapedType::isDynamic(features))
      if (DenseI64ArrayAttr max = getMaxLocalShape(grad.getDq()))
        features = max[2];
    return ShapedType::isDynamic(features) ? 0.0
                                           : 5.0 * tokens * double(features);
  }
  if (auto attention = dyn_cast<AttentionOp>(op)) {
    // QK^T and PV over a causal half of a `tokens`-long sequence.
    ShardingAttr sharding = getResultSharding(op, 0);
    DimShardingAttr features =
        sharding ? sharding.getDims()[2] : DimShardingAttr();
    int64_t headDim = features && features.isSplit() ? features.getUnit() : 0;
    int64_t qFeatures =
        headDim
            ? headDim * attention.getNumHeads()
            : cast<RankedTensorType>(op->getResult(0).getType()).getDimSize(2);
    auto global = RankedTensorType::get({1, 1, qFeatures},
                                        Float32Type::get(op->getContext()));
    return 2.0 * tokens * largestShare(sharding, global, 2, ranks);
  }
  return 0;
}

std::string formatBytes(double bytes) {
  const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (bytes >= 1024 && unit < 4) {
    bytes /= 1024;
    ++unit;
  }
  return llvm::formatv("{0:f1} {1}", bytes, units[unit]).str();
}

constexpr const char *kKinds[] = {"tpc.all_reduce", "tpc.all_gather",
                                  "tpc.reduce_scatter", "tpc.all_slice"};
} // namespace

double PlanReport::commTime(const Link &link) const {
  double time = 0;
  for (const auto &[kind, stats] : total.collectives) {
    if (kind == "tpc.all_slice")
      continue; // Local: no communication.
    time += stats.count * link.latency +
            (stats.bytesPerToken * options.tokens + stats.staticBytes) /
                link.bandwidth;
  }
  return time;
}

std::pair<int64_t, int64_t> PlanReport::costedShape() const {
  return decode ? std::pair<int64_t, int64_t>{options.decodeBatch, 1}
                : std::pair<int64_t, int64_t>{1, options.tokens};
}

double PlanReport::activationPeak() const {
  auto [batch, seq] = costedShape();
  double peak = 0;
  for (const LiveBytes &p : activationPeaks)
    peak = std::max(peak, p.at(batch, seq));
  return peak;
}

double PlanReport::activationKept() const {
  auto [batch, seq] = costedShape();
  return activationsKept.at(batch, seq);
}

int64_t PlanReport::collectiveCount() const {
  int64_t count = 0;
  for (const auto &[kind, stats] : total.collectives)
    if (kind != "tpc.all_slice")
      count += stats.count;
  return count;
}

int64_t PlanReport::contextLength() const {
  return options.contextLength > 0 ? options.contextLength : maxPositions;
}

double PlanReport::decodeComputeTime() const {
  double batch = double(options.decodeBatch);
  double bytes = weightBytesMax + kvBytesPerPositionMax * batch *
                                      double(contextLength());
  return std::max(bytes / options.hbmBandwidth,
                  total.flopsPerToken * batch / options.peakFlops);
}

double PlanReport::decodeCommTime(const Link &link) const {
  double time = 0;
  for (const auto &[kind, stats] : total.collectives) {
    if (kind == "tpc.all_slice")
      continue;
    time += stats.count * link.latency +
            (stats.bytesPerToken * options.decodeBatch + stats.staticBytes) /
                link.bandwidth;
  }
  return time;
}

int64_t PlanReport::maxCachedTokens() const {
  double room = options.memoryPerRank - weightBytesMax;
  if (room <= 0 || kvBytesPerPositionMax <= 0)
    return 0;
  return int64_t(room / kvBytesPerPositionMax);
}

double PlanReport::computeTime() const {
  return total.flopsPerToken * options.tokens / options.peakFlops;
}

namespace {
/// The activation peaks of `func` as its executable has them: planned on a
/// copy of the module after tpc-fuse, as tpc-compile lowers it. Fused ops
/// drop intermediates: a training step's dense embedding and weight
/// gradients (154 MiB for GPT-2 small's table), a forward pass's
/// unactivated linear outputs.
SmallVector<LiveBytes> fusedPeaks(ModuleOp module, func::FuncOp func) {
  OwningOpRef<ModuleOp> copy(cast<ModuleOp>(module->clone()));
  PassManager pm(module.getContext());
  pm.addPass(createFuse());
  if (failed(pm.run(*copy)))
    return planMemory(func).peaks;
  return planMemory(copy->lookupSymbol<func::FuncOp>(func.getSymName()))
      .peaks;
}
} // namespace

FailureOr<PlanReport> mlir::tpc::buildPlanReport(ModuleOp module,
                                                 const ReportOptions &options) {
  func::FuncOp func;
  for (auto f : module.getOps<func::FuncOp>()) {
    if (!f->hasAttr(TpcDialect::getPartitionedAttrName()))
      continue;
    if (options.function.empty() ? !func || f.getSymName() == "forward"
                                 : f.getSymName() == options.function)
      func = f;
  }
  if (!func && !options.function.empty())
    return module.emitError() << "the plan report needs a partitioned "
                                 "function @"
                              << options.function;
  if (!func)
    return module.emitError() << "the plan report needs a partitioned "
                                 "function; run tpc-partition first";
  std::optional<int64_t> ranks = lookupTpSize(module);
  if (!ranks)
    return func.emitError() << "the plan report needs mesh @mesh[\"tp\"]";

  PlanReport report;
  report.function = func.getSymName().str();
  if (func.getNumArguments() > 0)
    if (auto ids = dyn_cast<RankedTensorType>(func.getArgument(0).getType()))
      report.decode = ids.getRank() == 2 && ids.getDimSize(1) == 1;
  if (auto max = func->getAttrOfType<IntegerAttr>(
          TpcDialect::getMaxPositionsAttrName()))
    report.maxPositions = max.getInt();
  // The element type the program computes in: its first weight's.
  double weightElementBytes = 4;
  func.walk([&](WeightOp weight) {
    if (report.elementType.empty()) {
      llvm::raw_string_ostream os(report.elementType);
      os << weight.getType().getElementType();
      weightElementBytes = elementBytes(weight.getType().getElementType());
    }
  });
  if (auto type =
          func->getAttrOfType<StringAttr>(TpcDialect::getModelTypeAttrName()))
    report.modelType = type.str();
  report.ranks = *ranks;
  report.options = options;

  std::vector<double> weightBytes(report.ranks, 0.0);
  std::vector<double> kvBytes(report.ranks, 0.0);
  func.walk([&](Operation *op) {
    if (auto cache = dyn_cast<KvCacheOp>(op)) {
      // Per position of one sequence: the features each rank holds.
      int64_t features = cache.getGlobalFeatures()
                             ? int64_t(*cache.getGlobalFeatures())
                             : cache.getType().getDimSize(2);
      double elementBytes =
          tpc::elementBytes(cache.getType().getElementType());
      report.kvBytesPerPositionGlobal += features * elementBytes;
      ShardingAttr sharding = getResultSharding(cache, 0);
      auto global = RankedTensorType::get(
          {1, 1, features}, cache.getType().getElementType());
      for (int64_t r = 0; r < report.ranks; ++r)
        kvBytes[r] += elementBytes *
                      (sharding && sharding.getDims()[2].isSplit()
                           ? split::localSize(
                                 dimSplit(sharding, global, 2, report.ranks), r)
                           : features);
      return;
    }
    if (auto weight = dyn_cast<WeightOp>(op)) {
      RankedTensorType global = globalTypeOf(weight);
      ShardingAttr sharding = getResultSharding(weight, 0);
      double elementBytes = tpc::elementBytes(global.getElementType());
      report.weightBytesGlobal += global.getNumElements() * elementBytes;
      for (int64_t r = 0; r < report.ranks; ++r) {
        double elements = 1;
        for (int64_t d = 0; d < global.getRank(); ++d) {
          if (!sharding || !sharding.getDims()[d].isSplit()) {
            elements *= global.getDimSize(d);
            continue;
          }
          elements *=
              split::localSize(dimSplit(sharding, global, d, report.ranks), r);
        }
        weightBytes[r] += elements * elementBytes;
      }
      return;
    }
    std::string block = blockOf(op);
    if (!report.blocks.count(block))
      report.blockOrder.push_back(block);
    report.blocks[block];
    StringRef kind = op->getName().getStringRef();
    if (isa<CrossEntropyOp>(op))
      report.training = true; // What follows is the backward pass.
    if (llvm::is_contained(kKinds, kind)) {
      auto bytes = op->getAttrOfType<IntegerAttr>("bytes_per_token");
      double value = bytes ? double(bytes.getInt()) : 0.0;
      bool perToken =
          !cast<RankedTensorType>(op->getResult(0).getType()).hasStaticShape();
      for (CollectiveStats *stats :
           {&report.blocks[block].collectives[kind.str()],
            &report.total.collectives[kind.str()],
            &(report.training ? report.backwardCollectives
                              : report.forwardCollectives)[kind.str()]}) {
        ++stats->count;
        (perToken ? stats->bytesPerToken : stats->staticBytes) += value;
      }
    }
    if (isa<ReduceGradientsOp>(op))
      ++report.gradientBuckets;
    if (auto accumulate = dyn_cast<AccumulateGradOp>(op);
        accumulate && accumulate.getPartial()) {
      auto type = cast<RankedTensorType>(accumulate.getGrad().getType());
      ++report.partialGradients;
      report.partialGradientBytes +=
          double(type.getNumElements()) * 4.0; // f32 gradient buffers
    }
    double flops = flopsPerToken(op, report.ranks, options.tokens);
    if (flops > 0) {
      report.blocks[block].flopsPerToken += flops;
      report.total.flopsPerToken += flops;
    }
    for (Value result : op->getResults())
      if (isActivation(result))
        report.activationsKept += activationBytes(result);
  });
  if (report.partialGradients > 0) {
    // The runtime's one all-reduce of every partial gradient.
    CostModel model;
    model.ranks = report.ranks;
    double sent = model.bytesPerRank(CollectiveKind::AllReduce,
                                     report.partialGradientBytes);
    for (CollectiveStats *stats :
         {&report.total.collectives["tpc.all_reduce"],
          &report.backwardCollectives["tpc.all_reduce"]}) {
      ++stats->count;
      stats->staticBytes += sent;
    }
  }
  llvm::append_range(report.activationPeaks, fusedPeaks(module, func));
  report.weightBytesMax =
      *std::max_element(weightBytes.begin(), weightBytes.end());
  if (report.training) {
    // Gradients and moments are f32 whatever the weights' type.
    report.gradientBytesMax =
        report.weightBytesMax * 4.0 / std::max(1.0, weightElementBytes);
    report.optimizerBytesMax = 2 * report.gradientBytesMax;
    if (options.zeroStage > 0 && options.dp > 1)
      report.optimizerBytesMax /= double(options.dp);
  }
  if (!report.training)
    report.forwardCollectives.clear();
  report.weightBytesMin =
      *std::min_element(weightBytes.begin(), weightBytes.end());
  report.kvBytesPerPositionMax =
      *std::max_element(kvBytes.begin(), kvBytes.end());
  report.kvBytesPerPositionMin =
      *std::min_element(kvBytes.begin(), kvBytes.end());
  for (double bytes : kvBytes)
    report.kvBytesPerPositionAllRanks += bytes;

  // Decode is latency-bound: a degree whose collectives' latency outweighs
  // what each rank reads per token makes decode slower, not faster.
  if (report.decode && report.ranks > 1) {
    const Link &fast = options.links.front();
    double latency = report.collectiveCount() * fast.latency;
    double reading = report.decodeComputeTime();
    if (latency > reading)
      report.warnings.push_back(llvm::formatv(
          "decode at tp = {0} is latency-bound: {1} collectives per token "
          "take {2:f1} us on {3} latency alone, more than the {4:f1} us each "
          "rank needs for its weights and KV cache; a smaller tp (or a "
          "larger batch) decodes faster",
          report.ranks, report.collectiveCount(), latency * 1e6, fast.name,
          reading * 1e6));
  }
  // Warnings: TP over a slow link, and models too narrow for their degree.
  if (report.ranks > 1 && !report.decode) {
    double compute = report.computeTime();
    for (const Link &link : options.links) {
      double comm = report.commTime(link);
      double share = comm / std::max(comm + compute, 1e-30);
      if (link.bandwidth < 100e9 && comm > compute)
        report.warnings.push_back(llvm::formatv(
            "over {0} the collectives ({1:f2} ms) would take longer than the "
            "compute ({2:f2} ms): keep tp = {3} on NVLink/NVSwitch",
            link.name, comm * 1e3, compute * 1e3, report.ranks));
      else if (link.bandwidth >= 100e9 && share > 0.5)
        report.warnings.push_back(llvm::formatv(
            "communication is {0:f0}% of the estimated forward time even over "
            "{1}: the model is narrow for tp = {2}; a smaller tp or a larger "
            "batch amortizes it",
            share * 100, link.name, report.ranks));
    }
  }
  return report;
}

/// The decode section: collectives and bytes per generated token, the KV
/// cache, what fits, and time per token over each link.
/// Compute, collectives and their total over each link, in ms, then the
/// report's warnings.
static void printTimeTable(const PlanReport &r, raw_ostream &os,
                           StringRef computeLabel, double compute,
                           llvm::function_ref<double(const Link &)> comm) {
  os << llvm::formatv("  {0,-14}", "");
  for (const Link &link : r.options.links)
    os << llvm::formatv(
        "{0,16}",
        link.name + llvm::formatv(" {0:f0} GB/s", link.bandwidth / 1e9).str());
  os << "\n";
  auto line = [&](StringRef label, auto value) {
    os << llvm::formatv("  {0,-14}", label);
    for (const Link &link : r.options.links)
      os << llvm::formatv("{0,13:f3} ms", value(link) * 1e3);
    os << "\n";
  };
  line(computeLabel, [&](const Link &) { return compute; });
  line("collectives", comm);
  line("total", [&](const Link &l) { return compute + comm(l); });
  if (!r.warnings.empty()) {
    os << "\nwarnings:\n";
    for (const std::string &w : r.warnings)
      os << "  - " << w << "\n";
  }
}

static void printDecodeEstimates(const PlanReport &r, raw_ostream &os) {
  double bytesPerToken = 0;
  for (const auto &[kind, stats] : r.total.collectives)
    if (kind != "tpc.all_slice")
      bytesPerToken += stats.bytesPerToken;
  int64_t context = r.contextLength();
  os << "\ndecode, per generated token (one per sequence):\n";
  os << llvm::formatv("  collectives:         {0} per token, {1} sent per "
                      "sequence per rank\n",
                      r.collectiveCount(), formatBytes(bytesPerToken));
  os << "  KV cache per rank:   " << formatBytes(r.kvBytesPerPositionMax)
     << " per token of context (largest rank; "
     << formatBytes(r.kvBytesPerPositionGlobal)
     << " for the whole model), "
     << formatBytes(r.kvBytesPerPositionMax * double(context))
     << " per sequence at " << context << " positions\n";
  if (r.kvBytesPerPositionAllRanks > r.kvBytesPerPositionGlobal * 1.0001)
    os << "  shared KV heads:     the ranks hold "
       << formatBytes(r.kvBytesPerPositionAllRanks)
       << " per token together: a KV head is held by every rank whose query "
          "heads use it\n";
  int64_t fits = r.maxCachedTokens();
  os << "  fits in " << formatBytes(r.options.memoryPerRank)
     << " per rank:  " << fits << " cached tokens (batch x context) beside "
     << formatBytes(r.weightBytesMax) << " of weights; "
     << (context > 0 ? fits / context : 0) << " sequences of " << context
     << " positions\n";
  os << "\nestimated time per output token at batch " << r.options.decodeBatch
     << ", " << context << " cached positions:\n";
  printTimeTable(r, os, "memory/compute", r.decodeComputeTime(),
                 [&](const Link &l) { return r.decodeCommTime(l); });
}

double PlanReport::dpGradientBytesSent() const {
  int64_t dp = options.dp;
  return dp > 1 ? 2.0 * double(dp - 1) / double(dp) * gradientBytesMax : 0.0;
}

namespace {
/// "5 all_reduce, 2 all_gather" (communicating kinds only), or "none".
std::string describeCollectives(
    const std::map<std::string, CollectiveStats> &collectives) {
  std::string out;
  for (const char *kind : kKinds) {
    auto it = collectives.find(kind);
    if (it == collectives.end() || it->second.count == 0 ||
        StringRef(kind) == "tpc.all_slice")
      continue;
    out += (out.empty() ? "" : ", ") + std::to_string(it->second.count) + " " +
           StringRef(kind).drop_front(4).str();
  }
  return out.empty() ? "none" : out;
}

/// The gradient reduction over dp: buckets started in the backward pass
/// (tpc.reduce_gradients), all-reduced or, with ZeRO, reduce-scattered
/// and followed by an all-gather of the updated weights.
std::string describeDpCollectives(const PlanReport &r) {
  if (r.options.dp <= 1)
    return "none (dp = 1)";
  bool zero1 = r.options.zeroStage > 0;
  std::string reduction = zero1 ? "reduce_scatter" : "all_reduce";
  std::string out =
      r.gradientBuckets > 0
          ? std::to_string(r.gradientBuckets) + " " + reduction +
                " of gradient buckets per step, each started in the "
                "backward pass once its gradients are complete"
          : "1 " + reduction + " of every gradient per step";
  // A reduce-scatter keeps only the replica's part: gradients that tp
  // sums after the backward pass are reduce-scattered after that.
  if (zero1 && r.gradientBuckets > 0 && r.partialGradients > 0)
    out += " (the " + std::to_string(r.partialGradients) +
           " partial gradients in 1 more after the tp all_reduce)";
  // The updated weights come back by the same buckets, gathered during
  // the next forward pass in the order it reads them.
  int64_t gathers = r.gradientBuckets > 0
                        ? r.gradientBuckets + (r.partialGradients > 0)
                        : 1;
  if (zero1)
    out += "; " + std::to_string(gathers) +
           " all_gather of the updated weights" +
           (r.gradientBuckets > 0
                ? ", a bucket each, during the next forward pass in the "
                  "order it reads them"
                : "") +
           " (ZeRO-" + std::to_string(r.options.zeroStage);
  out += std::string(zero1 ? "; " : " (") + formatBytes(r.gradientBytesMax) +
         " per rank, " + formatBytes(r.dpGradientBytesSent()) +
         " sent by each)";
  return out;
}

void printTrainingSection(const PlanReport &r, raw_ostream &os) {
  os << "\ntraining step (dp = " << r.options.dp << " x tp = " << r.ranks
     << "):\n";
  os << "  tp collectives:     forward "
     << describeCollectives(r.forwardCollectives) << "; backward "
     << describeCollectives(r.backwardCollectives);
  if (r.partialGradients > 0)
    os << " (one all_reduce sums " << r.partialGradients
       << " partial gradients together, " << formatBytes(r.partialGradientBytes)
       << ", after the backward pass)";
  os << "\n";
  os << "  dp collectives:     " << describeDpCollectives(r) << "\n";
  bool sharded = r.options.zeroStage > 0 && r.options.dp > 1;
  os << "  memory per rank:    weights " << formatBytes(r.weightBytesMax)
     << ", gradients " << formatBytes(r.gradientBytesMax)
     << (r.options.zeroStage == 2 && sharded
             ? " (f32 while the backward pass fills them; each bucket's "
               "freed once reduce-scattered, " +
                   formatBytes(r.gradientBytesMax / r.options.dp) +
                   " kept (1/dp of them)), "
             : std::string(" (f32), "))
     << (r.gradientBytesMax > r.weightBytesMax * 1.5
             ? "f32 master weights " +
                   (sharded
                        ? formatBytes(r.gradientBytesMax / r.options.dp) +
                              " (1/dp of them)"
                        : formatBytes(r.gradientBytesMax)) +
                   ", "
             : std::string())
     << "AdamW moments " << formatBytes(r.optimizerBytesMax)
     << (sharded ? " (f32, 1/dp of them)" : " (f32)")
     << ", activations kept for the backward pass: peak "
     << formatBytes(r.activationPeak()) << " at " << r.options.tokens
     << " tokens\n";
}
} // namespace

void mlir::tpc::printPlanReportText(const PlanReport &r, raw_ostream &os) {
  os << "tpc plan report: @" << r.function
     << (r.modelType.empty() ? "" : " (" + r.modelType + ")")
     << ", tp = " << r.ranks;
  if (r.decode)
    os << ", one token per sequence (decode)\n";
  else
    os << ", costed at " << r.options.tokens << " tokens per pass\n";
  if (!r.elementType.empty())
    os << "element type:         " << r.elementType
       << " (weights and activations)\n";
  os << "weights per rank:     " << formatBytes(r.weightBytesMax)
     << " (largest rank), " << formatBytes(r.weightBytesMin)
     << " (smallest), of " << formatBytes(r.weightBytesGlobal) << "\n";
  os << "activation peak:      " << formatBytes(r.activationPeak())
     << " per rank at "
     << (r.decode ? std::to_string(r.options.decodeBatch) + " x 1"
                  : std::to_string(r.options.tokens))
     << " tokens (each buffer freed after its last use)\n";
  os << "                      (" << formatBytes(r.activationKept())
     << " if every intermediate were kept)\n";
  os << "compute per rank:     "
     << llvm::formatv("{0:f2} MFLOP per token", r.total.flopsPerToken / 1e6)
     << "\n\n";

  os << llvm::formatv("{0,-28}{1,11}{2,11}{3,15}{4,10}{5,18}{6,14}\n", "block",
                      "all_reduce", "all_gather", "reduce_scatter", "all_slice",
                      "bytes/token/rank", "MFLOP/token");
  auto row = [&](StringRef name, const BlockReport &b) {
    auto count = [&](const char *kind) {
      auto it = b.collectives.find(kind);
      return it == b.collectives.end() ? int64_t(0) : it->second.count;
    };
    double bytes = 0;
    for (const auto &[kind, stats] : b.collectives)
      bytes += stats.bytesPerToken;
    os << llvm::formatv("{0,-28}{1,11}{2,11}{3,15}{4,10}{5,18}{6,14:f2}\n",
                        name, count(kKinds[0]), count(kKinds[1]),
                        count(kKinds[2]), count(kKinds[3]),
                        static_cast<int64_t>(bytes), b.flopsPerToken / 1e6);
  };
  for (const std::string &name : r.blockOrder)
    row(name, r.blocks.at(name));
  row("total", r.total);

  if (r.decode) {
    printDecodeEstimates(r, os);
    return;
  }
  if (r.training)
    printTrainingSection(r, os);
  os << "\nestimated " << (r.training ? "step" : "forward") << " time at "
     << r.options.tokens << " tokens:\n";
  printTimeTable(r, os, "compute", r.computeTime(),
                 [&](const Link &l) { return r.commTime(l); });
}

void mlir::tpc::printPlanReportJson(const PlanReport &r, raw_ostream &os) {
  llvm::json::OStream j(os, 2);
  auto collectives = [&](const BlockReport &b) {
    j.attributeObject("collectives", [&] {
      for (const auto &[kind, stats] : b.collectives)
        j.attributeObject(StringRef(kind).drop_front(4), [&] {
          j.attribute("count", stats.count);
          j.attribute("bytes_per_token_per_rank", stats.bytesPerToken);
          j.attribute("static_bytes_per_rank", stats.staticBytes);
        });
    });
    j.attribute("flops_per_token_per_rank", b.flopsPerToken);
  };
  j.object([&] {
    j.attribute("function", r.function);
    j.attribute("model_type", r.modelType);
    j.attribute("tp", r.ranks);
    j.attribute("tokens", r.options.tokens);
    if (r.training)
      j.attributeObject("training", [&] {
        j.attribute("dp", r.options.dp);
        for (auto [name, collectives] :
             {std::pair{"forward", &r.forwardCollectives},
              {"backward", &r.backwardCollectives}})
          j.attributeObject(name, [&] {
            for (const auto &[kind, stats] : *collectives)
              j.attribute(StringRef(kind).drop_front(4), stats.count);
          });
        j.attribute("gradient_bytes_per_rank", r.gradientBytesMax);
        j.attribute("optimizer_bytes_per_rank", r.optimizerBytesMax);
        j.attribute("dp_gradient_bytes_sent_per_rank", r.dpGradientBytesSent());
        j.attribute("dp_gradient_buckets", r.gradientBuckets);
      });
    j.attribute("element_type", r.elementType);
    j.attributeObject("weight_bytes_per_rank", [&] {
      j.attribute("max", r.weightBytesMax);
      j.attribute("min", r.weightBytesMin);
      j.attribute("global", r.weightBytesGlobal);
    });
    j.attribute("activation_bytes_per_token_per_rank",
                r.activationsKept.perToken);
    j.attribute("activation_kept_bytes_per_rank", r.activationKept());
    j.attribute("activation_peak_bytes_per_rank", r.activationPeak());
    j.attributeObject("total", [&] { collectives(r.total); });
    j.attributeArray("blocks", [&] {
      for (const std::string &name : r.blockOrder)
        j.object([&] {
          j.attribute("block", name);
          collectives(r.blocks.at(name));
        });
    });
    j.attributeArray("estimates", [&] {
      for (const Link &link : r.options.links)
        j.object([&] {
          j.attribute("link", link.name);
          j.attribute("bandwidth_bytes_per_s", link.bandwidth);
          j.attribute("latency_s", link.latency);
          j.attribute("compute_s", r.computeTime());
          j.attribute("collectives_s", r.commTime(link));
          j.attribute("total_s", r.computeTime() + r.commTime(link));
        });
    });
    if (r.decode)
      j.attributeObject("decode", [&] {
        double bytesPerToken = 0;
        for (const auto &[kind, stats] : r.total.collectives)
          if (kind != "tpc.all_slice")
            bytesPerToken += stats.bytesPerToken;
        j.attribute("batch", r.options.decodeBatch);
        j.attribute("context_length", r.contextLength());
        j.attribute("collectives_per_token", r.collectiveCount());
        j.attribute("bytes_per_token_per_rank", bytesPerToken);
        j.attribute("kv_bytes_per_position_per_rank_max",
                    r.kvBytesPerPositionMax);
        j.attribute("kv_bytes_per_position_per_rank_min",
                    r.kvBytesPerPositionMin);
        j.attribute("kv_bytes_per_position_global", r.kvBytesPerPositionGlobal);
        j.attribute("kv_bytes_per_position_all_ranks",
                    r.kvBytesPerPositionAllRanks);
        j.attribute("memory_per_rank", r.options.memoryPerRank);
        j.attribute("max_cached_tokens", r.maxCachedTokens());
        j.attributeArray("time_per_token", [&] {
          for (const Link &link : r.options.links)
            j.object([&] {
              j.attribute("link", link.name);
              j.attribute("memory_compute_s", r.decodeComputeTime());
              j.attribute("collectives_s", r.decodeCommTime(link));
              j.attribute("total_s",
                          r.decodeComputeTime() + r.decodeCommTime(link));
            });
        });
      });
    j.attributeArray("warnings", [&] {
      for (const std::string &w : r.warnings)
        j.value(w);
    });
  });
  os << "\n";
}

namespace {
struct CommReportPass : public mlir::tpc::impl::CommReportBase<CommReportPass> {
  using CommReportBase::CommReportBase;

  void runOnOperation() override {
    ReportOptions options;
    options.tokens = tokens;
    FailureOr<PlanReport> report = buildPlanReport(getOperation(), options);
    if (failed(report))
      return signalPassFailure();
    std::string error;
    auto file = openOutputFile(output, &error);
    if (!file) {
      getOperation().emitError()
          << "cannot write the report to " << output << ": " << error;
      return signalPassFailure();
    }
    if (format == "json")
      printPlanReportJson(*report, file->os());
    else
      printPlanReportText(*report, file->os());
    file->keep();
    markAllAnalysesPreserved();
  }
};
} // namespace
