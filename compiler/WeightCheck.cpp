//===- WeightCheck.cpp - a graph's weights against a checkpoint -----------===//
#include "compiler/WeightCheck.h"

#include "dialects/tpc/ShapeRules.h"
#include "dialects/tpc/TpcOps.h"

#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace mlir::tpc;
using ::tpc::weights::DType;
using ::tpc::weights::WeightStore;

std::vector<std::string> mlir::tpc::checkWeights(ModuleOp module,
                                                 const WeightStore &store) {
  std::vector<std::string> problems;
  llvm::StringSet<> checked;
  module.walk([&](WeightOp op) {
    StringRef name = op.getName();
    if (!checked.insert(name).second)
      return; // A tied weight is one tensor.
    ArrayRef<int64_t> expected = op.getType().getShape();
    std::string expectedShape = shape_rules::format(expected);
    std::optional<WeightStore::Entry> entry = store.find(name);
    if (!entry) {
      problems.push_back(llvm::formatv("{0}: tensor '{1}': missing, expected "
                                       "shape {2}",
                                       store.path(), name, expectedShape));
      return;
    }
    const auto &tensor = *entry->tensor;
    if (tensor.dtype != DType::F32 && tensor.dtype != DType::BF16 &&
        tensor.dtype != DType::F16)
      problems.push_back(llvm::formatv("{0}: tensor '{1}': expected dtype "
                                       "F32, BF16 or F16, found {2}",
                                       entry->file->path(), name,
                                       dtypeName(tensor.dtype)));
    if (ArrayRef<int64_t>(tensor.shape) != expected)
      problems.push_back(llvm::formatv("{0}: tensor '{1}': expected shape "
                                       "{2}, found {3}",
                                       entry->file->path(), name, expectedShape,
                                       shape_rules::format(tensor.shape)));
  });
  return problems;
}

std::string mlir::tpc::detectGpt2Prefix(const WeightStore &store) {
  if (!store.find("transformer.wte.weight") && store.find("wte.weight"))
    return "";
  return "transformer.";
}
