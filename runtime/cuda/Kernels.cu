//===- Kernels.cu - the CUDA backend's kernels ----------------------------===//
#include "runtime/cuda/Kernels.h"
#include "runtime/core/ArgmaxRule.h"
#include "runtime/cuda/Check.h"
#include "runtime/cuda/FlashAttention.h"
#include "runtime/weights/RandomDraw.h"

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <stdexcept>
#include <type_traits>
#include <map>
#include <vector>

using namespace tpc;
using namespace tpc::cuda;

namespace {
cudaDataType_t cudaType(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return CUDA_R_32F;
  case DType::BF16:
    return CUDA_R_16BF;
  case DType::F16:
    return CUDA_R_16F;
  }
  throw std::runtime_error("unknown dtype");
}

// f32 in and out of every storage type; arithmetic is always f32.
__device__ inline float load(float v) { return v; }
__device__ inline float load(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ inline float load(__half v) { return __half2float(v); }
template <typename T> __device__ inline T store(float v);
template <> __device__ inline float store<float>(float v) { return v; }
template <> __device__ inline __nv_bfloat16 store<__nv_bfloat16>(float v) {
  return __float2bfloat16(v);
}
template <> __device__ inline __half store<__half>(float v) {
  return __float2half(v);
}

/// Calls fn.template operator()<T>() for the storage type of `dtype`.
template <typename Fn> void dispatch(DType dtype, Fn &&fn) {
  switch (dtype) {
  case DType::F32:
    return fn(float());
  case DType::BF16:
    return fn(__nv_bfloat16());
  case DType::F16:
    return fn(__half());
  }
}

int blocksFor(int64_t n, int threads) {
  return int(std::min<int64_t>((n + threads - 1) / threads, 65535));
}

// Elementwise kernels: 16 bytes of each operand per thread and step where
// sizes and pointers allow (the common case), one element otherwise; the
// arithmetic per element is the same either way.
template <typename T> constexpr int kVecOf = 16 / sizeof(T);

bool vectorizable(int64_t n, int vec, std::initializer_list<const void *> ps) {
  if (n % vec != 0)
    return false;
  for (const void *p : ps)
    if (p && reinterpret_cast<uintptr_t>(p) % 16 != 0)
      return false;
  return true;
}

template <typename T, typename Op>
__global__ void binaryKernelVec(const T *a, const T *b, int64_t n, T *out,
                                Op op) {
  constexpr int V = kVecOf<T>;
  for (int64_t i = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) * V;
       i < n; i += int64_t(gridDim.x) * blockDim.x * V) {
    int4 va = *reinterpret_cast<const int4 *>(a + i);
    int4 vb = *reinterpret_cast<const int4 *>(b + i), vo;
    const T *ea = reinterpret_cast<const T *>(&va);
    const T *eb = reinterpret_cast<const T *>(&vb);
    T *eo = reinterpret_cast<T *>(&vo);
#pragma unroll
    for (int e = 0; e < V; ++e)
      eo[e] = store<T>(op(load(ea[e]), load(eb[e])));
    *reinterpret_cast<int4 *>(out + i) = vo;
  }
}

template <typename T, typename Op>
__global__ void unaryKernelVec(const T *x, int64_t n, T *out, Op op) {
  constexpr int V = kVecOf<T>;
  for (int64_t i = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) * V;
       i < n; i += int64_t(gridDim.x) * blockDim.x * V) {
    int4 vx = *reinterpret_cast<const int4 *>(x + i), vo;
    const T *ex = reinterpret_cast<const T *>(&vx);
    T *eo = reinterpret_cast<T *>(&vo);
#pragma unroll
    for (int e = 0; e < V; ++e)
      eo[e] = store<T>(op(load(ex[e])));
    *reinterpret_cast<int4 *>(out + i) = vo;
  }
}

template <typename T, typename Op>
__global__ void binaryKernel(const T *a, const T *b, int64_t n, T *out,
                             Op op) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    out[i] = store<T>(op(load(a[i]), load(b[i])));
}

template <typename T, typename Op>
__global__ void unaryKernel(const T *x, int64_t n, T *out, Op op) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    out[i] = store<T>(op(load(x[i])));
}

template <typename From, typename To>
__global__ void convertKernel(const From *x, int64_t n, To *out) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    out[i] = store<To>(load(x[i]));
}

template <typename T>
__global__ void broadcastRows(const T *bias, int64_t rows, int64_t cols,
                              T *y) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
       i < rows * cols; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = bias[i % cols];
}

/// Reduces `v` over the block with `op` (identity `init`); every thread
/// gets the result.
template <typename Op>
__device__ float blockReduce(float v, float init, Op op) {
  __shared__ float partial[32];
  for (int o = 16; o > 0; o /= 2)
    v = op(v, __shfl_down_sync(0xffffffff, v, o));
  if (threadIdx.x % 32 == 0)
    partial[threadIdx.x / 32] = v;
  __syncthreads();
  if (threadIdx.x < 32) {
    v = threadIdx.x < (blockDim.x + 31) / 32 ? partial[threadIdx.x] : init;
    for (int o = 16; o > 0; o /= 2)
      v = op(v, __shfl_down_sync(0xffffffff, v, o));
    if (threadIdx.x == 0)
      partial[0] = v;
  }
  __syncthreads();
  float total = partial[0];
  __syncthreads();
  return total;
}

