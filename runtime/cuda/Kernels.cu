//===- Kernels.cu - the CUDA backend's kernels ----------------------------===//
#include "runtime/cuda/Kernels.h"
#include "runtime/cuda/Check.h"
#include "runtime/cuda/FlashAttention.h"
#include "runtime/weights/RandomDraw.h"

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
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

template <typename T>
__global__ void ropeKernel(T *x, int64_t batch, int64_t seq, int64_t heads,
                           int64_t headDim, double theta,
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
    double angle = position * pow(theta, -2.0 * pair / headDim);
    float c = float(cos(angle)), sn = float(sin(angle));
    float x0 = load(v[pair]), x1 = load(v[pair + half]);
    v[pair] = store<T>(x0 * c - x1 * sn);
    v[pair + half] = store<T>(x1 * c + x0 * sn);
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

template <typename T, typename Op>
void binary(Context &ctx, const void *a, const void *b, int64_t n, void *out,
            Op op) {
  binaryKernel<<<blocksFor(n, kThreads), kThreads, 0,
                 cudaStream_t(ctx.stream())>>>(
      static_cast<const T *>(a), static_cast<const T *>(b), n,
      static_cast<T *>(out), op);
  check(cudaGetLastError(), "binary kernel");
}

template <typename T, typename Op>
void unary(Context &ctx, const void *x, int64_t n, void *out, Op op) {
  unaryKernel<<<blocksFor(n, kThreads), kThreads, 0,
                cudaStream_t(ctx.stream())>>>(static_cast<const T *>(x), n,
                                              static_cast<T *>(out), op);
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

/// Row-major C[m, n] = A[m, k] B (B is [k, n] row-major, or [n, k] used
/// transposed), through column-major cuBLAS: C^T = B^T A^T.
void gemm(Context &ctx, DType dtype, const void *a, int64_t m, int64_t k,
          const void *b, bool bIsKN, int64_t n, void *c, float beta) {
  float alpha = 1.0f;
  cudaDataType_t t = cudaType(dtype);
  check(cublasGemmEx(cublasHandle_t(ctx.cublas()),
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
};

Context::Context() : impl(new Impl) {
  check(cudaStreamCreate(&impl->stream), "stream");
  check(cublasCreate(&impl->cublas), "create");
  check(cublasSetStream(impl->cublas, impl->stream), "set stream");
}

Context::~Context() {
  cublasDestroy(impl->cublas);
  cudaStreamDestroy(impl->stream);
}

void Context::synchronize() {
  check(cudaStreamSynchronize(impl->stream), "synchronize");
}
void *Context::stream() const { return impl->stream; }
void *Context::cublas() const { return impl->cublas; }

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
/// y = act(y + bias) in place, the epilogue of a fused linear.
template <typename T, typename Op>
__global__ void biasActivationKernel(T *y, const T *bias, int64_t rows,
                                     int64_t cols, Op op) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
       i < rows * cols; i += int64_t(gridDim.x) * blockDim.x) {
    float v = load(y[i]);
    if (bias)
      v += load(bias[i % cols]);
    y[i] = store<T>(op(v));
  }
}
} // namespace

void tpc::cuda::linear(Context &ctx, DType dtype, const void *x, int64_t rows,
                       int64_t in, const void *weight, bool inOut,
                       int64_t out, const void *bias, Activation act,
                       void *y) {
  if (act != Activation::None) {
    gemm(ctx, dtype, x, rows, in, weight, inOut, out, y, 0.0f);
    dispatch(dtype, [&](auto tag) {
      using T = decltype(tag);
      auto launch = [&](auto op) {
        biasActivationKernel<<<blocksFor(rows * out, kThreads), kThreads, 0,
                               cudaStream_t(ctx.stream())>>>(
            static_cast<T *>(y), static_cast<const T *>(bias), rows, out, op);
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
  gemm(ctx, dtype, x, rows, hidden, table, /*bIsKN=*/false, vocab, logits,
       0.0f);
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
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    int64_t total = batch * seq * heads * (headDim / 2);
    ropeKernel<<<blocksFor(total, kThreads), kThreads, 0,
                 cudaStream_t(ctx.stream())>>>(static_cast<T *>(x), batch, seq,
                                               heads, headDim, theta, offsets);
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
  // 16-bit programs: the fused kernel, one launch per batch row.
  if (flashAttentionApplies(dtype, headDim) && aligned(q) && aligned(k) &&
      aligned(v) && aligned(out)) {
    for (int64_t b = 0; b < batch; ++b)
      flashAttention(ctx, dtype, q, k, v, b, seq, kvSeq, qHeads, kvHeads,
                     headDim, qHeadBegin, kvHeadBegin, groups, window,
                     offsetOf(b), out);
    return;
  }
  // Per batch row, chunk of query rows and local KV head, the local query
  // heads that use it are one strided batch: scores = Q K^T (f32) over the
  // keys up to the chunk's last position (causal: later chunks see more),
  // softmax to probabilities (T), out = P V. Chunks bound the scores'
  // memory and skip most of the masked half of a long prompt's scores.
  constexpr int64_t kChunkRows = 1024;
  int64_t chunk = std::min(seq, kChunkRows);
  int64_t maxKeys = 0;
  for (int64_t b = 0; b < batch; ++b)
    maxKeys = std::max(maxKeys, offsetOf(b) + seq);
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
        check(cublasGemmStridedBatchedEx(
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
        check(cublasGemmStridedBatchedEx(
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
