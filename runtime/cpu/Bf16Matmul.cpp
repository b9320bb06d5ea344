//===- Bf16Matmul.cpp - bf16 linear layers through oneDNN -----------------===//
#include "runtime/cpu/Bf16Matmul.h"
#include "runtime/cpu/Threads.h"

#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

using namespace tpc;

namespace {
/// (rows, in, out, inOut, bias, activation).
using Key = std::tuple<int64_t, int64_t, int64_t, bool, bool, Activation>;

/// A matmul and the scratchpad it needs. Ranks are threads that run the
/// same primitive at once, so each call brings its own scratchpad
/// (scratchpad_mode::user): oneDNN's own is shared by every caller.
struct Matmul {
  dnnl::matmul primitive;
  dnnl::memory::desc scratchpad;
};

struct Primitives {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  std::mutex mutex;
  /// Null where oneDNN has no implementation on this CPU.
  std::map<Key, std::shared_ptr<Matmul>> matmuls;
};

Primitives &primitives() {
  static Primitives p;
  return p;
}

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

std::shared_ptr<Matmul> matmulFor(const Key &key) {
  Primitives &p = primitives();
  std::lock_guard<std::mutex> lock(p.mutex);
  auto it = p.matmuls.find(key);
  if (it != p.matmuls.end())
    return it->second;
  auto [rows, in, out, inOut, bias, act] = key;
  std::shared_ptr<Matmul> made;
  try {
    // The row count is part of the primitive: oneDNN's kernels for a
    // known shape are faster than for one given at run time.
    dnnl::memory::desc src({rows, in}, dt::bf16, tag::ab);
    dnnl::memory::desc weights({in, out}, dt::bf16, inOut ? tag::ab : tag::ba);
    dnnl::memory::desc dst({rows, out}, dt::bf16, tag::ab);
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
    auto desc = bias ? dnnl::matmul::desc(
                           src, weights,
                           dnnl::memory::desc({1, out}, dt::bf16, tag::ab), dst)
                     : dnnl::matmul::desc(src, weights, dst);
    dnnl::matmul::primitive_desc pd(desc, attr, p.engine);
    made = std::make_shared<Matmul>(
        Matmul{dnnl::matmul(pd), pd.scratchpad_desc()});
  } catch (const dnnl::error &) {
    made = nullptr; // No bf16 matmul here: the caller widens to f32.
  }
  p.matmuls.emplace(key, made);
  return made;
}
} // namespace

bool cpu::linearBf16(const uint16_t *x, int64_t rows, int64_t in,
                     const uint16_t *weight, bool inOut, int64_t out,
                     const uint16_t *bias, uint16_t *y, Activation act) {
  std::shared_ptr<Matmul> matmul =
      matmulFor({rows, in, out, inOut, bias != nullptr, act});
  if (!matmul)
    return false;
  dnnl::engine &engine = primitives().engine;
  thread_local dnnl::stream stream(engine);
  // oneDNN parallelizes over OpenMP threads: the rank's share of cores.
  omp_set_num_threads(threadsPerRank());
  auto memory = [&](dnnl::memory::dims dims, tag layout, const void *data) {
    return dnnl::memory({dims, dt::bf16, layout}, engine,
                        const_cast<void *>(data));
  };
  std::unordered_map<int, dnnl::memory> args = {
      {DNNL_ARG_SRC, memory({rows, in}, tag::ab, x)},
      {DNNL_ARG_WEIGHTS, memory({in, out}, inOut ? tag::ab : tag::ba, weight)},
      {DNNL_ARG_DST, memory({rows, out}, tag::ab, y)}};
  if (bias)
    args.emplace(DNNL_ARG_BIAS, memory({1, out}, tag::ab, bias));
  thread_local std::vector<uint8_t> scratchpad;
  size_t scratchpadBytes = matmul->scratchpad.get_size();
  if (scratchpad.size() < scratchpadBytes)
    scratchpad.resize(scratchpadBytes);
  args.emplace(DNNL_ARG_SCRATCHPAD,
               dnnl::memory(matmul->scratchpad, engine, scratchpad.data()));
  matmul->primitive.execute(stream, args);
  stream.wait();
  return true;
}