struct SumOp {
  __device__ float operator()(float a, float b) const { return a + b; }
};
struct MaxOp {
  __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

__device__ float blockSum(float v) { return blockReduce(v, 0.0f, SumOp()); }

/// One block per row. With `residual`, the row is a + residual, also
/// written to `sum`. `rms` selects RMSNorm (no mean, no shift).
template <typename T>
__global__ void normKernel(const T *x, const T *residual, int64_t hidden,
                           const T *scale, const T *shift, float eps, bool rms,
                           T *sum, T *y) {
  int64_t row = blockIdx.x;
  const T *in = x + row * hidden;
  auto value = [&](int64_t i) {
    float v = load(in[i]);
    return residual ? v + load(residual[row * hidden + i]) : v;
  };
  float s = 0, sq = 0;
  for (int64_t i = threadIdx.x; i < hidden; i += blockDim.x) {
    float v = value(i);
    s += v;
    sq += v * v;
  }
  float mean = rms ? 0.0f : blockSum(s) / hidden;
  float meanSq = blockSum(sq) / hidden;
  float var = rms ? meanSq : meanSq - mean * mean;
  float inv = rsqrtf(var + eps);
  for (int64_t i = threadIdx.x; i < hidden; i += blockDim.x) {
    float v = value(i);
    if (sum)
      sum[row * hidden + i] = store<T>(v);
    float n = (v - mean) * inv * load(scale[i]);
    y[row * hidden + i] = store<T>(shift ? n + load(shift[i]) : n);
  }
}

template <typename T>
__global__ void embeddingKernel(const T *table, int64_t rowBegin,
                                int64_t localRows, int64_t hidden,
                                const int32_t *ids, int64_t count, T *out) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
       i < count * hidden; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t token = i / hidden, h = i % hidden;
    int64_t local = int64_t(ids[token]) - rowBegin;
    out[i] = local >= 0 && local < localRows ? table[local * hidden + h]
                                             : store<T>(0.0f);
  }
}

/// The (cos, sin) table of Context::ropeTable.
__global__ void ropeTableKernel(float2 *table, int64_t positions,
                                int64_t headDim, double theta) {
  int64_t half = headDim / 2;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
       i < positions * half; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t position = i / half, pair = i % half;
    double angle = position * pow(theta, -2.0 * pair / headDim);
    table[i] = make_float2(float(cos(angle)), float(sin(angle)));
  }
}

template <typename T>
__global__ void ropeKernel(T *x, int64_t batch, int64_t seq, int64_t heads,
                           int64_t headDim, const float2 *table,
                           const int32_t *offsets) {
  int64_t half = headDim / 2;
  int64_t total = batch * seq * heads * half;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t pair = i % half, rest = i / half;
    int64_t token = rest / heads;
    int64_t s = token % seq, b = token / seq;
    int64_t position = (offsets ? offsets[b] : 0) + s;
    T *v = x + rest * headDim;
    float2 cs = table[position * half + pair];
    float x0 = load(v[pair]), x1 = load(v[pair + half]);
    v[pair] = store<T>(x0 * cs.x - x1 * cs.y);
    v[pair + half] = store<T>(x1 * cs.x + x0 * cs.y);
  }
}

/// Rows of causal scores [heads, seq, keys] (f32) to probabilities (T), one
/// block per row: query i is at position offset + i and sees keys up to
/// it, within the window.
template <typename T>
__global__ void softmaxKernel(const float *scores, int64_t seq, int64_t keys,
                              int64_t offset, float scale, int64_t window,
                              T *probs) {
  int64_t row = blockIdx.x, i = offset + row % seq;
  int64_t first = window > 0 ? max(int64_t(0), i - window + 1) : 0;
  const float *in = scores + row * keys;
  float m = -INFINITY;
  for (int64_t j = first + threadIdx.x; j <= i; j += blockDim.x)
    m = fmaxf(m, in[j] * scale);
  float best = blockReduce(m, -INFINITY, MaxOp());
  float local = 0;
  for (int64_t j = first + threadIdx.x; j <= i; j += blockDim.x)
    local += __expf(in[j] * scale - best);
  float total = blockSum(local);
  for (int64_t j = threadIdx.x; j < keys; j += blockDim.x) {
    bool visible = j >= first && j <= i;
    probs[row * keys + j] =
        store<T>(visible ? __expf(in[j] * scale - best) / total : 0.0f);
  }
}

constexpr int kThreads = 256;
constexpr int kGemvWarps = 4;   // outputs per block of the GEMV kernel
// Rows the GEMV kernel takes at most: on an H200 it reads Llama-3-8B's
// weights 10-40% faster than cuBLAS at 1 and 2 rows, slower from 4
// (tpc-gpu-kernel-bench, docs/benchmarks.md).
constexpr int kGemvMaxRows = 2;

