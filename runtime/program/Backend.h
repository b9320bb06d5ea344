//===- Backend.h - the kernels of one device, on runtime tensors -*- C++
//-*-===//
//
// What the program layer (Ops.cpp) needs from the device a rank computes
// on: every op's kernel on whole tensors, strided copies (to pack and
// unpack collectives), element-type conversions and a way to wait for
// queued work. Ops.cpp owns the semantics (shapes, head offsets, which
// rank adds a bias); a backend only computes. Outputs are allocated by the
// caller with empty().
//
// CpuBackend computes in f32: bf16 and f16 tensors are widened on the way
// in and rounded on the way out, as GPU kernels do in registers, so a
// 16-bit program on the CPU stores and rounds at the same op boundaries as
// on a GPU (inside attention the GPU also rounds the probabilities).
// CudaBackend runs runtime/cuda's kernels on one device's stream.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_PROGRAM_BACKEND_H
#define TPC_RUNTIME_PROGRAM_BACKEND_H

#include "runtime/core/Activation.h"
#include "runtime/core/Tensor.h"
#include "runtime/cpu/Kernels.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace tpc::program {

using Activation = tpc::Activation;

class Backend {
public:
  virtual ~Backend() = default;

  virtual Device device() const = 0;
  /// "cpu" or "cuda:N".
  virtual std::string name() const = 0;
  /// Uninitialized storage on this backend's device.
  virtual Tensor empty(std::vector<int64_t> shape, DType dtype) = 0;
  /// A copy of `x` in `dtype` on this device (always a new tensor).
  virtual Tensor convert(const Tensor &x, DType dtype) = 0;
  /// `rows` blocks of `width` elements from `src` (starting at element
  /// `srcAt`, blocks `srcPitch` elements apart) to `dst` (likewise). Both
  /// tensors have the same element type.
  virtual void copyRows(const Tensor &src, int64_t srcAt, int64_t srcPitch,
                        Tensor &dst, int64_t dstAt, int64_t dstPitch,
                        int64_t width, int64_t rows) = 0;
  /// Fills `out` (a whole weight) with weights::randomShard's values for
  /// `key` (weights::randomKey) plus `offset` on this device; false where
  /// the host draws them instead (the CPU).
  virtual bool randomFill(Tensor &out, uint64_t key, float scale,
                          float offset) {
    return false;
  }
  /// Writes x [batch, seq, width] into cache [batch, capacity, width] at
  /// row offsets[b] of each sequence (checked by the caller): one strided
  /// copy per sequence unless a backend does it in one kernel.
  virtual void writeCache(const Tensor &x, int64_t batch, int64_t seq,
                          int64_t width, Tensor &cache, int64_t capacity,
                          const std::vector<int32_t> &offsets) {
    for (int64_t b = 0; b < batch; ++b)
      copyRows(x, b * seq * width, seq * width, cache,
               (b * capacity + offsets[b]) * width, seq * width, seq * width,
               1);
  }
  /// Each row's best (value, firstId + column) of x [rows, cols], as
  /// cpu::localArgmax: only `rows` entries need to leave the device.
  virtual void rowArgmax(const Tensor &x, int64_t rows, int64_t cols,
                         int64_t firstId, cpu::ArgmaxEntry *out) {
    std::vector<float> values = x.toFloats();
    cpu::localArgmax(values.data(), rows, cols, firstId, out);
  }
  /// Waits until every queued kernel is done (before a collective reads
  /// device memory from another stream or the host).
  virtual void synchronize() = 0;

  /// Told of each range of a weight's bytes read for the last time.
  using Consumed = std::function<void(const void *begin, size_t bytes)>;

  /// A weight that only linear() and lmHead() read, and that never changes
  /// (an inference program's), in the form those read fastest: the CPU
  /// backend packs it for oneDNN's kernels; the weight itself where there
  /// is nothing to gain. `consumed` is given when the weight is a view of
  /// a mapped checkpoint, whose pages it gives back; null when the weight
  /// is a copy of the program's own, freed once replaced.
  virtual Tensor prepareLinearWeight(const Tensor &weight, bool inOut,
                                     const Consumed &consumed) {
    (void)inOut;
    (void)consumed;
    return weight;
  }

