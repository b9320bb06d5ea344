//===- TpcAttrs.cpp - tpc attributes --------------------------------------===//
#include "dialects/tpc/TpcAttrs.h"
#include "dialects/tpc/TpcDialect.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::tpc;

#include "dialects/tpc/TpcEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/tpc/TpcAttrs.cpp.inc"

void TpcDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialects/tpc/TpcAttrs.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// Axis lists: {"a", "b"}
//===----------------------------------------------------------------------===//

static void printAxisList(AsmPrinter &p, ArrayRef<StringAttr> axes) {
  p << '{';
  llvm::interleaveComma(axes, p, [&](StringAttr a) { p << a; });
  p << '}';
}

static ParseResult parseAxisList(AsmParser &p,
                                 SmallVectorImpl<StringAttr> &axes) {
  return p.parseCommaSeparatedList(AsmParser::Delimiter::Braces, [&] {
    std::string axis;
    if (p.parseString(&axis))
      return failure();
    axes.push_back(StringAttr::get(p.getContext(), axis));
    return success();
  });
}

/// Every axis is a non-empty name used at most once in `seen`.
static LogicalResult
checkAxesUnique(function_ref<InFlightDiagnostic()> emitError,
                ArrayRef<StringAttr> axes, llvm::StringSet<> &seen) {
  for (StringAttr axis : axes) {
    if (axis.getValue().empty())
      return emitError() << "mesh axis names must be non-empty, got \"\"";
    if (!seen.insert(axis.getValue()).second)
      return emitError() << "a mesh axis may split a tensor once, got \""
                         << axis.getValue() << "\" twice";
  }
  return success();
}

//===----------------------------------------------------------------------===//
// DimShardingAttr: {"tp", unit = 64, sections = 3}
//===----------------------------------------------------------------------===//

FailureOr<DimShardingAttr> DimShardingAttr::parseBody(AsmParser &p) {
  SMLoc loc = p.getCurrentLocation();
  SmallVector<StringAttr> axes;
  int64_t unit = 1, sections = 1, groups = 1;
  llvm::StringSet<> keysSeen;
  auto parseEntry = [&]() -> ParseResult {
    std::string axis;
    if (succeeded(p.parseOptionalString(&axis))) {
      axes.push_back(StringAttr::get(p.getContext(), axis));
      return success();
    }
    StringRef key;
    SMLoc keyLoc = p.getCurrentLocation();
    if (p.parseKeyword(&key))
      return failure();
    int64_t *slot = key == "unit"       ? &unit
                    : key == "sections" ? &sections
                    : key == "groups"   ? &groups
                                        : nullptr;
    if (!slot)
      return p.emitError(keyLoc, "expected a quoted mesh axis name, 'unit', "
                                 "'sections' or 'groups', got '")
             << key << "'";
    if (!keysSeen.insert(key).second)
      return p.emitError(keyLoc, "each key may appear once, got '")
             << key << "' twice";
    return failure(p.parseEqual() || p.parseInteger(*slot));
  };
  if (p.parseCommaSeparatedList(AsmParser::Delimiter::Braces, parseEntry))
    return failure();
  auto attr =
      DimShardingAttr::getChecked([&] { return p.emitError(loc); },
                                  p.getContext(), axes, unit, sections, groups);
  if (!attr)
    return failure();
  return attr;
}

void DimShardingAttr::printBody(AsmPrinter &p) const {
  p << '{';
  llvm::interleaveComma(getAxes(), p, [&](StringAttr a) { p << a; });
  bool first = getAxes().empty();
  auto printKey = [&](StringRef key, int64_t value) {
    if (value == 1)
      return;
    p << (first ? "" : ", ") << key << " = " << value;
    first = false;
  };
  printKey("unit", getUnit());
  printKey("sections", getSections());
  printKey("groups", getGroups());
  p << '}';
}

Attribute DimShardingAttr::parse(AsmParser &p, Type) {
  FailureOr<DimShardingAttr> body;
  if (p.parseLess() || failed(body = parseBody(p)) || p.parseGreater())
    return {};
  return *body;
}

void DimShardingAttr::print(AsmPrinter &p) const {
  p << '<';
  printBody(p);
  p << '>';
}

LogicalResult
DimShardingAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                        ArrayRef<StringAttr> axes, int64_t unit,
                        int64_t sections, int64_t groups) {
  if (unit < 1)
    return emitError() << "unit must be >= 1, got " << unit;
  if (sections < 1)
    return emitError() << "sections must be >= 1, got " << sections;
  if (groups < 1)
    return emitError() << "groups must be >= 1, got " << groups;
  llvm::StringSet<> seen;
  return checkAxesUnique(emitError, axes, seen);
}

//===----------------------------------------------------------------------===//
// ShardingAttr: <@mesh, [{...}, ...], partial = {"tp"}>
//===----------------------------------------------------------------------===//

Attribute ShardingAttr::parse(AsmParser &p, Type) {
  SMLoc loc = p.getCurrentLocation();
  FlatSymbolRefAttr mesh;
  SmallVector<DimShardingAttr> dims;
  SmallVector<StringAttr> partial;
  if (p.parseLess() || p.parseAttribute(mesh) || p.parseComma())
    return {};
  if (p.parseCommaSeparatedList(AsmParser::Delimiter::Square, [&] {
        FailureOr<DimShardingAttr> dim = DimShardingAttr::parseBody(p);
        if (failed(dim))
          return failure();
        dims.push_back(*dim);
        return success();
      }))
    return {};
  if (succeeded(p.parseOptionalComma()) &&
      (p.parseKeyword("partial") || p.parseEqual() ||
       parseAxisList(p, partial)))
    return {};
  if (p.parseGreater())
    return {};
  return ShardingAttr::getChecked([&] { return p.emitError(loc); },
                                  p.getContext(), mesh, dims, partial);
}

void ShardingAttr::print(AsmPrinter &p) const {
  p << '<' << getMesh() << ", [";
  llvm::interleaveComma(getDims(), p,
                        [&](DimShardingAttr d) { d.printBody(p); });
  p << ']';
  if (!getPartial().empty()) {
    p << ", partial = ";
    printAxisList(p, getPartial());
  }
  p << '>';
}

LogicalResult ShardingAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                   FlatSymbolRefAttr mesh,
                                   ArrayRef<DimShardingAttr> dims,
                                   ArrayRef<StringAttr> partial) {
  if (!mesh)
    return emitError() << "a sharding must name a mesh";
  llvm::StringSet<> seen;
  for (DimShardingAttr dim : dims)
    if (failed(checkAxesUnique(emitError, dim.getAxes(), seen)))
      return failure();
  return checkAxesUnique(emitError, partial, seen);
}

bool ShardingAttr::isFullyReplicated() const {
  return getPartial().empty() &&
         llvm::none_of(getDims(),
                       [](DimShardingAttr d) { return d.isSplit(); });
}