template <typename T, typename Op>
void binary(Context &ctx, const void *a, const void *b, int64_t n, void *out,
            Op op) {
  auto stream = cudaStream_t(ctx.stream());
  auto ta = static_cast<const T *>(a), tb = static_cast<const T *>(b);
  auto to = static_cast<T *>(out);
  if (vectorizable(n, kVecOf<T>, {a, b, out}))
    binaryKernelVec<<<blocksFor(n / kVecOf<T>, kThreads), kThreads, 0,
                      stream>>>(ta, tb, n, to, op);
  else
    binaryKernel<<<blocksFor(n, kThreads), kThreads, 0, stream>>>(ta, tb, n,
                                                                   to, op);
  check(cudaGetLastError(), "binary kernel");
}

template <typename T, typename Op>
void unary(Context &ctx, const void *x, int64_t n, void *out, Op op) {
  auto stream = cudaStream_t(ctx.stream());
  auto tx = static_cast<const T *>(x);
  auto to = static_cast<T *>(out);
  if (vectorizable(n, kVecOf<T>, {x, out}))
    unaryKernelVec<<<blocksFor(n / kVecOf<T>, kThreads), kThreads, 0,
                     stream>>>(tx, n, to, op);
  else
    unaryKernel<<<blocksFor(n, kThreads), kThreads, 0, stream>>>(tx, n, to,
                                                                  op);
  check(cudaGetLastError(), "unary kernel");
}

struct AddOp {
  __device__ float operator()(float a, float b) const { return a + b; }
};
struct MulOp {
  __device__ float operator()(float a, float b) const { return a * b; }
};
struct GeluTanhOp {
  __device__ float operator()(float v) const {
    return 0.5f * v *
           (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
  }
};
struct SiluOp {
  __device__ float operator()(float v) const { return v / (1.0f + __expf(-v)); }
};
struct SiluMulOp {
  __device__ float operator()(float gate, float up) const {
    return SiluOp()(gate) * up;
  }
};

/// Row-major C[m, n] = A[m, k] B (B is [k, n] row-major, or [n, k] used
/// transposed), through column-major cuBLAS: C^T = B^T A^T.
void gemm(Context &ctx, DType dtype, const void *a, int64_t m, int64_t k,
          const void *b, bool bIsKN, int64_t n, void *c, float beta) {
  float alpha = 1.0f;
  cudaDataType_t t = cudaType(dtype);
  check(tpc::cuda::cublas().gemmEx(cublasHandle_t(ctx.cublas()),
                     bIsKN ? CUBLAS_OP_N : CUBLAS_OP_T, CUBLAS_OP_N, int(n),
                     int(m), int(k), &alpha, b, t, int(bIsKN ? n : k), a, t,
                     int(k), &beta, c, t, int(n), CUBLAS_COMPUTE_32F,
                     CUBLAS_GEMM_DEFAULT),
        "gemm");
}
} // namespace

struct Context::Impl {
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  // deviceInts' buffer and what it holds.
  int32_t *ints = nullptr;
  int64_t intsCapacity = 0;
  std::vector<int32_t> intsHeld;
  // ropeTable's tables by (theta, headDim), and the positions each holds.
  struct RopeTable {
    float2 *data = nullptr;
    int64_t positions = 0;
  };
  std::map<std::pair<double, int64_t>, RopeTable> ropeTables;
};

Context::Context() : impl(new Impl) {
  // Tensors come from the device's stream-ordered pool, which by default
  // hands freed memory back to the driver at every synchronization (each
  // pass, each decode step) and maps it again on the next allocation.
  // Keep it, as PyTorch's caching allocator does: the pool holds the peak.
  int device = 0;
  cudaMemPool_t pool;
  check(cudaGetDevice(&device), "device");
  check(cudaDeviceGetDefaultMemPool(&pool, device), "memory pool");
  uint64_t keepAll = UINT64_MAX;
  check(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold,
                                &keepAll),
        "memory pool release threshold");
  check(cudaStreamCreate(&impl->stream), "stream");
  check(tpc::cuda::cublas().create(&impl->cublas), "create");
  check(tpc::cuda::cublas().setStream(impl->cublas, impl->stream), "set stream");
}

Context::~Context() {
  if (impl->ints)
    cudaFreeAsync(impl->ints, impl->stream);
  for (auto &entry : impl->ropeTables)
    cudaFreeAsync(entry.second.data, impl->stream);
  tpc::cuda::cublas().destroy(impl->cublas);
  cudaStreamDestroy(impl->stream);
}

void Context::synchronize() {
  check(cudaStreamSynchronize(impl->stream), "synchronize");
}
void *Context::stream() const { return impl->stream; }
void *Context::cublas() const { return impl->cublas; }

