//===- CublasLoadTest.cpp - cuBLAS is loaded on first use, not at start --===//
//
// Linking cuBLAS would map libcublasLt into every process, CPU-only runs
// included (~150 MB resident). The runtime loads it when the first CUDA
// context is made; loading and resolving need no GPU, so this runs
// everywhere the CUDA parts are built.
//
//===----------------------------------------------------------------------===//
#include "runtime/cuda/Cublas.h"

#include "gtest/gtest.h"

#include <fstream>
#include <iterator>
#include <string>

namespace {
/// Whether any of the process's mappings is a file whose path holds `name`.
bool mapped(const std::string &name) {
  std::ifstream maps("/proc/self/maps");
  std::string text((std::istreambuf_iterator<char>(maps)),
                   std::istreambuf_iterator<char>());
  return text.find(name) != std::string::npos;
}
} // namespace

TEST(CublasLoad, LoadedOnFirstUseOnly) {
  // ctest runs each test in a process of its own: nothing has made a CUDA
  // context here.
  EXPECT_FALSE(tpc::cuda::cublasLoaded());
  EXPECT_FALSE(mapped("libcublas")) << "cuBLAS is mapped before first use";
  const tpc::cuda::CublasApi &api = tpc::cuda::cublas();
  EXPECT_TRUE(tpc::cuda::cublasLoaded());
  EXPECT_TRUE(mapped("libcublas.so"));
  // A call into the library: its words for two statuses differ.
  std::string success = api.getStatusString(CUBLAS_STATUS_SUCCESS);
  EXPECT_FALSE(success.empty());
  EXPECT_NE(success, api.getStatusString(CUBLAS_STATUS_NOT_INITIALIZED));
  EXPECT_NE(api.create, nullptr);
  EXPECT_NE(api.destroy, nullptr);
  EXPECT_NE(api.setStream, nullptr);
  EXPECT_NE(api.gemmEx, nullptr);
  EXPECT_NE(api.gemmStridedBatchedEx, nullptr);
  // Later calls return the same table.
  EXPECT_EQ(&tpc::cuda::cublas(), &api);
}
