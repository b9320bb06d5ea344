//===- BlasCore.h - OpenBLAS's kernels for the CPU it runs on ---*- C++ -*-===//
//
// OpenBLAS (a DYNAMIC_ARCH build, as Debian's) picks its kernels from
// cpuid when it loads. 0.3.21 (Debian 12) does not recognise some newer
// Xeons (virtualised ones report "Intel(R) Xeon(R) Processor") and falls
// back to its Prescott kernels: SSE3 only, 3-4x slower in an sgemm on an
// AVX-512 core. The CPU attention and the backward pass's GEMMs run on
// OpenBLAS, so tpc re-selects the kernels from the instruction sets the
// CPU reports, as OPENBLAS_CORETYPE would.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_CPU_BLASCORE_H
#define TPC_RUNTIME_CPU_BLASCORE_H

#include <string>

namespace tpc::cpu {

/// Once per process, before any BLAS call is in flight: when
/// OPENBLAS_CORETYPE is not set and OpenBLAS chose kernels without AVX2
/// on a CPU that has AVX-512 (SkylakeX kernels) or AVX2 and FMA (Haswell
/// kernels), re-initialises OpenBLAS with those. Does nothing on an
/// OpenBLAS that cannot be re-initialised.
void chooseBlasCore();

/// The kernels OpenBLAS uses ("SkylakeX", "Haswell", "Prescott", ...).
std::string blasCoreName();

} // namespace tpc::cpu

#endif // TPC_RUNTIME_CPU_BLASCORE_H
