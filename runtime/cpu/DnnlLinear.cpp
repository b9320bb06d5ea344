//===- DnnlLinear.cpp - linear layers through oneDNN's matmul -------------===//
#include "runtime/cpu/DnnlLinear.h"
#include "runtime/cpu/Threads.h"
#include "runtime/cpu/Vector.h"

#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <vector>

using namespace tpc;

namespace {
using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;
using Dims = dnnl::memory::dims;

/// One column block's matmul: (type, rows, in, width, out, inOut, inPlace,
/// bias, activation). `out` is the row pitch of y and of [in, out] weights;
/// an in-place block writes y's columns, the others a dense scratch block.
using Key = std::tuple<dt, int64_t, int64_t, int64_t, int64_t, bool, bool,
                       bool, Activation>;

/// A primitive, the layouts it was made for, and the scratchpad it needs.
struct Matmul {
  dnnl::matmul primitive;
  dnnl::memory::desc src, weights, bias, dst, scratchpad;
};

struct Primitives {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  std::mutex mutex;
  /// Null where oneDNN has only its reference code for the shape.
  std::map<Key, std::shared_ptr<Matmul>> matmuls;
};

Primitives &primitives() {
  static Primitives p;
  return p;
}

/// Shapes kept before the cache starts over: a server sees a new row count
/// with every prompt length.
constexpr size_t kMaxPrimitives = 4096;

/// Below this many rows an [out, in] block also writes y in place: oneDNN's
/// strided GEMM is then faster than brgemm plus the copy.
constexpr int64_t kDenseMinRows = 16;

/// On a CPU with AMX, from this many rows on, bf16 blocks of [out, in]
/// weights at least kBf16StridedMinWidth wide write y in place, up to
/// kBf16StridedWidth columns a call: oneDNN then runs its AMX gemm:jit
/// kernel, which on a Sapphire Rapids core beat brgemm plus the copy out
/// of the scratch block by 10-25% at 128 to 2048 rows (narrower blocks, k
/// and v of GQA, stay on brgemm). Without AMX that was not measured, and
/// the scratch blocks stay.
constexpr int64_t kBf16StridedMinRows = 96;
constexpr int64_t kBf16StridedMinWidth = 512;
constexpr int64_t kBf16StridedWidth = 1024;

bool hasAmx() {
  static const bool amx =
      dnnl::get_effective_cpu_isa() == dnnl::cpu_isa::avx512_core_amx;
  return amx;
}

/// Columns of a dense scratch block: at most 256K elements (1 MiB in f32,
/// in L2), a multiple of 64, 64 to 1024 wide.
int64_t blockWidth(int64_t rows) {
  int64_t width = ((int64_t(1) << 18) / std::max<int64_t>(rows, 1)) / 64 * 64;
  return std::clamp<int64_t>(width, 64, 1024);
}

std::shared_ptr<Matmul> matmulFor(const Key &key) {
  Primitives &p = primitives();
  std::lock_guard<std::mutex> lock(p.mutex);
  auto it = p.matmuls.find(key);
  if (it != p.matmuls.end())
    return it->second;
  if (p.matmuls.size() >= kMaxPrimitives)
    p.matmuls.clear();
  auto [type, rows, in, width, out, inOut, inPlace, bias, act] = key;
  std::shared_ptr<Matmul> made;
  try {
    dnnl::memory::desc src({rows, in}, type, tag::ab);
    dnnl::memory::desc weights =
        inOut ? dnnl::memory::desc({in, width}, type, Dims{out, 1})
              : dnnl::memory::desc({in, width}, type, tag::ba);
    dnnl::memory::desc dst =
        inPlace ? dnnl::memory::desc({rows, width}, type, Dims{out, 1})
                : dnnl::memory::desc({rows, width}, type, tag::ab);
    dnnl::memory::desc biasDesc =
        bias ? dnnl::memory::desc({1, width}, type, tag::ab)
             : dnnl::memory::desc();
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (act != Activation::None) {
      dnnl::post_ops ops;
      ops.append_eltwise(1.0f,
                         act == Activation::Gelu
                             ? dnnl::algorithm::eltwise_gelu_tanh
                             : dnnl::algorithm::eltwise_swish,
                         1.0f, 0.0f);
      attr.set_post_ops(ops);
    }
    auto desc = bias ? dnnl::matmul::desc(src, weights, biasDesc, dst)
                     : dnnl::matmul::desc(src, weights, dst);
    dnnl::matmul::primitive_desc pd(desc, attr, p.engine);
    // Only JIT kernels: oneDNN's reference code is far slower than BLAS.
    std::string impl = pd.impl_info_str();
    if (impl.rfind("brg", 0) == 0 || impl == "gemm:jit")
      made = std::make_shared<Matmul>(Matmul{dnnl::matmul(pd), src, weights,
                                             biasDesc, dst,
                                             pd.scratchpad_desc()});
  } catch (const dnnl::error &) {
    made = nullptr;
  }
  p.matmuls.emplace(key, made);
  return made;
}

/// oneDNN plans and runs a primitive for as many threads as OpenMP allows
/// the calling thread: one, inside the rank's pool.
void singleThreaded() {
  static thread_local const bool once = (omp_set_num_threads(1), true);
  (void)once;
}

/// TPC_DNNL=0 sends f32 linears to OpenBLAS (for comparison).
bool f32Enabled() {
  static const bool enabled = [] {
    const char *value = std::getenv("TPC_DNNL");
    return !value || std::strcmp(value, "0") != 0;
  }();
  return enabled;
}

template <typename T>
bool linearBlocks(dt type, const T *x, int64_t rows, int64_t in,
                  const T *weight, bool inOut, int64_t out, const T *bias,
                  T *y, Activation act) {
  if (rows <= 0 || out <= 0)
    return true;
  dnnl::engine &engine = primitives().engine;
  // f32 activations are applied by the vector loops that the unfused ops
  // use, so that fusing never changes a result (recomputed activations of
  // training must equal the saved ones bit for bit); bf16 ones are
  // oneDNN's epilogue, before the rounding.
  constexpr bool ownActivation = std::is_same_v<T, float>;
  Activation epilogue = ownActivation ? Activation::None : act;
  auto activate = [&](const float *from, int64_t n, float *to) {
    if (act == Activation::Gelu)
      cpu::vec::geluTanh(from, n, to);
    else if (act == Activation::Silu)
      cpu::vec::silu(from, n, to);
    else if (from != to)
      std::memcpy(to, from, n * sizeof(float));
  };
  std::atomic<bool> failed{false};
  cpu::parallelFor(out, 64, [&](int64_t begin, int64_t end) {
    singleThreaded();
    thread_local dnnl::stream stream(engine);
    thread_local std::vector<uint8_t> scratchpad;
    thread_local std::vector<T> block;
    int64_t width = end - begin;
    bool whole = inOut || rows < kDenseMinRows || width == out;
    bool strided = !whole && type == dt::bf16 && hasAmx() &&
                   rows >= kBf16StridedMinRows &&
                   width >= kBf16StridedMinWidth;
    bool inPlace = whole || strided;
    // Blocks of equal width, none wider than blockWidth(rows), or than
    // kBf16StridedWidth in place.
    int64_t most = strided ? kBf16StridedWidth : blockWidth(rows);
    int64_t blocks = whole ? 1 : (width + most - 1) / most;
    for (int64_t i = 0; i < blocks && !failed; ++i) {
      int64_t b = begin + width * i / blocks;
      int64_t columns = begin + width * (i + 1) / blocks - b;
      std::shared_ptr<Matmul> m = matmulFor({type, rows, in, columns, out,
                                             inOut, inPlace, bias != nullptr,
                                             epilogue});
      if (!m) {
        failed = true;
        return;
      }
      if (!inPlace && block.size() < size_t(rows * columns))
        block.resize(rows * columns);
      T *dst = inPlace ? y + b : block.data();
      auto memory = [&](const dnnl::memory::desc &desc, const T *data) {
        return dnnl::memory(desc, engine, const_cast<T *>(data));
      };
      std::unordered_map<int, dnnl::memory> args = {
          {DNNL_ARG_SRC, memory(m->src, x)},
          {DNNL_ARG_WEIGHTS,
           memory(m->weights, inOut ? weight + b : weight + b * in)},
          {DNNL_ARG_DST, memory(m->dst, dst)}};
      if (bias)
        args.emplace(DNNL_ARG_BIAS, memory(m->bias, bias + b));
      size_t scratchpadBytes = m->scratchpad.get_size();
      if (scratchpad.size() < scratchpadBytes)
        scratchpad.resize(scratchpadBytes);
      args.emplace(DNNL_ARG_SCRATCHPAD,
                   dnnl::memory(m->scratchpad, engine, scratchpad.data()));
      m->primitive.execute(stream, args);
      stream.wait();
      if constexpr (ownActivation) {
        if (!inPlace || act != Activation::None)
          for (int64_t r = 0; r < rows; ++r)
            activate(inPlace ? y + r * out + b : dst + r * columns, columns,
                     y + r * out + b);
      } else if (!inPlace) {
        for (int64_t r = 0; r < rows; ++r)
          std::memcpy(y + r * out + b, dst + r * columns,
                      columns * sizeof(T));
      }
    }
  });
  return !failed;
}
} // namespace

bool cpu::linearDnnl(const float *x, int64_t rows, int64_t in,
                     const float *weight, bool inOut, int64_t out,
                     const float *bias, float *y, Activation act) {
  return f32Enabled() && linearBlocks(dt::f32, x, rows, in, weight, inOut,
                                      out, bias, y, act);
}

bool cpu::linearBf16(const uint16_t *x, int64_t rows, int64_t in,
                     const uint16_t *weight, bool inOut, int64_t out,
                     const uint16_t *bias, uint16_t *y, Activation act) {
  return linearBlocks(dt::bf16, x, rows, in, weight, inOut, out, bias, y,
                      act);
}
