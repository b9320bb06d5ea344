//===- DnnlLinear.cpp - linear layers through oneDNN's matmul -------------===//
#include "runtime/cpu/DnnlLinear.h"
#include "runtime/cpu/Threads.h"
#include "runtime/cpu/Vector.h"

#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
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

/// How a block's weights are laid out: [in, out] or [out, in] as loaded,
/// or packed once (packLinearF32 / packLinearBf16).
enum class Form { InOut, OutIn, Packed };

/// One column block's matmul: (type, rows, in, width, out, form, inPlace,
/// bias, activation). `out` is the row pitch of y and of [in, out] weights;
/// an in-place block writes y's columns, the others a dense scratch block.
using Key = std::tuple<dt, int64_t, int64_t, int64_t, int64_t, Form, bool,
                       bool, Activation>;

/// The packed layout: 64 output columns a block, each block whole over
/// `in` in 16-row panels (pairs of rows interleaved in bf16), what
/// oneDNN's brgemm kernels read without copying.
constexpr int64_t kPackedColumns = 64;
tag packedTag(dt type) {
  return type == dt::bf16 ? tag::BA16a64b2a : tag::BA16a64b;
}

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
  auto [type, rows, in, width, out, form, inPlace, bias, act] = key;
  std::shared_ptr<Matmul> made;
  try {
    dnnl::memory::desc src({rows, in}, type, tag::ab);
    dnnl::memory::desc weights =
        form == Form::InOut
            ? dnnl::memory::desc({in, width}, type, Dims{out, 1})
            : dnnl::memory::desc({in, width}, type,
                                 form == Form::Packed ? packedTag(type)
                                                      : tag::ba);
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

/// The weights of one linear call: as loaded ([in, out] or [out, in]), or
/// packed, where each block of kPackedColumns columns is `packedBlockBytes`.
template <typename T> struct Weights {
  const T *data;
  Form form;
  size_t packedBlockBytes = 0;

  /// Where the block of columns from `column` on starts.
  const T *at(int64_t column, int64_t in) const {
    switch (form) {
    case Form::InOut:
      return data + column;
    case Form::OutIn:
      return data + column * in;
    case Form::Packed:
      return reinterpret_cast<const T *>(
          reinterpret_cast<const uint8_t *>(data) +
          column / kPackedColumns * packedBlockBytes);
    }
    return data;
  }
};

template <typename T>
bool linearBlocks(dt type, const T *x, int64_t rows, int64_t in,
                  Weights<T> weights, int64_t out, const T *bias, T *y,
                  Activation act) {
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
  bool packed = weights.form == Form::Packed;
  // Packed weights are split on their blocks' edges; brgemm reads them
  // only into a dense destination, so they always take scratch blocks.
  int64_t unit = packed ? kPackedColumns : 1;
  std::atomic<bool> failed{false};
  cpu::parallelFor((out + unit - 1) / unit, packed ? 1 : 64,
                   [&](int64_t beginUnit, int64_t endUnit) {
    singleThreaded();
    thread_local dnnl::stream stream(engine);
    thread_local std::vector<uint8_t> scratchpad;
    thread_local std::vector<T> block;
    int64_t begin = beginUnit * unit, end = std::min(endUnit * unit, out);
    int64_t width = end - begin;
    bool whole = !packed && (weights.form == Form::InOut ||
                             rows < kDenseMinRows || width == out);
    bool strided = !whole && !packed && type == dt::bf16 && hasAmx() &&
                   rows >= kBf16StridedMinRows &&
                   width >= kBf16StridedMinWidth;
    bool inPlace = whole || strided;
    // Blocks of equal width (in whole units), none wider than
    // blockWidth(rows), or than kBf16StridedWidth in place.
    int64_t most = strided ? kBf16StridedWidth : blockWidth(rows);
    int64_t units = endUnit - beginUnit;
    int64_t blocks = whole ? 1 : std::min(units, (width + most - 1) / most);
    for (int64_t i = 0; i < blocks && !failed; ++i) {
      int64_t b = (beginUnit + units * i / blocks) * unit;
      int64_t columns =
          std::min((beginUnit + units * (i + 1) / blocks) * unit, out) - b;
      std::shared_ptr<Matmul> m =
          matmulFor({type, rows, in, columns, out, weights.form, inPlace,
                     bias != nullptr, epilogue});
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
          {DNNL_ARG_WEIGHTS, memory(m->weights, weights.at(b, in))},
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

/// Row counts a packed weight is tried with before it is kept: a decode
/// step's, a short prompt's and a long one's.
constexpr int64_t kPackProbeRows[] = {1, 16, 512};

/// Packs columns [b, b + width) of a weight (b a multiple of
/// kPackedColumns) into their blocks at `to`, in the layout packedTag
/// names: per block of 64 columns, panels of 16 rows (pairs of rows
/// interleaved in bf16), each row of a panel 64 columns wide. Written by
/// hand: oneDNN's reorder from [out, in] ran at about 270 MB/s.
template <typename T>
void packColumns(const T *weight, bool inOut, int64_t in, int64_t out,
                 int64_t b, int64_t width, T *to) {
  constexpr int64_t pairs = sizeof(T) == 2 ? 2 : 1; // bf16: pairs of rows
  constexpr int64_t panel = 16 * pairs;
  int64_t panels = (in + panel - 1) / panel;
  int64_t blockElements = panels * panel * kPackedColumns;
  // Where row k of the source's columns lands in a block.
  auto rowAt = [&](T *block, int64_t k) {
    return block + k / panel * panel * kPackedColumns +
           k % panel / pairs * kPackedColumns * pairs + k % pairs;
  };
  for (int64_t n0 = b; n0 < b + width; n0 += kPackedColumns) {
    T *block = to + (n0 - b) / kPackedColumns * blockElements;
    int64_t columns = std::min(kPackedColumns, out - n0);
    // Padding (past `in`, or past `out` in the last block) is zero.
    if (columns < kPackedColumns || in % panel)
      std::fill(block, block + blockElements, T(0));
    if (inOut) {
      // [in, out]: each source row's 64 columns are one panel row.
      for (int64_t k = 0; k < in; ++k) {
        const T *row = weight + k * out + n0;
        T *at = rowAt(block, k);
        for (int64_t n = 0; n < columns; ++n)
          at[n * pairs] = row[n];
      }
      continue;
    }
    // [out, in]: a transpose, 16 source rows at a time so that each write
    // fills a cache line.
    for (int64_t n = 0; n < columns; n += 16) {
      int64_t count = std::min<int64_t>(16, columns - n);
      const T *rows[16];
      for (int64_t j = 0; j < count; ++j)
        rows[j] = weight + (n0 + n + j) * in;
      for (int64_t k = 0; k < in; ++k) {
        T *at = rowAt(block, k) + n * pairs;
        for (int64_t j = 0; j < count; ++j)
          at[j * pairs] = rows[j][k];
      }
    }
  }
}

/// Columns packed by one task: a piece of the source that can be given
/// back before the next is read.
constexpr int64_t kPackPieceColumns = 16 * kPackedColumns;

/// Packed copies of mapped weights from this size on are mapped on their
/// own, in 2 MiB pages where the kernel allows (transparent huge pages on
/// madvise): writing them then faults once per 2 MiB instead of once per
/// 4 KiB, which made packing 4-7x faster on a virtualised host where a
/// fault is expensive. Smaller ones, and copies of heap copies (whose
/// freed memory the heap hands to the next one), come from the heap.
constexpr size_t kHugePage = size_t(2) << 20;

std::shared_ptr<uint8_t> allocatePacked(size_t bytes, bool ownMapping) {
  if (!ownMapping || bytes < kHugePage) {
    auto *data = static_cast<uint8_t *>(
        std::aligned_alloc(64, (bytes + 63) / 64 * 64));
    return data ? std::shared_ptr<uint8_t>(data, [](uint8_t *p) { std::free(p); })
                : nullptr;
  }
  size_t mapped = bytes + kHugePage;
  void *region = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (region == MAP_FAILED)
    return nullptr;
  auto *aligned = reinterpret_cast<uint8_t *>(
      (uintptr_t(region) + kHugePage - 1) / kHugePage * kHugePage);
  // Failure (no THP support) only leaves 4 KiB pages.
  ::madvise(aligned, bytes, MADV_HUGEPAGE);
  return std::shared_ptr<uint8_t>(
      aligned, [region, mapped](uint8_t *) { ::munmap(region, mapped); });
}

/// TPC_PACK=0 leaves weights as loaded (for comparison).
bool packingEnabled() {
  static const bool enabled = [] {
    const char *value = std::getenv("TPC_PACK");
    return !value || std::strcmp(value, "0") != 0;
  }();
  return enabled;
}

template <typename T>
std::shared_ptr<const cpu::PackedLinearWeight>
pack(dt type, const T *weight, bool inOut, int64_t in, int64_t out,
     const cpu::ConsumedBytes &consumed) {
  if (in <= 0 || out <= 0 || !packingEnabled())
    return nullptr;
  // Only where every call will find a JIT kernel for the packed layout.
  for (int64_t rows : kPackProbeRows)
    if (!matmulFor({type, rows, in, std::min(out, blockWidth(rows)), out,
                    Form::Packed, false, false, Activation::None}))
      return nullptr;
  auto packed = std::make_shared<cpu::PackedLinearWeight>();
  try {
    dnnl::memory::desc whole({in, out}, type, packedTag(type));
    int64_t blocks = (out + kPackedColumns - 1) / kPackedColumns;
    packed->bf16 = type == dt::bf16;
    packed->in = in;
    packed->out = out;
    packed->blockBytes = whole.get_size() / blocks;
    // The hand-written packer's block size must be oneDNN's.
    constexpr int64_t panel = sizeof(T) == 2 ? 32 : 16;
    if (packed->blockBytes !=
        size_t((in + panel - 1) / panel * panel * kPackedColumns) * sizeof(T))
      return nullptr;
    // 64-byte aligned for the kernels' loads.
    packed->data = allocatePacked(whole.get_size(), bool(consumed));
    if (!packed->data)
      return nullptr;
  } catch (const dnnl::error &) {
    return nullptr;
  }
  // Pieces of columns on the rank's threads; an [out, in] piece is whole
  // rows of the source, handed to `consumed` once packed (a mapped
  // checkpoint's pages then leave memory as the packed copy grows).
  int64_t pieces = (out + kPackPieceColumns - 1) / kPackPieceColumns;
  cpu::parallelFor(pieces, 1, [&](int64_t first, int64_t last) {
    for (int64_t p = first; p < last; ++p) {
      int64_t b = p * kPackPieceColumns,
              width = std::min(kPackPieceColumns, out - b);
      packColumns(weight, inOut, in, out, b, width,
                  reinterpret_cast<T *>(packed->data.get() +
                                        b / kPackedColumns *
                                            packed->blockBytes));
      if (!inOut && consumed)
        consumed(weight + b * in, size_t(width * in) * sizeof(T));
    }
  });
  return packed;
}
} // namespace

bool cpu::linearDnnl(const float *x, int64_t rows, int64_t in,
                     const float *weight, bool inOut, int64_t out,
                     const float *bias, float *y, Activation act) {
  return f32Enabled() &&
         linearBlocks(dt::f32, x, rows, in,
                      Weights<float>{weight, inOut ? Form::InOut : Form::OutIn},
                      out, bias, y, act);
}

bool cpu::linearBf16(const uint16_t *x, int64_t rows, int64_t in,
                     const uint16_t *weight, bool inOut, int64_t out,
                     const uint16_t *bias, uint16_t *y, Activation act) {
  return linearBlocks(
      dt::bf16, x, rows, in,
      Weights<uint16_t>{weight, inOut ? Form::InOut : Form::OutIn}, out, bias,
      y, act);
}

std::shared_ptr<const cpu::PackedLinearWeight>
cpu::packLinearF32(const float *weight, bool inOut, int64_t in, int64_t out,
                   const ConsumedBytes &consumed) {
  return f32Enabled() ? pack(dt::f32, weight, inOut, in, out, consumed)
                      : nullptr;
}

std::shared_ptr<const cpu::PackedLinearWeight>
cpu::packLinearBf16(const uint16_t *weight, bool inOut, int64_t in,
                    int64_t out, const ConsumedBytes &consumed) {
  return pack(dt::bf16, weight, inOut, in, out, consumed);
}

void cpu::linearPacked(const void *x, int64_t rows,
                       const PackedLinearWeight &weight, const void *bias,
                       void *y, Activation act) {
  auto run = [&](dt type, auto element) {
    using T = decltype(element);
    return linearBlocks(
        type, static_cast<const T *>(x), rows, weight.in,
        Weights<T>{reinterpret_cast<const T *>(weight.data.get()),
                   Form::Packed, weight.blockBytes},
        weight.out, static_cast<const T *>(bias), static_cast<T *>(y), act);
  };
  // Packing checked that kernels exist for this layout.
  if (!(weight.bf16 ? run(dt::bf16, uint16_t()) : run(dt::f32, float())))
    throw std::runtime_error(
        "oneDNN has no kernel for a packed weight of " +
        std::to_string(weight.in) + " x " + std::to_string(weight.out) +
        " at " + std::to_string(rows) + " rows");
}