  /// The kernels, with the shapes and conventions of runtime/cpu/Kernels.h.
  /// y = act(x W + bias), the activation applied in the same kernel.
  virtual void linear(const Tensor &x, int64_t rows, int64_t in,
                      const Tensor &weight, bool inOut, int64_t out,
                      const Tensor *bias, Activation act, Tensor &y) = 0;
  virtual void lmHead(const Tensor &x, int64_t rows, int64_t hidden,
                      const Tensor &table, int64_t vocab, Tensor &logits) = 0;
  /// Rows [rowBegin, rowBegin + localRows) of the table; ids outside them
  /// give zero rows. Returns the index of an id outside [0, vocab), or -1.
  virtual int64_t embedding(const Tensor &table, int64_t rowBegin,
                            int64_t localRows, int64_t hidden, int64_t vocab,
                            const std::vector<int32_t> &ids, Tensor &out) = 0;
  virtual void add(const Tensor &a, const Tensor &b, Tensor &out) = 0;
  virtual void mul(const Tensor &a, const Tensor &b, Tensor &out) = 0;
  virtual void geluTanh(const Tensor &x, Tensor &out) = 0;
  virtual void silu(const Tensor &x, Tensor &out) = 0;
  /// out = silu(gate) * up.
  virtual void siluMul(const Tensor &gate, const Tensor &up, Tensor &out) = 0;
  virtual void layerNorm(const Tensor &x, int64_t rows, int64_t hidden,
                         const Tensor &scale, const Tensor &shift, float eps,
                         Tensor &y) = 0;
  virtual void rmsNorm(const Tensor &x, int64_t rows, int64_t hidden,
                       const Tensor &scale, float eps, Tensor &y) = 0;
  /// sum = a + b and y = norm(sum) in one pass; `shift` null: RMSNorm.
  virtual void addNorm(const Tensor &a, const Tensor &b, int64_t rows,
                       int64_t hidden, const Tensor &scale,
                       const Tensor *shift, float eps, Tensor &sum,
                       Tensor &y) = 0;
  /// In place. Token s of sequence b is at position offsets[b] + s (s when
  /// `offsets` is empty).
  virtual void rope(Tensor &x, int64_t batch, int64_t seq, int64_t heads,
                    int64_t headDim, double theta,
                    const std::vector<int32_t> &offsets) = 0;
  /// k and v hold `kvSeq` positions; query i of sequence b is at position
  /// offsets[b] + i (i when `offsets` is empty, where kvSeq is seq).
  virtual void attention(const Tensor &q, const Tensor &k, const Tensor &v,
                         int64_t batch, int64_t seq, int64_t kvSeq,
                         int64_t qHeads, int64_t kvHeads, int64_t headDim,
                         int64_t qHeadBegin, int64_t kvHeadBegin,
                         int64_t groups, int64_t window,
                         const std::vector<int32_t> &offsets, Tensor &out) = 0;

  /// The loss and the backward pass (tpc-derive-training), with the shapes
  /// and conventions of runtime/cpu/GradKernels.h. Loss statistics
  /// (`max`, `sumExp`, `target`, `lse`, `dloss`) are f32 [rows].
  /// `addInto`: adds into `dw` (an f32 gradient buffer).
  virtual void linearWeightGrad(const Tensor &x, const Tensor &dy,
                                int64_t rows, int64_t in, int64_t out,
                                bool inOut, Tensor &dw,
                                bool addInto = false) = 0;
  virtual void sumRows(const Tensor &x, int64_t rows, int64_t n,
                       Tensor &out) = 0;
  /// `addInto`: adds the rows into `table` (an f32 gradient buffer)
  /// instead of writing a fresh table.
  virtual void embeddingGrad(const Tensor &grad,
                             const std::vector<int32_t> &ids, int64_t hidden,
                             int64_t rowBegin, int64_t localRows,
                             Tensor &table, bool addInto = false) = 0;
  /// dx = dy * act'(x), act GeLU (tanh form) or SiLU.
  virtual void activationGrad(Activation act, const Tensor &x,
                              const Tensor &dy, Tensor &dx) = 0;
  virtual void normGrad(const Tensor &x, const Tensor &dy, const Tensor &scale,
                        int64_t rows, int64_t hidden, float eps, bool centered,
                        Tensor &dx) = 0;
  virtual void normScaleGrad(const Tensor &x, const Tensor &dy, int64_t rows,
                             int64_t hidden, float eps, bool centered,
                             Tensor &dscale) = 0;
  /// rope's inverse rotation, in place, positions from 0.
  virtual void ropeInverse(Tensor &x, int64_t batch, int64_t seq,
                           int64_t heads, int64_t headDim, double theta) = 0;
  virtual void attentionGrad(const Tensor &q, const Tensor &k, const Tensor &v,
                             const Tensor &dout, int64_t batch, int64_t seq,
                             int64_t qHeads, int64_t kvHeads, int64_t headDim,
                             int64_t qHeadBegin, int64_t kvHeadBegin,
                             int64_t groups, int64_t window, Tensor &dq,
                             Tensor &dk, Tensor &dv) = 0;
  virtual void rowMax(const Tensor &logits, int64_t rows, int64_t localVocab,
                      Tensor &max) = 0;
  virtual void sumExpAndTarget(const Tensor &logits, int64_t rows,
                               int64_t localVocab, int64_t vocabBegin,
                               const Tensor &max,
                               const std::vector<int32_t> &targets,
                               Tensor &sumExp, Tensor &target) = 0;
  virtual void crossEntropyGrad(const Tensor &logits, int64_t rows,
                                int64_t localVocab, int64_t vocabBegin,
                                const std::vector<int32_t> &targets,
                                const Tensor &lse, const Tensor &dloss,
                                int64_t ignoreIndex, Tensor &dlogits) = 0;
};

/// The host's backend (OpenBLAS GEMMs, f32 arithmetic). One instance serves
/// any number of ranks.
Backend &cpuBackend();

/// How many CUDA devices a backend can use (0 when this runtime was built
/// without CUDA, or without a driver or a device); `why` says why none.
int cudaDeviceCount(std::string *why = nullptr);

/// A backend on CUDA device `device` with its own stream and cuBLAS handle,
/// made current for the calling thread. Throws std::runtime_error when this
/// runtime was built without CUDA or the device cannot be used.
std::unique_ptr<Backend> makeCudaBackend(int device);

} // namespace tpc::program

#endif // TPC_RUNTIME_PROGRAM_BACKEND_H
