//===- Check.h - CUDA and cuBLAS status to exceptions -----------*- C++ -*-===//
//
// For the backend's .cu files: a failed call throws std::runtime_error
// naming what was being done.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_CUDA_CHECK_H
#define TPC_RUNTIME_CUDA_CHECK_H

#include "runtime/cuda/Cublas.h"

#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace tpc::cuda {

inline void check(cudaError_t err, const char *what) {
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("CUDA ") + what + ": " +
                             cudaGetErrorString(err));
}

inline void check(cublasStatus_t status, const char *what) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw std::runtime_error(std::string("cuBLAS ") + what + ": " +
                             cublas().getStatusString(status));
}

} // namespace tpc::cuda

#endif // TPC_RUNTIME_CUDA_CHECK_H
