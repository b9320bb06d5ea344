//===- BlasCore.cpp - OpenBLAS's kernels for the CPU it runs on -----------===//
#include "runtime/cpu/BlasCore.h"

#include <cstdlib>
#include <cstring>
#include <mutex>

// OpenBLAS's own entry points (DYNAMIC_ARCH builds export them; weak, so
// that an OpenBLAS built for one core links too and is left alone).
extern "C" {
char *openblas_get_corename(void);
void gotoblas_dynamic_init(void) __attribute__((weak));
void gotoblas_dynamic_quit(void) __attribute__((weak));
}

using namespace tpc;

namespace {
/// OpenBLAS core names whose kernels use AVX2 or more.
bool hasAvx2Kernels(const char *core) {
  for (const char *name :
       {"Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids"})
    if (std::strcmp(core, name) == 0)
      return true;
  return false;
}

/// The OpenBLAS core type for this CPU's instruction sets, or null.
const char *coreForThisCpu() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return "Haswell";
  return nullptr;
}
} // namespace

void cpu::chooseBlasCore() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (std::getenv("OPENBLAS_CORETYPE") || !gotoblas_dynamic_init ||
        !gotoblas_dynamic_quit)
      return;
    const char *core = coreForThisCpu();
    if (!core || hasAvx2Kernels(openblas_get_corename()))
      return;
    // gotoblas_dynamic_init reads OPENBLAS_CORETYPE; drop it again so that
    // processes this one starts choose for themselves.
    setenv("OPENBLAS_CORETYPE", core, 1);
    gotoblas_dynamic_quit();
    gotoblas_dynamic_init();
    unsetenv("OPENBLAS_CORETYPE");
  });
}

std::string cpu::blasCoreName() { return openblas_get_corename(); }
