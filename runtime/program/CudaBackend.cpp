//===- CudaBackend.cpp - the program layer's kernels on a CUDA device -----===//
//
// runtime/cuda's kernels on one device, queued on the backend's stream.
// Tensors it makes live in that stream's order (cudaMallocAsync), so the
// temporaries of a forward pass come from the device's memory pool without
// synchronizing; collectives call synchronize() first. Host ints (ids,
// offsets) reach the kernels through the context's one device buffer,
// uploaded when they change: nothing in a pass waits for the device.
//
//===----------------------------------------------------------------------===//
#include "runtime/program/Backend.h"

#include <stdexcept>

using namespace tpc;
using namespace tpc::program;

#if TPC_HAS_CUDA
#include "runtime/cuda/Check.h"
#include "runtime/cuda/Kernels.h"

#include <cuda_runtime.h>

namespace {
using cuda::check;

class CudaBackend final : public Backend {
public:
  explicit CudaBackend(int device) : device_(device) {
    cuda::setDevice(device);
    ctx = std::make_unique<cuda::Context>();
  }

  Device device() const override { return Device::Cuda; }
  std::string name() const override {
    return "cuda:" + std::to_string(device_);
  }
  Tensor empty(std::vector<int64_t> shape, DType dtype) override {
    return Tensor::empty(std::move(shape), dtype, Device::Cuda, ctx->stream());
  }
  Tensor convert(const Tensor &x, DType dtype) override {
    Tensor out = empty(x.shape(), dtype);
    if (x.device() == Device::Host) {
      // Host data (weights as they are loaded): convert there, then copy.
      Tensor host = x.to(Device::Host, dtype);
      check(cudaMemcpyAsync(out.data(), host.data(), host.bytes(),
                            cudaMemcpyHostToDevice, stream()),
            "copy to device");
      synchronize(); // `host` is freed on return.
    } else {
      cuda::convert(*ctx, x.dtype(), x.data(), dtype, x.numElements(),
                    out.data());
    }
    return out;
  }
  void copyRows(const Tensor &src, int64_t srcAt, int64_t srcPitch, Tensor &dst,
                int64_t dstAt, int64_t dstPitch, int64_t width,
                int64_t rows) override {
    int64_t elem = dtypeSize(src.dtype());
    check(cudaMemcpy2DAsync(
              static_cast<char *>(dst.data()) + dstAt * elem, dstPitch * elem,
              static_cast<const char *>(src.data()) + srcAt * elem,
              srcPitch * elem, width * elem, rows, cudaMemcpyDeviceToDevice,
              stream()),
          "copy rows");
  }
  void synchronize() override { ctx->synchronize(); }

