//===- Cublas.cpp - cuBLAS, loaded when the first CUDA context is made ----===//
#include "runtime/cuda/Cublas.h"

#include <dlfcn.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <type_traits>

using namespace tpc::cuda;

namespace {
std::atomic<bool> loaded{false};

// The exported name of a cuBLAS function: cublas_v2.h maps some names to
// their _v2 symbols with macros, which this expands.
#define TPC_SYMBOL_NAME(name) TPC_SYMBOL_STRING(name)
#define TPC_SYMBOL_STRING(name) #name

/// Resolves `function` into `slot`. The static_cast, unevaluated (no
/// reference to the symbol reaches the linker), picks the overload of the
/// header's declaration with the table's signature: a table entry that
/// does not match cuBLAS's own declaration does not compile.
#define TPC_RESOLVE(slot, function)                                           \
  static_assert(                                                              \
      std::is_same_v<decltype(api.slot),                                      \
                     decltype(static_cast<decltype(api.slot)>(&function))>); \
  resolve(library, TPC_SYMBOL_NAME(function), api.slot)

template <typename Fn>
void resolve(void *library, const char *name, Fn &slot) {
  slot = reinterpret_cast<Fn>(dlsym(library, name));
  if (!slot)
    throw std::runtime_error(std::string("cuBLAS: ") + TPC_CUBLAS_SONAME +
                             " has no " + name);
}

CublasApi load() {
  void *library = dlopen(TPC_CUBLAS_PATH, RTLD_NOW | RTLD_LOCAL);
  if (!library)
    library = dlopen(TPC_CUBLAS_SONAME, RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    const char *why = dlerror();
    throw std::runtime_error(std::string("cuBLAS: cannot load ") +
                             TPC_CUBLAS_SONAME + ": " +
                             (why ? why : "unknown error"));
  }
  CublasApi api;
  TPC_RESOLVE(create, cublasCreate);
  TPC_RESOLVE(destroy, cublasDestroy);
  TPC_RESOLVE(setStream, cublasSetStream);
  TPC_RESOLVE(gemmEx, cublasGemmEx);
  TPC_RESOLVE(gemmStridedBatchedEx, cublasGemmStridedBatchedEx);
  TPC_RESOLVE(getStatusString, cublasGetStatusString);
  loaded = true;
  return api;
}
} // namespace

const CublasApi &tpc::cuda::cublas() {
  static const CublasApi api = load();
  return api;
}

bool tpc::cuda::cublasLoaded() { return loaded; }
