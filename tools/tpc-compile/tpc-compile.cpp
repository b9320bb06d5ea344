//===- tpc-compile.cpp - model description to tensor-parallel program -----===//
//
//   tpc-compile MODEL [--tp N] [--weights PATH] [--num-layers K]
//               [--dtype f32|bf16|f16]
//               [--emit=tpc|sharded|partitioned|report|cpp] [-o FILE]
//
// MODEL is a Hugging Face config.json, a directory holding one, or a .mlir
// file in the tpc dialect. Every problem is reported as one line naming the
// file and what was expected, with exit code 1.
//
//===----------------------------------------------------------------------===//
#include "compiler/ModelConfig.h"
#include "compiler/ModelImporter.h"
#include "compiler/WeightCheck.h"
#include "dialects/tpc/TpcDialect.h"
#include "passes/CommReport.h"
#include "passes/Passes.h"
#include "passes/Strategy.h"

#include "dialects/tpc/TpcOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/TypeUtilities.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Target/Cpp/CppEmitter.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/WithColor.h"

#include <sstream>

using namespace mlir;
using namespace mlir::tpc;
namespace cl = llvm::cl;

namespace {
enum class EmitKind { Tpc, Sharded, Partitioned, Report, Cpp, Exe };
enum class ReportFormat { Text, Json };
enum class DTypeOption { F32, BF16, F16 };

cl::OptionCategory category("tpc-compile options");
cl::opt<std::string> modelPath(cl::Positional, cl::Required,
                               cl::desc("<config.json | model dir | .mlir>"),
                               cl::cat(category));
cl::opt<std::string> outputPath("o", cl::desc("Output file (default: stdout)"),
                                cl::value_desc("file"), cl::init("-"),
                                cl::cat(category));
cl::opt<EmitKind> emit(
    "emit", cl::desc("Stop after this stage and print its result"),
    cl::values(clEnumValN(EmitKind::Tpc, "tpc",
                          "the imported graph in the tpc dialect"),
               clEnumValN(EmitKind::Sharded, "sharded",
                          "the graph with a layout chosen for every value"),
               clEnumValN(EmitKind::Partitioned, "partitioned",
                          "the per-rank program with explicit collectives"),
               clEnumValN(EmitKind::Report, "report",
                          "what the plan costs: collectives, bytes, FLOPs, "
                          "time estimates"),
               clEnumValN(EmitKind::Cpp, "cpp",
                          "the per-rank program as C++ calling the runtime"),
               clEnumValN(EmitKind::Exe, "exe",
                          "an executable running the program (default)")),
    cl::init(EmitKind::Exe), cl::cat(category));
cl::opt<bool> saveTemps(
    "save-temps",
    cl::desc("Keep the intermediates beside the executable: OUT.tpc.mlir "
             "(imported), OUT.partitioned.mlir, OUT.report.txt, OUT.cpp and "
             "OUT.tp1.cpp (the tp = 1 programs --verify runs; none at tp = "
             "1, where the programs are their own reference)"),
    cl::init(false), cl::cat(category));
cl::opt<ReportFormat> reportFormat(
    "report-format", cl::desc("Format of --emit=report"),
    cl::values(clEnumValN(ReportFormat::Text, "text", "a table (default)"),
               clEnumValN(ReportFormat::Json, "json", "JSON")),
    cl::init(ReportFormat::Text), cl::cat(category));
cl::opt<bool> sequenceParallel(
    "sequence-parallel",
    cl::desc("Run norms and residual adds on sequence shards: each "
             "all-reduce becomes a reduce-scatter and an all-gather"),
    cl::init(false), cl::cat(category));
cl::opt<bool> train(
    "train",
    cl::desc("Compile a training step (forward, next-token cross-entropy, "
             "the backward pass derived by tpc-derive-training): the "
             "executable trains with --data FILE --steps N"),
    cl::init(false), cl::cat(category));
cl::opt<bool> recompute(
    "recompute",
    cl::desc("With --train: recompute each layer's forward activations in "
             "its backward pass instead of keeping them (Megatron-LM's full "
             "activation recomputation): less memory, one more forward "
             "pass of compute"),
    cl::init(false), cl::cat(category));
enum class ProgramKind { Forward, Prefill, Decode, Train, All };
cl::opt<ProgramKind> program(
    "program", cl::desc("Which program the --emit stages show"),
    cl::values(
        clEnumValN(ProgramKind::Forward, "forward",
                   "the forward pass over whole sequences (default)"),
        clEnumValN(ProgramKind::Prefill, "prefill",
                   "generation: the prompt's pass, filling the KV caches"),
        clEnumValN(ProgramKind::Decode, "decode",
                   "generation: one new token per sequence against the KV "
                   "caches"),
        clEnumValN(ProgramKind::Train, "train",
                   "training: forward, loss and backward (with --train)"),
        clEnumValN(ProgramKind::All, "all", "every program")),
    cl::init(ProgramKind::Forward), cl::cat(category));
cl::opt<std::string>
    cppSuffix("cpp-suffix",
              cl::desc("Appended to the names of the C++ functions "
                       "--emit=cpp defines (forward, prefill, decode)"),
              cl::value_desc("suffix"), cl::init(""), cl::cat(category));
cl::opt<int64_t> reportTokens(
    "tokens",
    cl::desc("Tokens of the forward pass the plan report costs (time, "
             "activation peak; default 4096)"),
    cl::value_desc("N"), cl::init(4096), cl::cat(category));
cl::opt<int64_t> tp("tp", cl::desc("Tensor-parallel degree (default 1)"),
                    cl::value_desc("N"), cl::init(1), cl::cat(category));
cl::opt<int64_t> dp(
    "dp",
    cl::desc("Data-parallel degree of a training program (default 1): dp "
             "replicas of the tp ranks, each on its part of the batch, "
             "gradients reduced over dp"),
    cl::value_desc("D"), cl::init(1), cl::cat(category));
cl::opt<bool> zero1(
    "zero1",
    cl::desc("With --dp: shard the optimizer state over the dp replicas "
             "(ZeRO-1): gradients reduce-scattered, each replica updates "
             "its part, weights all-gathered"),
    cl::init(false), cl::cat(category));
cl::opt<bool> zero2(
    "zero2",
    cl::desc("With --dp: ZeRO-1, and each gradient bucket's buffers freed "
             "once it is reduce-scattered (ZeRO-2): a replica keeps only "
             "its part of the summed gradients"),
    cl::init(false), cl::cat(category));
cl::opt<double> dpBucketMib(
    "dp-bucket-mib",
    cl::desc("With --dp: f32 gradient bytes per rank summed over dp in one "
             "all-reduce, started during the backward pass as soon as the "
             "bucket's gradients are complete (default 25, as PyTorch DDP)"),
    cl::value_desc("MiB"), cl::init(25.0), cl::cat(category));
cl::opt<std::string> weightsPath(
    "weights",
    cl::desc("Check the graph against this safetensors file or directory"),
    cl::value_desc("path"), cl::cat(category));
cl::opt<int64_t>
    numLayers("num-layers",
              cl::desc("Build this many blocks instead of the config's"),
              cl::value_desc("K"), cl::init(0), cl::cat(category));
cl::opt<int64_t> decodeBatch(
    "decode-batch",
    cl::desc("Sequences decoding together, for the decode report's time per "
             "token (default 1)"),
    cl::value_desc("B"), cl::init(1), cl::cat(category));
cl::opt<int64_t> contextLength(
    "max-seq",
    cl::desc("Positions each sequence caches, for the decode report "
             "(default: the model's maximum)"),
    cl::value_desc("N"), cl::init(0), cl::cat(category));
cl::opt<std::string> memoryPerRank(
    "memory-per-rank",
    cl::desc("Device memory of one rank, for what the decode report says "
             "fits (default 80GiB)"),
    cl::value_desc("size"), cl::init("80GiB"), cl::cat(category));
cl::opt<DTypeOption> dtype(
    "dtype",
    cl::desc("Element type of weights and activations (default: the "
             "checkpoint's, as config.json's torch_dtype or dtype says)"),
    cl::values(clEnumValN(DTypeOption::F32, "f32", "32-bit float (default)"),
               clEnumValN(DTypeOption::BF16, "bf16", "bfloat16"),
               clEnumValN(DTypeOption::F16, "f16", "16-bit float")),
    cl::init(DTypeOption::F32), cl::cat(category));

int fail(const llvm::Twine &message) {
  llvm::WithColor::error(llvm::errs(), "tpc-compile") << message << "\n";
  return 1;
}

/// "80GiB", "512MB", "1e9": bytes, or nullopt.
std::optional<double> parseSize(StringRef text) {
  StringRef number = text.take_while(
      [](char c) { return llvm::isDigit(c) || c == '.' || c == 'e'; });
  StringRef unit = text.drop_front(number.size()).trim();
  double value;
  if (number.empty() || number.getAsDouble(value) || !(value > 0))
    return std::nullopt;
  static const std::pair<StringRef, double> units[] = {
      {"", 1},         {"B", 1},        {"KB", 1e3},     {"MB", 1e6},
      {"GB", 1e9},     {"TB", 1e12},    {"KiB", 1024.0}, {"MiB", 1048576.0},
      {"GiB", 1073741824.0}, {"TiB", 1099511627776.0}};
  for (auto [name, scale] : units)
    if (unit == name)
      return value * scale;
  return std::nullopt;
}

/// ZeRO's stage: 0 (none), 1 (--zero1), 2 (--zero2).
int zeroStage() { return zero2 ? 2 : zero1 ? 1 : 0; }

/// The report's options from the command line.
ReportOptions reportOptions() {
  ReportOptions options;
  options.tokens = reportTokens;
  options.decodeBatch = decodeBatch;
  options.contextLength = contextLength;
  options.memoryPerRank = *parseSize(memoryPerRank);
  options.dp = dp;
  options.zeroStage = zeroStage();
  return options;
}

/// The tensor-parallel pipeline at `degree`.
LogicalResult plan(ModuleOp module, int64_t degree, bool partition) {
  PassManager pm(module.getContext());
  TpPipelineOptions options;
  options.tp = degree;
  options.sequenceParallel = sequenceParallel && degree > 1;
  options.partition = partition;
  options.bucketMib = dpBucketMib;
  buildTpPipeline(pm, options);
  return pm.run(module);
}

/// The partitioned program as calls into the runtime, its functions named
/// with `suffix` appended.
LogicalResult lower(ModuleOp module, StringRef suffix) {
  PassManager pm(module.getContext());
  LowerToEmitCOptions lowering;
  lowering.nameSuffix = suffix.str();
  pm.addPass(createFuse());
  pm.addPass(createPlanMemory());
  pm.addPass(createLowerToEmitC(lowering));
  return pm.run(module);
}

/// True when the module's @forward has an attention to cache, so that the
/// generation programs can be derived from it.
bool canGenerate(ModuleOp module) {
  auto forward = module.lookupSymbol<func::FuncOp>(kForwardFuncName);
  return forward && !forward.getOps<AttentionOp>().empty();
}

/// Adds @prefill and @decode (tpc-derive-generation).
LogicalResult deriveGeneration(ModuleOp module) {
  PassManager pm(module.getContext());
  pm.addPass(createDeriveGeneration());
  return pm.run(module);
}

/// Adds @train_step (tpc-derive-training).
LogicalResult deriveTraining(ModuleOp module) {
  PassManager pm(module.getContext());
  DeriveTrainingOptions options;
  options.recompute = recompute;
  pm.addPass(createDeriveTraining(options));
  return pm.run(module);
}

/// Erases every function but the one --program selects.
void keepSelectedProgram(ModuleOp module) {
  // Without derivation the module is what was given: a hand-written file
  // keeps its functions.
  if (program == ProgramKind::All || program == ProgramKind::Forward)
    return;
  StringRef keep = program == ProgramKind::Forward   ? kForwardFuncName
                   : program == ProgramKind::Prefill ? kPrefillFuncName
                   : program == ProgramKind::Train   ? kTrainStepFuncName
                                                     : kDecodeFuncName;
  for (auto func :
       llvm::make_early_inc_range(module.getOps<func::FuncOp>()))
    if (func.getSymName() != keep)
      func.erase();
}

/// What the executable's driver needs to know about the programs it runs.
struct ProgramFacts {
  int64_t vocab = 0, maxPositions = 0;
  /// Collectives of one forward pass and of one decode step.
  int64_t collectives = 0, decodeCollectives = 0;
  int64_t weightBytesPerRank = 0;
  /// KV-cache bytes the largest rank holds per position of one sequence.
  int64_t kvBytesPerPosition = 0;
  /// The layout of the logits prefill and decode return (C++ literal).
  std::string logitsLayout = "tpc::program::Layout{}";
  std::vector<int64_t> eosTokenIds;
  /// tokenizer.json beside the model, or "".
  std::string tokenizer;
  /// The element type of weights and activations: "f32", "bf16", "f16".
  std::string dtype = "f32";
  /// The planned activation peaks of forward and decode (MemoryPlan).
  std::vector<LiveBytes> forwardPeaks, decodePeaks;
  /// Collectives of one training step, and its planned activation peaks.
  int64_t trainCollectives = 0;
  std::vector<LiveBytes> trainPeaks;
};

/// The facts as extern const globals of the generated C++.
void addProgramFacts(ModuleOp module, const ProgramFacts &facts) {
  MLIRContext *ctx = module.getContext();
  OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
  auto global = [&](StringRef name, Type type, Attribute value) {
    emitc::GlobalOp::create(b, module.getLoc(), name, type, value,
                            /*extern_specifier=*/true,
                            /*static_specifier=*/false,
                            /*const_specifier=*/true);
  };
  auto i64 = [&](StringRef name, int64_t v) {
    global(name, b.getI64Type(), b.getI64IntegerAttr(v));
  };
  auto string = [&](StringRef name, StringRef value) {
    std::string literal;
    llvm::raw_string_ostream os(literal);
    os << '"';
    llvm::printEscapedString(value, os);
    os << '"';
    global(name, emitc::OpaqueType::get(ctx, "char *const"),
           emitc::OpaqueAttr::get(ctx, literal));
  };
  i64("tpc_program_tp", tp);
  i64("tpc_program_dp", dp);
  i64("tpc_program_zero_stage", zeroStage());
  i64("tpc_program_vocab", facts.vocab);
  i64("tpc_program_max_positions", facts.maxPositions);
  i64("tpc_program_collectives", facts.collectives);
  i64("tpc_program_decode_collectives", facts.decodeCollectives);
  i64("tpc_program_train_collectives", facts.trainCollectives);
  i64("tpc_program_weight_bytes_per_rank", facts.weightBytesPerRank);
  i64("tpc_program_kv_bytes_per_position", facts.kvBytesPerPosition);
  global("tpc_program_logits_layout",
         emitc::OpaqueType::get(ctx, "tpc::program::Layout"),
         emitc::OpaqueAttr::get(ctx, facts.logitsLayout));
  // C++ has no empty arrays: a count says how many entries are real.
  auto array = [&](StringRef name, std::vector<int64_t> values) {
    i64((name + "_count").str(), int64_t(values.size()));
    if (values.empty())
      values.push_back(-1);
    auto type = emitc::ArrayType::get({int64_t(values.size())}, b.getI64Type());
    global(name, type,
           DenseIntElementsAttr::get(
               RankedTensorType::get({int64_t(values.size())}, b.getI64Type()),
               ArrayRef<int64_t>(values)));
  };
  array("tpc_program_eos_ids", facts.eosTokenIds);
  auto peaks = [](const std::vector<LiveBytes> &live) {
    std::vector<int64_t> flat;
    for (const LiveBytes &p : live)
      llvm::append_range(flat, std::initializer_list<int64_t>{
                                   std::llround(p.fixed),
                                   std::llround(p.perSequence),
                                   std::llround(p.perToken)});
    return flat;
  };
  array("tpc_program_forward_activation_peaks", peaks(facts.forwardPeaks));
  array("tpc_program_decode_activation_peaks", peaks(facts.decodePeaks));
  array("tpc_program_train_activation_peaks", peaks(facts.trainPeaks));
  std::string model =
      llvm::sys::path::filename(StringRef(modelPath).ends_with("config.json")
                                    ? llvm::sys::path::parent_path(modelPath)
                                    : StringRef(modelPath))
          .str();
  string("tpc_program_model", model);
  string("tpc_program_dtype", facts.dtype);
  string("tpc_program_tokenizer", facts.tokenizer);
}

/// tokenizer.json beside the model's config, as an absolute path, or "".
std::string defaultTokenizer() {
  SmallString<256> dir(modelPath);
  if (StringRef(modelPath).ends_with(".mlir"))
    return "";
  if (!llvm::sys::fs::is_directory(dir))
    dir = llvm::sys::path::parent_path(modelPath);
  SmallString<256> file(dir);
  llvm::sys::path::append(file, "tokenizer.json");
  if (!llvm::sys::fs::exists(file) || llvm::sys::fs::make_absolute(file))
    return "";
  return std::string(file);
}

/// One flag per line of `path`, a file the build that made tpc-compile
/// wrote; nullopt (said) when it cannot be read.
std::optional<SmallVector<std::string>> readFlags(StringRef path) {
  auto text = llvm::MemoryBuffer::getFile(path);
  if (!text) {
    fail(path + ": cannot read the runtime's build flags: " +
         text.getError().message());
    return std::nullopt;
  }
  SmallVector<StringRef> lines;
  (*text)->getBuffer().split(lines, '\n', -1, /*KeepEmpty=*/false);
  SmallVector<std::string> flags;
  for (StringRef line : lines)
    if (!line.trim().empty())
      flags.push_back(line.trim().str());
  return flags;
}

/// Compiles the C++ files `sources` (each on its own core: they are
/// independent programs) and links them with the runtime into the
/// executable `exePath`, as the build that made tpc-compile configured it.
int compileExecutable(ArrayRef<std::string> sources, StringRef exePath) {
  std::optional<SmallVector<std::string>> compileFlags =
      readFlags(TPC_PROGRAM_COMPILE_FLAGS);
  std::optional<SmallVector<std::string>> linkFlags =
      readFlags(TPC_PROGRAM_LINK_FLAGS);
  if (!compileFlags || !linkFlags)
    return 1;
  // The compiler that built the runtime (its first line): the same ABI and
  // the one its precompiled header is for.
  if (compileFlags->empty())
    return fail(Twine(TPC_PROGRAM_COMPILE_FLAGS) + ": names no compiler");
  std::string compiler = compileFlags->front();
  compileFlags->erase(compileFlags->begin());
  auto run = [&](ArrayRef<std::string> args) {
    SmallVector<StringRef> refs = {compiler};
    refs.append(args.begin(), args.end());
    std::string error;
    bool failed = false;
    llvm::sys::ProcessInfo process = llvm::sys::ExecuteNoWait(
        compiler, refs, std::nullopt, {}, 0, &error, &failed);
    return failed ? std::optional<llvm::sys::ProcessInfo>() : process;
  };
  SmallVector<std::string> objects;
  SmallVector<std::pair<llvm::sys::ProcessInfo, std::string>> jobs;
  auto cleanUp = llvm::make_scope_exit([&] {
    for (const std::string &object : objects)
      llvm::sys::fs::remove(object);
  });
  for (const std::string &source : sources) {
    SmallString<256> object;
    if (std::error_code ec = llvm::sys::fs::createTemporaryFile(
            "tpc-program", "o", object))
      return fail("cannot create a temporary file: " + ec.message());
    objects.push_back(std::string(object));
    SmallVector<std::string> args(*compileFlags);
    args.append({"-c", source, "-o", std::string(object)});
    std::optional<llvm::sys::ProcessInfo> job = run(args);
    if (!job)
      return fail("cannot start the host compiler " + compiler);
    jobs.push_back({*job, source});
  }
  bool compiled = true;
  for (auto &[job, source] : jobs) {
    std::string error;
    llvm::sys::ProcessInfo done =
        llvm::sys::Wait(job, /*SecondsToWait=*/std::nullopt, &error);
    if (done.ReturnCode != 0) {
      fail("the host compiler failed on " + source + " (exit " +
           Twine(done.ReturnCode) + ")" + (error.empty() ? "" : ": " + error));
      compiled = false;
    }
  }
  if (!compiled)
    return 1;
  SmallVector<std::string> args(objects.begin(), objects.end());
  args.append({"-o", exePath.str()});
  args.append(linkFlags->begin(), linkFlags->end());
  std::optional<llvm::sys::ProcessInfo> link = run(args);
  if (!link)
    return fail("cannot start the host compiler " + compiler);
  std::string error;
  llvm::sys::ProcessInfo done = llvm::sys::Wait(*link, std::nullopt, &error);
  if (done.ReturnCode != 0)
    return fail("linking " + exePath + " failed (exit " +
                Twine(done.ReturnCode) + ")" +
                (error.empty() ? "" : ": " + error));
  return 0;
}

/// The element type: --dtype, else the checkpoint's as the config states
/// it (torch_dtype / dtype), else f32.
FloatType elementType(MLIRContext &context, const ModelConfig &config) {
  DTypeOption chosen = dtype;
  if (!dtype.getNumOccurrences() && config.checkpointDtype) {
    if (*config.checkpointDtype == "bfloat16")
      chosen = DTypeOption::BF16;
    else if (*config.checkpointDtype == "float16")
      chosen = DTypeOption::F16;
  }
  switch (chosen) {
  case DTypeOption::F32:
    return Float32Type::get(&context);
  case DTypeOption::BF16:
    return BFloat16Type::get(&context);
  case DTypeOption::F16:
    return Float16Type::get(&context);
  }
  llvm_unreachable("unknown dtype");
}
/// With --save-temps, writes `print`'s output to the executable's path
/// plus `suffix`; false (said) when the file cannot be written.
bool saveTemp(StringRef suffix,
              llvm::function_ref<void(llvm::raw_ostream &)> print) {
  if (!saveTemps)
    return true;
  std::string path = outputPath + suffix.str(), error;
  auto file = openOutputFile(path, &error);
  if (!file) {
    fail(path + ": " + error);
    return false;
  }
  print(file->os());
  file->keep();
  return true;
}

/// Plans the model at tp = N and at tp = 1 (for --verify), prints both as
/// one C++ file with the program's facts, and compiles it with the runtime.
int emitExecutable(ModuleOp module) {
  if (outputPath == "-")
    return fail("--emit=exe: give the executable's path with -o");
  auto forward = module.lookupSymbol<func::FuncOp>(kForwardFuncName);
  if (!forward)
    return fail(modelPath + ": no @forward function to compile");
  ProgramFacts facts;
  facts.vocab =
      cast<RankedTensorType>(forward.getResultTypes()[0]).getShape().back();
  facts.maxPositions = 1 << 20;
  if (auto attr = forward->getAttrOfType<IntegerAttr>(
          TpcDialect::getMaxPositionsAttrName()))
    facts.maxPositions = attr.getInt();
  if (auto eos = forward->getAttrOfType<DenseI64ArrayAttr>(
          TpcDialect::getEosTokenIdsAttrName()))
    llvm::append_range(facts.eosTokenIds, eos.asArrayRef());
  facts.tokenizer = defaultTokenizer();
  Type element = getElementTypeOrSelf(forward.getResultTypes()[0]);
  facts.dtype = element.isBF16() ? "bf16" : element.isF16() ? "f16" : "f32";

  if (!saveTemp(".tpc.mlir", [&](raw_ostream &os) { module.print(os); }))
    return 1;
  // Generation programs exist for models with an attention to cache; the
  // executable says so when asked to generate without them.
  // A training executable runs the training step (and the forward pass);
  // an inference one the generation programs.
  bool generation = !train && canGenerate(module);
  if (generation && failed(deriveGeneration(module)))
    return 1;
  if (train && failed(deriveTraining(module)))
    return 1;
  // The tp = 1 programs for --verify: the same model without the layouts
  // a hand-written file may pin on its size-N mesh.
  OwningOpRef<ModuleOp> single = module.clone();
  single->walk([](Operation *op) {
    op->removeAttr(TpcDialect::getShardingAttrName());
  });
  for (auto mesh : llvm::make_early_inc_range(single->getOps<MeshOp>()))
    mesh.erase();
  if (failed(plan(module, tp, /*partition=*/true)))
    return 1;
  ReportOptions options = reportOptions();
  options.function = kForwardFuncName.str();
  FailureOr<PlanReport> report = buildPlanReport(module, options);
  if (failed(report))
    return 1;
  std::optional<PlanReport> decodeReport, trainReport;
  if (train) {
    options.function = kTrainStepFuncName.str();
    FailureOr<PlanReport> built = buildPlanReport(module, options);
    if (failed(built))
      return 1;
    trainReport = std::move(*built);
  }
  if (generation) {
    options.function = kDecodeFuncName.str();
    FailureOr<PlanReport> built = buildPlanReport(module, options);
    if (failed(built))
      return 1;
    decodeReport = std::move(*built);
  }
  if (!saveTemp(".partitioned.mlir",
                [&](raw_ostream &os) { module.print(os); }) ||
      !saveTemp(".report.txt", [&](raw_ostream &os) {
        printPlanReportText(*report, os);
        if (trainReport) {
          os << "\n";
          printPlanReportText(*trainReport, os);
        }
        if (decodeReport) {
          os << "\n";
          printPlanReportText(*decodeReport, os);
        }
      }))
    return 1;
  facts.collectives = report->collectiveCount();
  facts.forwardPeaks = report->activationPeaks;
  facts.weightBytesPerRank = int64_t(report->weightBytesMax);
  if (trainReport) {
    facts.trainCollectives = trainReport->collectiveCount();
    facts.trainPeaks = trainReport->activationPeaks;
  }
  if (decodeReport) {
    facts.decodeCollectives = decodeReport->collectiveCount();
    facts.decodePeaks = decodeReport->activationPeaks;
    facts.kvBytesPerPosition = int64_t(decodeReport->kvBytesPerPositionMax);
    auto decode = module.lookupSymbol<func::FuncOp>(kDecodeFuncName);
    Value logits = decode.front().getTerminator()->getOperand(0);
    facts.logitsLayout = runtimeLayoutLiteral(getSharding(logits));
  }
  // At tp = 1 (and dp = 1) the programs are their own tp = 1 reference:
  // the driver runs them for --verify (Program.h), and the C++ compiler,
  // most of this tool's time, runs once.
  bool reference = tp > 1 || dp > 1;
  if (failed(lower(module, "")) ||
      (reference && (failed(plan(*single, 1, /*partition=*/true)) ||
                     failed(lower(*single, "_tp1")))))
    return 1;
  addProgramFacts(module, facts);

  // The tp = N programs and the tp = 1 ones in two files, compiled side
  // by side. (At tp = 1, one file per program was slower than one file:
  // each compile loads the runtime's precompiled header.)
  SmallVector<std::pair<ModuleOp, StringRef>> programs = {{module, ".cpp"}};
  if (reference)
    programs.push_back({*single, ".tp1.cpp"});
  SmallVector<std::string> sources;
  for (auto [program, suffix] : programs) {
    SmallString<256> path;
    if (saveTemps) {
      path = outputPath + suffix.str();
    } else if (std::error_code ec = llvm::sys::fs::createTemporaryFile(
                   "tpc-program", "cpp", path)) {
      return fail("cannot create a temporary file: " + ec.message());
    }
    sources.push_back(std::string(path));
    std::string error;
    auto file = openOutputFile(path, &error);
    if (!file)
      return fail(path + ": " + error);
    if (failed(emitc::translateToCpp(program, file->os())))
      return fail(path + ": internal error: the program does not print as "
                         "C++");
    file->keep();
  }
  int status = compileExecutable(sources, outputPath);
  if (!saveTemps)
    for (const std::string &source : sources)
      llvm::sys::fs::remove(source);
  return status;
}
} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(argc, argv,
                              "tpc-compile: a transformer to a "
                              "tensor-parallel program\n");
  if (numLayers.getNumOccurrences() &&
      (numLayers < 1 || numLayers > kMaxModelLayers))
    return fail("--num-layers: expected a positive integer at most " +
                llvm::Twine(kMaxModelLayers) + ", got " +
                llvm::Twine(numLayers));
  if (tp < 1)
    return fail("--tp: expected a positive integer, got " + llvm::Twine(tp));
  if (dp < 1)
    return fail("--dp: expected a positive integer, got " + llvm::Twine(dp));
  if ((zero1 || zero2) && dp < 2)
    return fail(llvm::Twine(zero2 ? "--zero2" : "--zero1") +
                ": shards the optimizer state over data-parallel "
                "replicas; give --dp 2 or more");
  if (dp > 1 && !train)
    return fail("--dp: data parallelism replicates a training program; "
                "give --train");
  if (!(dpBucketMib > 0) || dpBucketMib > 1e6) {
    std::ostringstream given;
    given << dpBucketMib.getValue();
    return fail("--dp-bucket-mib: expected a positive size in MiB (at most "
                "1e6), got " + given.str());
  }
  if (recompute && !train)
    return fail("--recompute: recomputes activations in a training step's "
                "backward pass; give --train");
  if (reportTokens < 1)
    return fail("--tokens: expected a positive integer, got " +
                llvm::Twine(reportTokens));
  if (decodeBatch < 1)
    return fail("--decode-batch: expected a positive integer, got " +
                llvm::Twine(decodeBatch));
  if (contextLength < 0)
    return fail("--max-seq: expected a positive integer, got " +
                llvm::Twine(contextLength));
  if (!parseSize(memoryPerRank))
    return fail("--memory-per-rank: expected a size such as 80GiB or 24GB, "
                "got '" +
                memoryPerRank + "'");

  DialectRegistry registry;
  registry.insert<TpcDialect, func::FuncDialect, arith::ArithDialect,
                  tensor::TensorDialect>();
  MLIRContext context(registry);

  // The checkpoint is opened first: GPT-2's weight names depend on it.
  std::optional<::tpc::weights::WeightStore> store;
  if (!weightsPath.empty()) {
    auto opened = ::tpc::weights::WeightStore::open(weightsPath);
    if (!opened)
      return fail(llvm::toString(opened.takeError()));
    store = std::move(*opened);
  }

  // Diagnostics print as "file:line:col: error: ..." for every stage.
  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler handler(sourceMgr, &context);
  OwningOpRef<ModuleOp> module;
  if (StringRef(modelPath).ends_with(".mlir")) {
    module =
        parseSourceFile<ModuleOp>(modelPath, sourceMgr, ParserConfig(&context));
    if (!module)
      return 1; // The handler printed the diagnostics.
  } else {
    llvm::Expected<ModelConfig> config = readModelConfig(modelPath);
    if (!config)
      return fail(llvm::toString(config.takeError()));
    ImportOptions options;
    if (numLayers.getNumOccurrences())
      options.numLayers = numLayers;
    options.elementType = elementType(context, *config);
    if (store)
      options.gpt2Prefix = detectGpt2Prefix(*store);
    module = importModel(*config, options, context);
    if (failed(verify(*module)))
      return fail(modelPath + ": internal error: the imported graph does "
                              "not verify");
  }

  if (store) {
    std::vector<std::string> problems = checkWeights(*module, *store);
    for (const std::string &problem : problems)
      fail(problem);
    if (!problems.empty())
      return 1;
  }

  if (program == ProgramKind::Train && !train)
    return fail("--program=train: give --train");
  if (emit == EmitKind::Exe)
    return emitExecutable(*module);
  if (train && failed(deriveTraining(*module)))
    return 1; // The pass reported why.
  if (program != ProgramKind::Forward && program != ProgramKind::Train &&
      failed(deriveGeneration(*module)))
    return 1; // The pass reported why.
  // Every program is planned (their weights share one layout); the other
  // programs are dropped before the result is shown.
  if (emit != EmitKind::Tpc &&
      failed(plan(*module, tp, emit != EmitKind::Sharded)))
    return 1; // The passes reported why.
  keepSelectedProgram(*module);
  if (emit == EmitKind::Cpp && failed(lower(*module, cppSuffix)))
    return 1;

  std::string error;
  auto output = openOutputFile(outputPath, &error);
  if (!output)
    return fail(outputPath + ": " + error);
  if (emit == EmitKind::Report) {
    FailureOr<PlanReport> report = buildPlanReport(*module, reportOptions());
    if (failed(report))
      return 1;
    if (reportFormat == ReportFormat::Json)
      printPlanReportJson(*report, output->os());
    else
      printPlanReportText(*report, output->os());
  } else if (emit == EmitKind::Cpp) {
    if (failed(emitc::translateToCpp(*module, output->os())))
      return 1;
  } else {
    module->print(output->os());
  }
  output->keep();
  return 0;
}