const void *Context::ropeTable(double theta, int64_t headDim,
                               int64_t positions) {
  Impl::RopeTable &table = impl->ropeTables[{theta, headDim}];
  if (positions > table.positions) {
    // Grown at least twofold, so a generation recomputes it a few times.
    int64_t grown = std::max<int64_t>({positions, 2 * table.positions, 1024});
    if (table.data)
      check(cudaFreeAsync(table.data, impl->stream), "RoPE table");
    int64_t entries = grown * (headDim / 2);
    check(cudaMallocAsync(reinterpret_cast<void **>(&table.data),
                          sizeof(float2) * std::max<int64_t>(entries, 1),
                          impl->stream),
          "RoPE table");
    ropeTableKernel<<<blocksFor(entries, kThreads), kThreads, 0,
                      impl->stream>>>(table.data, grown, headDim, theta);
    check(cudaGetLastError(), "RoPE table");
    table.positions = grown;
  }
  return table.data;
}

const int32_t *Context::deviceInts(const int32_t *values, int64_t n) {
  if (n == 0)
    return nullptr;
  if (impl->intsHeld.size() == size_t(n) &&
      std::equal(values, values + n, impl->intsHeld.begin()))
    return impl->ints;
  if (n > impl->intsCapacity) {
    // Freed in stream order: kernels queued earlier still read it.
    if (impl->ints)
      check(cudaFreeAsync(impl->ints, impl->stream), "device ints");
    impl->intsCapacity = std::max<int64_t>(n, 64);
    check(cudaMallocAsync(reinterpret_cast<void **>(&impl->ints),
                          sizeof(int32_t) * impl->intsCapacity, impl->stream),
          "device ints");
  }
  // From pageable memory this copy is staged before the call returns, so
  // `values` may go right after; it lands after every kernel queued before.
  check(cudaMemcpyAsync(impl->ints, values, sizeof(int32_t) * n,
                        cudaMemcpyHostToDevice, impl->stream),
        "device ints");
  impl->intsHeld.assign(values, values + n);
  return impl->ints;
}

bool tpc::cuda::deviceAvailable(std::string *why) {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    if (why)
      *why = err == cudaErrorInsufficientDriver
                 ? std::string("no CUDA driver for this runtime (") +
                       cudaGetErrorString(err) + ")"
             : err != cudaSuccess && err != cudaErrorNoDevice
                 ? std::string(cudaGetErrorString(err))
                 : std::string("no CUDA device present");
    return false;
  }
  return true;
}

int tpc::cuda::deviceCount() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess ? count : 0;
}

void tpc::cuda::setDevice(int device) {
  check(cudaSetDevice(device), "cudaSetDevice");
}

void tpc::cuda::convert(Context &ctx, DType from, const void *x, DType to,
                        int64_t n, void *out) {
  dispatch(from, [&](auto fromTag) {
    dispatch(to, [&](auto toTag) {
      using From = decltype(fromTag);
      using To = decltype(toTag);
      convertKernel<<<blocksFor(n, kThreads), kThreads, 0,
                      cudaStream_t(ctx.stream())>>>(
          static_cast<const From *>(x), n, static_cast<To *>(out));
      check(cudaGetLastError(), "convert");
    });
  });
}

namespace {
template <typename T>
__global__ void randomFillKernel(T *out, int64_t n, uint64_t key,
                                 float scale, float offset) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    float v = weights::randomElement(key, uint64_t(i), scale);
    if (offset != 0.0f)
      v += offset;
    out[i] = store<T>(v);
  }
}
} // namespace

void tpc::cuda::randomFill(Context &ctx, DType dtype, uint64_t key,
                           float scale, float offset, int64_t n, void *out) {
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    randomFillKernel<<<blocksFor(n, kThreads), kThreads, 0,
                       cudaStream_t(ctx.stream())>>>(static_cast<T *>(out), n,
                                                     key, scale, offset);
    check(cudaGetLastError(), "random weights");
  });
}

namespace {
/// y = act(y + bias) in place, the epilogue of a fused linear; V elements
/// (one 16-byte vector, cols a multiple of V) or 1 per thread and step.
template <typename T, int V, typename Op>
__global__ void biasActivationKernel(T *y, const T *bias, int64_t rows,
                                     int64_t cols, Op op) {
  using Chunk = std::conditional_t<V == 1, T, int4>;
  for (int64_t i = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) * V;
       i < rows * cols; i += int64_t(gridDim.x) * blockDim.x * V) {
    Chunk chunk = *reinterpret_cast<const Chunk *>(y + i);
    T *e = reinterpret_cast<T *>(&chunk);
    int64_t col = bias ? i % cols : 0;
#pragma unroll
    for (int k = 0; k < V; ++k) {
      float v = load(e[k]);
      if (bias)
        v += load(bias[col + k]);
      e[k] = store<T>(op(v));
    }
    *reinterpret_cast<Chunk *>(y + i) = chunk;
  }
}
struct NoActivation {
  __device__ float operator()(float v) const { return v; }
};

