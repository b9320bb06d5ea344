//===- Cublas.h - cuBLAS, loaded when the first CUDA context is made -*- C++ -*-===//
//
// The CUDA backend calls cuBLAS through this table of functions, which
// dlopen()s the library on first use. Linking libcublas instead loads it,
// and the libcublasLt it depends on, into every process that links the
// runtime: about 150 MB of resident memory at start (libcublasLt's
// relocated and static data), CPU-only runs included.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_CUDA_CUBLAS_H
#define TPC_RUNTIME_CUDA_CUBLAS_H

#include <cublas_v2.h>

namespace tpc::cuda {

/// The cuBLAS functions the backend calls, with cuBLAS's own signatures.
struct CublasApi {
  cublasStatus_t (*create)(cublasHandle_t *handle);
  cublasStatus_t (*destroy)(cublasHandle_t handle);
  cublasStatus_t (*setStream)(cublasHandle_t handle, cudaStream_t stream);
  cublasStatus_t (*gemmEx)(cublasHandle_t handle, cublasOperation_t transa,
                           cublasOperation_t transb, int m, int n, int k,
                           const void *alpha, const void *a,
                           cudaDataType aType, int lda, const void *b,
                           cudaDataType bType, int ldb, const void *beta,
                           void *c, cudaDataType cType, int ldc,
                           cublasComputeType_t computeType,
                           cublasGemmAlgo_t algo);
  cublasStatus_t (*gemmStridedBatchedEx)(
      cublasHandle_t handle, cublasOperation_t transa,
      cublasOperation_t transb, int m, int n, int k, const void *alpha,
      const void *a, cudaDataType aType, int lda, long long strideA,
      const void *b, cudaDataType bType, int ldb, long long strideB,
      const void *beta, void *c, cudaDataType cType, int ldc,
      long long strideC, int batchCount, cublasComputeType_t computeType,
      cublasGemmAlgo_t algo);
  const char *(*getStatusString)(cublasStatus_t status);
};

/// cuBLAS's functions, from the library loaded on the first call (the
/// toolkit's copy found at build time, else the soname through the
/// loader's search path). Throws std::runtime_error naming the library and
/// the loader's message when it cannot be loaded or lacks a function.
const CublasApi &cublas();

/// Whether this process has loaded cuBLAS (for tests: CPU runs must not).
bool cublasLoaded();

} // namespace tpc::cuda

#endif // TPC_RUNTIME_CUDA_CUBLAS_H
