//===- TruncatedInputTest.cpp - no input cut short crashes the parser -----===//
//
// Cuts real tpc files at every byte and parses and verifies each prefix in
// process: each must either be a valid module or produce a diagnostic.
// A crash or an assertion ends this test binary, which ctest reports.
//
//===----------------------------------------------------------------------===//
#include "dialects/tpc/TpcDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/MemoryBuffer.h"

#include "gtest/gtest.h"

namespace {
class TruncatedInput : public ::testing::TestWithParam<const char *> {};

TEST_P(TruncatedInput, EveryPrefixParsesOrIsDiagnosed) {
  std::string path = std::string(TPC_SOURCE_DIR) + "/" + GetParam();
  auto file = llvm::MemoryBuffer::getFile(path);
  ASSERT_TRUE(bool(file)) << "cannot read " << path;
  llvm::StringRef text = (*file)->getBuffer();

  mlir::MLIRContext context;
  context.loadDialect<mlir::tpc::TpcDialect, mlir::func::FuncDialect,
                      mlir::arith::ArithDialect>();
  unsigned diagnosed = 0, valid = 0;
  for (size_t end = 0; end <= text.size(); ++end) {
    unsigned errors = 0;
    mlir::ScopedDiagnosticHandler handler(&context, [&](mlir::Diagnostic &d) {
      errors += d.getSeverity() == mlir::DiagnosticSeverity::Error;
      return mlir::success();
    });
    // A copy: MLIR's lexer reads up to a terminating NUL, which a slice of
    // the file does not have.
    std::string prefix = text.take_front(end).str();
    auto module = mlir::parseSourceString<mlir::ModuleOp>(prefix, &context);
    if (module) {
      ++valid;
      EXPECT_EQ(errors, 0u) << "cut at byte " << end;
    } else {
      ++diagnosed;
      EXPECT_GT(errors, 0u) << "cut at byte " << end << " failed silently";
    }
  }
  // The whole file is valid, and most cuts land inside an op.
  EXPECT_GE(valid, 1u);
  EXPECT_GT(diagnosed, text.size() / 2);
}

INSTANTIATE_TEST_SUITE_P(Examples, TruncatedInput,
                         ::testing::Values("examples/mlir/gpt2_block.mlir",
                                           "examples/mlir/llama_block.mlir",
                                           "test/dialect/attrs.mlir",
                                           "test/dialect/ops.mlir"));
} // namespace