/// y[r, j] = op(x[r, :] . w[j, :] + bias[j]) for rows r < `rows` <= R: one
/// warp per output j reads w's row once, in 16-byte vectors (streamed past
/// L1, which keeps x for the other warps), f32 accumulation.
template <typename T, int R, typename Op>
__global__ void __launch_bounds__(kGemvWarps * 32)
    gemvKernel(const T *__restrict__ x, int rows, int64_t in,
               const T *__restrict__ w, int64_t out,
               const T *__restrict__ bias, Op op, T *__restrict__ y) {
  constexpr int kVec = 16 / sizeof(T);
  const int lane = threadIdx.x % 32;
  const int64_t j = blockIdx.x * int64_t(kGemvWarps) + threadIdx.x / 32;
  if (j >= out)
    return;
  const T *row = w + j * in;
  float acc[R];
#pragma unroll
  for (int r = 0; r < R; ++r)
    acc[r] = 0.0f;
#pragma unroll 4
  for (int64_t i = int64_t(lane) * kVec; i < in; i += 32 * kVec) {
    int4 wv = __ldcs(reinterpret_cast<const int4 *>(row + i));
    const T *we = reinterpret_cast<const T *>(&wv);
#pragma unroll
    for (int r = 0; r < R; ++r) {
      if (r < rows) {
        int4 xv = __ldg(reinterpret_cast<const int4 *>(x + r * in + i));
        const T *xe = reinterpret_cast<const T *>(&xv);
#pragma unroll
        for (int e = 0; e < kVec; ++e)
          acc[r] = fmaf(load(we[e]), load(xe[e]), acc[r]);
      }
    }
  }
  float b = bias ? load(bias[j]) : 0.0f;
#pragma unroll
  for (int r = 0; r < R; ++r) {
    float v = acc[r];
#pragma unroll
    for (int delta = 16; delta > 0; delta /= 2)
      v += __shfl_xor_sync(0xffffffff, v, delta);
    if (lane == r && r < rows)
      y[r * out + j] = store<T>(op(v + b));
  }
}

/// The most rows the GEMV kernel takes (TPC_GEMV=N lowers it, 0 turns it
/// off): past that, cuBLAS's tensor-core GEMMs are faster.
int gemvMaxRows() {
  static const int rows = [] {
    const char *env = std::getenv("TPC_GEMV");
    return env ? std::clamp(std::atoi(env), 0, kGemvMaxRows) : kGemvMaxRows;
  }();
  return rows;
}

/// The GEMV kernel for y = act(x W^T + bias) when it applies.
bool gemv(Context &ctx, DType dtype, const void *x, int64_t rows, int64_t in,
          const void *weight, bool inOut, int64_t out, const void *bias,
          Activation act, void *y) {
  auto aligned = [](const void *p) {
    return reinterpret_cast<uintptr_t>(p) % 16 == 0;
  };
  if (inOut || rows < 1 || rows > gemvMaxRows() ||
      in * int64_t(dtypeSize(dtype)) % 16 != 0 || !aligned(x) ||
      !aligned(weight))
    return false;
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    auto go = [&](auto r, auto op) {
      gemvKernel<T, r(), decltype(op)>
          <<<unsigned((out + kGemvWarps - 1) / kGemvWarps), kGemvWarps * 32, 0,
             cudaStream_t(ctx.stream())>>>(
              static_cast<const T *>(x), int(rows), in,
              static_cast<const T *>(weight), out,
              static_cast<const T *>(bias), op, static_cast<T *>(y));
    };
    auto withRows = [&](auto op) {
      static_assert(kGemvMaxRows == 2);
      if (rows == 1)
        go(std::integral_constant<int, 1>(), op);
      else
        go(std::integral_constant<int, 2>(), op);
    };
    if (act == Activation::Gelu)
      withRows(GeluTanhOp());
    else if (act == Activation::Silu)
      withRows(SiluOp());
    else
      withRows(NoActivation());
    check(cudaGetLastError(), "gemv");
  });
  return true;
}

/// One block per row: each thread's best of its columns, then the block's.
template <typename T>
__global__ void rowArgmaxKernel(const T *x, int64_t cols, float *values,
                                int *indices) {
  const T *row = x + blockIdx.x * cols;
  float best = 0.0f;
  int at = -1;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    float v = load(row[c]);
    if (argmaxBeats(v, c, best, at)) {
      best = v;
      at = int(c);
    }
  }
  __shared__ float bestValue[kThreads];
  __shared__ int bestAt[kThreads];
  bestValue[threadIdx.x] = best;
  bestAt[threadIdx.x] = at;
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half &&
        argmaxBeats(bestValue[threadIdx.x + half],
                    bestAt[threadIdx.x + half], bestValue[threadIdx.x],
                    bestAt[threadIdx.x])) {
      bestValue[threadIdx.x] = bestValue[threadIdx.x + half];
      bestAt[threadIdx.x] = bestAt[threadIdx.x + half];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    values[blockIdx.x] = bestValue[0];
    indices[blockIdx.x] = bestAt[0];
  }
}

