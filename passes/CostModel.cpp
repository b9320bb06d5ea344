//===- CostModel.cpp - alpha-beta communication and compute times ---------===//
#include "passes/CostModel.h"

using namespace mlir;
using namespace mlir::tpc;

int64_t mlir::tpc::elementBytes(Type type) {
  return (type.getIntOrFloatBitWidth() + 7) / 8;
}

double CostModel::bytesPerRank(CollectiveKind kind, double bytes) const {
  double share = ranks > 1 ? double(ranks - 1) / ranks : 0.0;
  return (kind == CollectiveKind::AllReduce ? 2.0 : 1.0) * share * bytes;
}

double CostModel::collectiveTime(CollectiveKind kind, double bytes) const {
  if (ranks <= 1)
    return 0;
  return linkLatency + bytesPerRank(kind, bytes) / linkBandwidth;
}

int64_t CostModel::elementsPerToken(RankedTensorType type) {
  int64_t n = 1;
  for (int64_t d : type.getShape())
    if (!ShapedType::isDynamic(d))
      n *= d;
  return n;
}

double CostModel::bytes(RankedTensorType type) const {
  double rows = type.hasStaticShape() ? 1.0 : double(tokens);
  return rows * elementsPerToken(type) * elementBytes(type.getElementType());
}