  bool randomFill(Tensor &out, uint64_t key, float scale,
                  float offset) override {
    cuda::randomFill(*ctx, out.dtype(), key, scale, offset, out.numElements(),
                     out.data());
    return true;
  }
  void linear(const Tensor &x, int64_t rows, int64_t in, const Tensor &weight,
              bool inOut, int64_t out, const Tensor *bias, Activation act,
              Tensor &y) override {
    cuda::linear(*ctx, x.dtype(), x.data(), rows, in, weight.data(), inOut, out,
                 bias ? bias->data() : nullptr, act, y.data());
  }
  void lmHead(const Tensor &x, int64_t rows, int64_t hidden,
              const Tensor &table, int64_t vocab, Tensor &logits) override {
    cuda::lmHead(*ctx, x.dtype(), x.data(), rows, hidden, table.data(), vocab,
                 logits.data());
  }
  int64_t embedding(const Tensor &table, int64_t rowBegin, int64_t localRows,
                    int64_t hidden, int64_t vocab,
                    const std::vector<int32_t> &ids, Tensor &out) override {
    // Ids outside the vocabulary are found on the host: the kernel only
    // looks rows up.
    for (size_t i = 0; i < ids.size(); ++i)
      if (ids[i] < 0 || ids[i] >= vocab)
        return int64_t(i);
    cuda::embedding(*ctx, table.dtype(), table.data(), rowBegin, localRows,
                    hidden, ctx->deviceInts(ids.data(), int64_t(ids.size())),
                    int64_t(ids.size()), out.data());
    return -1;
  }
  void add(const Tensor &a, const Tensor &b, Tensor &out) override {
    cuda::add(*ctx, a.dtype(), a.data(), b.data(), a.numElements(), out.data());
  }
  void mul(const Tensor &a, const Tensor &b, Tensor &out) override {
    cuda::mul(*ctx, a.dtype(), a.data(), b.data(), a.numElements(), out.data());
  }
  void geluTanh(const Tensor &x, Tensor &out) override {
    cuda::geluTanh(*ctx, x.dtype(), x.data(), x.numElements(), out.data());
  }
  void siluMul(const Tensor &gate, const Tensor &up, Tensor &out) override {
    cuda::siluMul(*ctx, gate.dtype(), gate.data(), up.data(),
                  gate.numElements(), out.data());
  }
  void silu(const Tensor &x, Tensor &out) override {
    cuda::silu(*ctx, x.dtype(), x.data(), x.numElements(), out.data());
  }
  void layerNorm(const Tensor &x, int64_t rows, int64_t hidden,
                 const Tensor &scale, const Tensor &shift, float eps,
                 Tensor &y) override {
    cuda::layerNorm(*ctx, x.dtype(), x.data(), rows, hidden, scale.data(),
                    shift.data(), eps, y.data());
  }
  void rmsNorm(const Tensor &x, int64_t rows, int64_t hidden,
               const Tensor &scale, float eps, Tensor &y) override {
    cuda::rmsNorm(*ctx, x.dtype(), x.data(), rows, hidden, scale.data(), eps,
                  y.data());
  }
  void addNorm(const Tensor &a, const Tensor &b, int64_t rows, int64_t hidden,
               const Tensor &scale, const Tensor *shift, float eps, Tensor &sum,
               Tensor &y) override {
    if (shift)
      cuda::addLayerNorm(*ctx, a.dtype(), a.data(), b.data(), rows, hidden,
                         scale.data(), shift->data(), eps, sum.data(),
                         y.data());
    else
      cuda::addRmsNorm(*ctx, a.dtype(), a.data(), b.data(), rows, hidden,
                       scale.data(), eps, sum.data(), y.data());
  }
  void rope(Tensor &x, int64_t batch, int64_t seq, int64_t heads,
            int64_t headDim, double theta,
            const std::vector<int32_t> &offsets) override {
    cuda::rope(*ctx, x.dtype(), x.data(), batch, seq, heads, headDim, theta,
               offsets.empty() ? nullptr : offsets.data());
  }
  void writeCache(const Tensor &x, int64_t batch, int64_t seq, int64_t width,
                  Tensor &cache, int64_t capacity,
                  const std::vector<int32_t> &offsets) override {
    cuda::writeCache(*ctx, x.dtype(), x.data(), batch, seq, width,
                     cache.data(), capacity,
                     ctx->deviceInts(offsets.data(), int64_t(offsets.size())));
  }
  void rowArgmax(const Tensor &x, int64_t rows, int64_t cols, int64_t firstId,
                 cpu::ArgmaxEntry *out) override {
    std::vector<float> values(rows);
    std::vector<int64_t> indices(rows);
    cuda::rowArgmax(*ctx, x.dtype(), x.data(), rows, cols, values.data(),
                    indices.data());
    for (int64_t r = 0; r < rows; ++r)
      out[r] = {values[r], indices[r] < 0 ? -1 : firstId + indices[r]};
  }
  void attention(const Tensor &q, const Tensor &k, const Tensor &v,
                 int64_t batch, int64_t seq, int64_t kvSeq, int64_t qHeads,
                 int64_t kvHeads, int64_t headDim, int64_t qHeadBegin,
                 int64_t kvHeadBegin, int64_t groups, int64_t window,
                 const std::vector<int32_t> &offsets, Tensor &out) override {
    cuda::attention(*ctx, q.dtype(), q.data(), k.data(), v.data(), batch, seq,
                    kvSeq, qHeads, kvHeads, headDim, qHeadBegin, kvHeadBegin,
                    groups, window, offsets.empty() ? nullptr : offsets.data(),
                    out.data());
  }