/// One past the last position of any sequence's tokens: offsets[b] + seq
/// (host offsets, or null for zeros).
int64_t positionsSeen(const int32_t *offsets, int64_t batch, int64_t seq) {
  int64_t end = seq;
  for (int64_t b = 0; offsets && b < batch; ++b)
    end = std::max<int64_t>(end, offsets[b] + seq);
  return end;
}

template <typename T>
__global__ void writeCacheKernel(const T *x, int64_t batch, int64_t seq,
                                 int64_t width, T *cache, int64_t capacity,
                                 const int32_t *offsets) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
       i < batch * seq * width; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t c = i % width, row = i / width, b = row / seq, p = row % seq;
    cache[(b * capacity + offsets[b] + p) * width + c] = x[i];
  }
}
} // namespace

void tpc::cuda::linear(Context &ctx, DType dtype, const void *x, int64_t rows,
                       int64_t in, const void *weight, bool inOut,
                       int64_t out, const void *bias, Activation act,
                       void *y) {
  if (gemv(ctx, dtype, x, rows, in, weight, inOut, out, bias, act, y))
    return;
  if (act != Activation::None) {
    gemm(ctx, dtype, x, rows, in, weight, inOut, out, y, 0.0f);
    dispatch(dtype, [&](auto tag) {
      using T = decltype(tag);
      auto launch = [&](auto op) {
        auto stream = cudaStream_t(ctx.stream());
        auto ty = static_cast<T *>(y);
        auto tb = static_cast<const T *>(bias);
        if (vectorizable(out, kVecOf<T>, {y}))
          biasActivationKernel<T, kVecOf<T>>
              <<<blocksFor(rows * out / kVecOf<T>, kThreads), kThreads, 0,
                 stream>>>(ty, tb, rows, out, op);
        else
          biasActivationKernel<T, 1>
              <<<blocksFor(rows * out, kThreads), kThreads, 0, stream>>>(
                  ty, tb, rows, out, op);
      };
      if (act == Activation::Gelu)
        launch(GeluTanhOp());
      else
        launch(SiluOp());
      check(cudaGetLastError(), "bias and activation");
    });
    return;
  }
  if (bias)
    dispatch(dtype, [&](auto tag) {
      using T = decltype(tag);
      broadcastRows<<<blocksFor(rows * out, kThreads), kThreads, 0,
                      cudaStream_t(ctx.stream())>>>(
          static_cast<const T *>(bias), rows, out, static_cast<T *>(y));
      check(cudaGetLastError(), "bias");
    });
  gemm(ctx, dtype, x, rows, in, weight, inOut, out, y, bias ? 1.0f : 0.0f);
}

void tpc::cuda::lmHead(Context &ctx, DType dtype, const void *x, int64_t rows,
                       int64_t hidden, const void *table, int64_t vocab,
                       void *logits) {
  if (gemv(ctx, dtype, x, rows, hidden, table, /*inOut=*/false, vocab,
           nullptr, Activation::None, logits))
    return;
  gemm(ctx, dtype, x, rows, hidden, table, /*bIsKN=*/false, vocab, logits,
       0.0f);
}

void tpc::cuda::writeCache(Context &ctx, DType dtype, const void *x,
                           int64_t batch, int64_t seq, int64_t width,
                           void *cache, int64_t capacity,
                           const int32_t *offsets) {
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    writeCacheKernel<<<blocksFor(batch * seq * width, kThreads), kThreads, 0,
                       cudaStream_t(ctx.stream())>>>(
        static_cast<const T *>(x), batch, seq, width, static_cast<T *>(cache),
        capacity, offsets);
    check(cudaGetLastError(), "KV cache write");
  });
}

void tpc::cuda::rowArgmax(Context &ctx, DType dtype, const void *x,
                          int64_t rows, int64_t cols, float *values,
                          int64_t *indices) {
  if (rows == 0)
    return;
  cudaStream_t stream = cudaStream_t(ctx.stream());
  // [rows] values, then [rows] indices, in one allocation and one copy.
  void *result = nullptr;
  size_t bytes = rows * (sizeof(float) + sizeof(int));
  check(cudaMallocAsync(&result, bytes, stream), "argmax");
  auto *deviceValues = static_cast<float *>(result);
  auto *deviceIndices = reinterpret_cast<int *>(deviceValues + rows);
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    rowArgmaxKernel<<<unsigned(rows), kThreads, 0, stream>>>(
        static_cast<const T *>(x), cols, deviceValues, deviceIndices);
    check(cudaGetLastError(), "argmax");
  });
  std::vector<char> host(bytes);
  check(cudaMemcpyAsync(host.data(), result, bytes, cudaMemcpyDeviceToHost,
                        stream),
        "argmax result");
  check(cudaFreeAsync(result, stream), "argmax");
  ctx.synchronize();
  std::memcpy(values, host.data(), rows * sizeof(float));
  const int *at = reinterpret_cast<const int *>(host.data() +
                                                rows * sizeof(float));
  for (int64_t r = 0; r < rows; ++r)
    indices[r] = at[r];
}

