//===- TpcDialect.h - the tpc dialect ---------------------------*- C++ -*-===//
#ifndef TPC_DIALECTS_TPC_TPCDIALECT_H
#define TPC_DIALECTS_TPC_TPCDIALECT_H

#include "mlir/IR/Dialect.h"

#include "dialects/tpc/TpcDialect.h.inc"

#endif // TPC_DIALECTS_TPC_TPCDIALECT_H