  // Training runs on the CPU backend so far: the backward kernels have no
  // CUDA versions yet, and a training program says so instead of running.
  [[noreturn]] static void noTrainingKernels(const char *kernel) {
    throw std::runtime_error(std::string("the CUDA backend has no ") + kernel +
                             " kernel yet: train on the CPU (--device cpu)");
  }
  void linearWeightGrad(const Tensor &, const Tensor &, int64_t, int64_t,
                        int64_t, bool, Tensor &, bool) override {
    noTrainingKernels("linear weight gradient");
  }
  void sumRows(const Tensor &, int64_t, int64_t, Tensor &) override {
    noTrainingKernels("bias gradient");
  }
  void embeddingGrad(const Tensor &, const std::vector<int32_t> &, int64_t,
                     int64_t, int64_t, Tensor &, bool) override {
    noTrainingKernels("embedding gradient");
  }
  void activationGrad(Activation, const Tensor &, const Tensor &,
                      Tensor &) override {
    noTrainingKernels("activation gradient");
  }
  void normGrad(const Tensor &, const Tensor &, const Tensor &, int64_t,
                int64_t, float, bool, Tensor &) override {
    noTrainingKernels("norm gradient");
  }
  void normScaleGrad(const Tensor &, const Tensor &, int64_t, int64_t, float,
                     bool, Tensor &) override {
    noTrainingKernels("norm scale gradient");
  }
  void ropeInverse(Tensor &, int64_t, int64_t, int64_t, int64_t,
                   double) override {
    noTrainingKernels("RoPE gradient");
  }
  void attentionGrad(const Tensor &, const Tensor &, const Tensor &,
                     const Tensor &, int64_t, int64_t, int64_t, int64_t,
                     int64_t, int64_t, int64_t, int64_t, int64_t, Tensor &,
                     Tensor &, Tensor &) override {
    noTrainingKernels("attention gradient");
  }
  void rowMax(const Tensor &, int64_t, int64_t, Tensor &) override {
    noTrainingKernels("cross-entropy");
  }
  void sumExpAndTarget(const Tensor &, int64_t, int64_t, int64_t,
                       const Tensor &, const std::vector<int32_t> &, Tensor &,
                       Tensor &) override {
    noTrainingKernels("cross-entropy");
  }
  void crossEntropyGrad(const Tensor &, int64_t, int64_t, int64_t,
                        const std::vector<int32_t> &, const Tensor &,
                        const Tensor &, int64_t, Tensor &) override {
    noTrainingKernels("cross-entropy gradient");
  }

  cudaStream_t stream() const { return cudaStream_t(ctx->stream()); }

private:

  int device_;
  std::unique_ptr<cuda::Context> ctx;
};
} // namespace

int tpc::program::cudaDeviceCount(std::string *why) {
  return cuda::deviceAvailable(why) ? cuda::deviceCount() : 0;
}

std::unique_ptr<Backend> tpc::program::makeCudaBackend(int device) {
  std::string why;
  if (!cuda::deviceAvailable(&why))
    throw std::runtime_error("no CUDA device can be used: " + why);
  if (device >= cuda::deviceCount())
    throw std::runtime_error("CUDA device " + std::to_string(device) +
                             " does not exist (" +
                             std::to_string(cuda::deviceCount()) + " present)");
  return std::make_unique<CudaBackend>(device);
}
#else
int tpc::program::cudaDeviceCount(std::string *why) {
  if (why)
    *why = "this program was built without CUDA";
  return 0;
}

std::unique_ptr<Backend> tpc::program::makeCudaBackend(int) {
  throw std::runtime_error("this program was built without CUDA (no CUDA "
                           "toolkit where tpc was built)");
}
#endif