void tpc::cuda::embedding(Context &ctx, DType dtype, const void *table,
                          int64_t rowBegin, int64_t localRows, int64_t hidden,
                          const int32_t *ids, int64_t count, void *out) {
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    embeddingKernel<<<blocksFor(count * hidden, kThreads), kThreads, 0,
                      cudaStream_t(ctx.stream())>>>(
        static_cast<const T *>(table), rowBegin, localRows, hidden, ids,
        count, static_cast<T *>(out));
    check(cudaGetLastError(), "embedding");
  });
}

void tpc::cuda::add(Context &ctx, DType dtype, const void *a, const void *b,
                    int64_t n, void *out) {
  dispatch(dtype, [&](auto tag) {
    binary<decltype(tag)>(ctx, a, b, n, out, AddOp());
  });
}

void tpc::cuda::mul(Context &ctx, DType dtype, const void *a, const void *b,
                    int64_t n, void *out) {
  dispatch(dtype, [&](auto tag) {
    binary<decltype(tag)>(ctx, a, b, n, out, MulOp());
  });
}

void tpc::cuda::geluTanh(Context &ctx, DType dtype, const void *x, int64_t n,
                         void *out) {
  dispatch(dtype,
           [&](auto tag) { unary<decltype(tag)>(ctx, x, n, out, GeluTanhOp()); });
}

void tpc::cuda::silu(Context &ctx, DType dtype, const void *x, int64_t n,
                     void *out) {
  dispatch(dtype,
           [&](auto tag) { unary<decltype(tag)>(ctx, x, n, out, SiluOp()); });
}

void tpc::cuda::siluMul(Context &ctx, DType dtype, const void *gate,
                        const void *up, int64_t n, void *out) {
  dispatch(dtype, [&](auto tag) {
    binary<decltype(tag)>(ctx, gate, up, n, out, SiluMulOp());
  });
}

static void norm(Context &ctx, DType dtype, const void *x,
                 const void *residual, int64_t rows, int64_t hidden,
                 const void *scale, const void *shift, float eps, bool rms,
                 void *sum, void *y) {
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    normKernel<<<int(rows), kThreads, 0, cudaStream_t(ctx.stream())>>>(
        static_cast<const T *>(x), static_cast<const T *>(residual), hidden,
        static_cast<const T *>(scale), static_cast<const T *>(shift), eps, rms,
        static_cast<T *>(sum), static_cast<T *>(y));
    check(cudaGetLastError(), "norm");
  });
}

void tpc::cuda::layerNorm(Context &ctx, DType dtype, const void *x,
                          int64_t rows, int64_t hidden, const void *scale,
                          const void *shift, float eps, void *y) {
  norm(ctx, dtype, x, nullptr, rows, hidden, scale, shift, eps, false,
       nullptr, y);
}

void tpc::cuda::rmsNorm(Context &ctx, DType dtype, const void *x, int64_t rows,
                        int64_t hidden, const void *scale, float eps,
                        void *y) {
  norm(ctx, dtype, x, nullptr, rows, hidden, scale, nullptr, eps, true,
       nullptr, y);
}

void tpc::cuda::addLayerNorm(Context &ctx, DType dtype, const void *a,
                             const void *b, int64_t rows, int64_t hidden,
                             const void *scale, const void *shift, float eps,
                             void *sum, void *y) {
  norm(ctx, dtype, a, b, rows, hidden, scale, shift, eps, false, sum, y);
}

void tpc::cuda::addRmsNorm(Context &ctx, DType dtype, const void *a,
                           const void *b, int64_t rows, int64_t hidden,
                           const void *scale, float eps, void *sum, void *y) {
  norm(ctx, dtype, a, b, rows, hidden, scale, nullptr, eps, true, sum, y);
}

void tpc::cuda::rope(Context &ctx, DType dtype, void *x, int64_t batch,
                     int64_t seq, int64_t heads, int64_t headDim, double theta,
                     const int32_t *offsets) {
  auto table = static_cast<const float2 *>(
      ctx.ropeTable(theta, headDim, positionsSeen(offsets, batch, seq)));
  const int32_t *deviceOffsets =
      offsets ? ctx.deviceInts(offsets, batch) : nullptr;
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    int64_t total = batch * seq * heads * (headDim / 2);
    ropeKernel<<<blocksFor(total, kThreads), kThreads, 0,
                 cudaStream_t(ctx.stream())>>>(static_cast<T *>(x), batch, seq,
                                               heads, headDim, table,
                                               deviceOffsets);
    check(cudaGetLastError(), "rope");
  });
}

void tpc::cuda::attention(Context &ctx, DType dtype, const void *q,
                          const void *k, const void *v, int64_t batch,
                          int64_t seq, int64_t kvSeq, int64_t qHeads,
                          int64_t kvHeads, int64_t headDim, int64_t qHeadBegin,
                          int64_t kvHeadBegin, int64_t groups, int64_t window,
                          const int32_t *offsets, void *out) {
  cudaStream_t stream = cudaStream_t(ctx.stream());
  cublasHandle_t handle = cublasHandle_t(ctx.cublas());
  int64_t elem = dtypeSize(dtype);
  cudaDataType_t t = cudaType(dtype);
  auto offsetOf = [&](int64_t b) -> int64_t {
    return offsets ? offsets[b] : 0;
  };
  auto aligned = [](const void *p) {
    return reinterpret_cast<uintptr_t>(p) % 16 == 0;
  };
  // The most keys any query sees.
  int64_t maxKeys = positionsSeen(offsets, batch, seq);
  // 16-bit programs: the fused kernel, every sequence in one launch.
  if (flashAttentionApplies(dtype, headDim) && aligned(q) && aligned(k) &&
      aligned(v) && aligned(out)) {
    flashAttention(ctx, dtype, q, k, v, batch, seq, kvSeq, qHeads, kvHeads,
                   headDim, qHeadBegin, kvHeadBegin, groups, window,
                   offsets ? ctx.deviceInts(offsets, batch) : nullptr, out,
                   std::min(maxKeys, kvSeq));
    return;
  }
  // Per batch row, chunk of query rows and local KV head, the local query
  // heads that use it are one strided batch: scores = Q K^T (f32) over the
  // keys up to the chunk's last position (causal: later chunks see more),
  // softmax to probabilities (T), out = P V. Chunks bound the scores'
  // memory and skip most of the masked half of a long prompt's scores.
  constexpr int64_t kChunkRows = 1024;
  int64_t chunk = std::min(seq, kChunkRows);
  float *scores = nullptr;
  void *probs = nullptr;
  check(cudaMallocAsync(&scores, sizeof(float) * qHeads * chunk * maxKeys,
                        stream),
        "scores");
  check(cudaMallocAsync(&probs, elem * qHeads * chunk * maxKeys, stream),
        "probs");
  float one = 1.0f, zero = 0.0f;
  float scale = 1.0f / std::sqrt(float(headDim));
  auto bytes = [&](const void *p, int64_t offset) {
    return static_cast<const char *>(p) + offset * elem;
  };
  // The local query heads [lo, hi) that use local KV head `kv`.
  auto queryHeadsOf = [&](int64_t kv) {
    int64_t global = kvHeadBegin + kv;
    int64_t lo = std::max(global * groups, qHeadBegin) - qHeadBegin;
    int64_t hi =
        std::min((global + 1) * groups, qHeadBegin + qHeads) - qHeadBegin;
    return std::make_pair(lo, hi);
  };
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t r0 = 0; r0 < seq; r0 += chunk) {
      int64_t rows = std::min(chunk, seq - r0);
      // Keys 0 .. offset + r0 + rows - 1 are the only ones these rows see.
      int64_t keys = offsetOf(b) + r0 + rows;
      int64_t firstRow = b * seq + r0;
      for (int64_t kv = 0; kv < kvHeads; ++kv) {
        auto [lo, hi] = queryHeadsOf(kv);
        if (lo >= hi)
          continue;
        const void *qh = bytes(q, (firstRow * qHeads + lo) * headDim);
        const void *kh = bytes(k, (b * kvSeq * kvHeads + kv) * headDim);
        // S^T = K Q^T in column-major terms, one matrix per query head.
        check(tpc::cuda::cublas().gemmStridedBatchedEx(
                  handle, CUBLAS_OP_T, CUBLAS_OP_N, int(keys), int(rows),
                  int(headDim), &one, kh, t, int(kvHeads * headDim), 0, qh, t,
                  int(qHeads * headDim), headDim, &zero,
                  scores + lo * rows * keys, CUDA_R_32F, int(keys),
                  rows * keys, int(hi - lo), CUBLAS_COMPUTE_32F,
                  CUBLAS_GEMM_DEFAULT),
              "attention scores");
      }
      dispatch(dtype, [&](auto tag) {
        using T = decltype(tag);
        softmaxKernel<<<int(qHeads * rows), kThreads, 0, stream>>>(
            scores, rows, keys, offsetOf(b) + r0, scale, window,
            static_cast<T *>(probs));
        check(cudaGetLastError(), "softmax");
      });
      for (int64_t kv = 0; kv < kvHeads; ++kv) {
        auto [lo, hi] = queryHeadsOf(kv);
        if (lo >= hi)
          continue;
        const void *vh = bytes(v, (b * kvSeq * kvHeads + kv) * headDim);
        void *oh = static_cast<char *>(out) +
                   (firstRow * qHeads + lo) * headDim * elem;
        // O^T = V^T P^T: P is row-major [rows, keys] per head.
        check(tpc::cuda::cublas().gemmStridedBatchedEx(
                  handle, CUBLAS_OP_N, CUBLAS_OP_N, int(headDim), int(rows),
                  int(keys), &one, vh, t, int(kvHeads * headDim), 0,
                  bytes(probs, lo * rows * keys), t, int(keys), rows * keys,
                  &zero, oh, t, int(qHeads * headDim), headDim, int(hi - lo),
                  CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
              "attention output");
      }
    }
  check(cudaFreeAsync(scores, stream), "free scores");
  check(cudaFreeAsync(probs, stream), "free probs");
}
