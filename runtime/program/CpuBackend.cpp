//===- CpuBackend.cpp - the program layer's kernels on the host -----------===//
#include "runtime/program/Backend.h"

#include "runtime/cpu/DnnlLinear.h"
#include "runtime/cpu/GradKernels.h"
#include "runtime/cpu/Kernels.h"

#include <algorithm>
#include <cstring>
#include <optional>

using namespace tpc;
using namespace tpc::program;

namespace {
/// The f32 values of a host tensor: its own storage when it is f32, else a
/// widened copy.
class Widened {
public:
  explicit Widened(const Tensor &t) {
    if (t.dtype() == DType::F32) {
      data_ = static_cast<const float *>(t.data());
    } else {
      copy = t.toFloats();
      data_ = copy.data();
    }
  }
  const float *get() const { return data_; }

private:
  std::vector<float> copy;
  const float *data_ = nullptr;
};

/// An f32 destination for a host tensor: its own storage when it is f32,
/// else a buffer rounded into the tensor when this goes out of scope.
/// `load` starts the buffer from the tensor's values (for in-place ops).
class Narrowed {
public:
  explicit Narrowed(Tensor &t, bool load = false) : t(t) {
    if (t.dtype() == DType::F32) {
      data_ = static_cast<float *>(t.data());
      return;
    }
    buffer = load ? t.toFloats() : std::vector<float>(t.numElements());
    data_ = buffer.data();
  }
  ~Narrowed() {
    if (t.dtype() != DType::F32)
      narrow(buffer.data(), t.dtype(), t.data(), buffer.size());
  }
  Narrowed(const Narrowed &) = delete;
  Narrowed &operator=(const Narrowed &) = delete;
  float *get() const { return data_; }

private:
  Tensor &t;
  std::vector<float> buffer;
  float *data_ = nullptr;
};

class CpuBackend final : public Backend {
public:
  Device device() const override { return Device::Host; }
  std::string name() const override { return "cpu"; }
  Tensor empty(std::vector<int64_t> shape, DType dtype) override {
    return Tensor::empty(std::move(shape), dtype, Device::Host);
  }
  Tensor convert(const Tensor &x, DType dtype) override {
    return x.to(Device::Host, dtype);
  }
  void copyRows(const Tensor &src, int64_t srcAt, int64_t srcPitch, Tensor &dst,
                int64_t dstAt, int64_t dstPitch, int64_t width,
                int64_t rows) override {
    int64_t elem = dtypeSize(src.dtype());
    const char *from = static_cast<const char *>(src.data());
    char *to = static_cast<char *>(dst.data());
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(to + (dstAt + r * dstPitch) * elem,
                  from + (srcAt + r * srcPitch) * elem, width * elem);
  }
  void synchronize() override {}

  void linear(const Tensor &x, int64_t rows, int64_t in, const Tensor &weight,
              bool inOut, int64_t out, const Tensor *bias, Activation act,
              Tensor &y) override {
    // bf16 weights are multiplied as stored (oneDNN), never widened.
    if (x.dtype() == DType::BF16 && weight.dtype() == DType::BF16 &&
        y.dtype() == DType::BF16 && (!bias || bias->dtype() == DType::BF16) &&
        cpu::linearBf16(static_cast<const uint16_t *>(x.data()), rows, in,
                        static_cast<const uint16_t *>(weight.data()), inOut,
                        out,
                        bias ? static_cast<const uint16_t *>(bias->data())
                             : nullptr,
                        static_cast<uint16_t *>(y.data()), act))
      return;
    std::optional<Widened> b;
    if (bias)
      b.emplace(*bias);
    cpu::linear(Widened(x).get(), rows, in, Widened(weight).get(), inOut, out,
                b ? b->get() : nullptr, Narrowed(y).get(), act);
  }
  void lmHead(const Tensor &x, int64_t rows, int64_t hidden,
              const Tensor &table, int64_t vocab, Tensor &logits) override {
    if (x.dtype() == DType::BF16 && table.dtype() == DType::BF16 &&
        logits.dtype() == DType::BF16 &&
        cpu::linearBf16(static_cast<const uint16_t *>(x.data()), rows, hidden,
                        static_cast<const uint16_t *>(table.data()),
                        /*inOut=*/false, vocab, nullptr,
                        static_cast<uint16_t *>(logits.data()),
                        Activation::None))
      return;
    cpu::lmHead(Widened(x).get(), rows, hidden, Widened(table).get(), vocab,
                Narrowed(logits).get());
  }
  int64_t embedding(const Tensor &table, int64_t rowBegin, int64_t localRows,
                    int64_t hidden, int64_t vocab,
                    const std::vector<int32_t> &ids, Tensor &out) override {
    if (table.dtype() != DType::F32 && table.dtype() == out.dtype()) {
      // 16-bit rows are copied as stored: only the rows looked up are
      // read, none widened.
      for (size_t i = 0; i < ids.size(); ++i)
        if (ids[i] < 0 || ids[i] >= vocab)
          return int64_t(i);
      size_t rowBytes = size_t(hidden) * dtypeSize(out.dtype());
      const char *from = static_cast<const char *>(table.data());
      char *to = static_cast<char *>(out.data());
      for (size_t i = 0; i < ids.size(); ++i) {
        int64_t row = ids[i] - rowBegin;
        if (row >= 0 && row < localRows)
          std::memcpy(to + i * rowBytes, from + row * rowBytes, rowBytes);
        else
          std::memset(to + i * rowBytes, 0, rowBytes);
      }
      return -1;
    }
    return cpu::embedding(Widened(table).get(), rowBegin, localRows, hidden,
                          vocab, ids.data(), int64_t(ids.size()),
                          Narrowed(out).get());
  }
  void add(const Tensor &a, const Tensor &b, Tensor &out) override {
    cpu::add(Widened(a).get(), Widened(b).get(), a.numElements(),
             Narrowed(out).get());
  }
  void mul(const Tensor &a, const Tensor &b, Tensor &out) override {
    cpu::mul(Widened(a).get(), Widened(b).get(), a.numElements(),
             Narrowed(out).get());
  }
  void geluTanh(const Tensor &x, Tensor &out) override {
    cpu::geluTanh(Widened(x).get(), x.numElements(), Narrowed(out).get());
  }
  void siluMul(const Tensor &gate, const Tensor &up, Tensor &out) override {
    cpu::siluMul(Widened(gate).get(), Widened(up).get(), gate.numElements(),
                 Narrowed(out).get());
  }
  void silu(const Tensor &x, Tensor &out) override {
    cpu::silu(Widened(x).get(), x.numElements(), Narrowed(out).get());
  }
  void layerNorm(const Tensor &x, int64_t rows, int64_t hidden,
                 const Tensor &scale, const Tensor &shift, float eps,
                 Tensor &y) override {
    cpu::layerNorm(Widened(x).get(), rows, hidden, Widened(scale).get(),
                   Widened(shift).get(), eps, Narrowed(y).get());
  }
  void rmsNorm(const Tensor &x, int64_t rows, int64_t hidden,
               const Tensor &scale, float eps, Tensor &y) override {
    cpu::rmsNorm(Widened(x).get(), rows, hidden, Widened(scale).get(), eps,
                 Narrowed(y).get());
  }
  void addNorm(const Tensor &a, const Tensor &b, int64_t rows, int64_t hidden,
               const Tensor &scale, const Tensor *shift, float eps, Tensor &sum,
               Tensor &y) override {
    std::optional<Widened> s;
    if (shift)
      s.emplace(*shift);
    cpu::addNorm(Widened(a).get(), Widened(b).get(), rows, hidden,
                 Widened(scale).get(), s ? s->get() : nullptr, eps,
                 Narrowed(sum).get(), Narrowed(y).get());
  }
  void rope(Tensor &x, int64_t batch, int64_t seq, int64_t heads,
            int64_t headDim, double theta,
            const std::vector<int32_t> &offsets) override {
    cpu::rope(Narrowed(x, /*load=*/true).get(), batch, seq, heads, headDim,
              theta, offsets.empty() ? nullptr : offsets.data());
  }
  void attention(const Tensor &q, const Tensor &k, const Tensor &v,
                 int64_t batch, int64_t seq, int64_t kvSeq, int64_t qHeads,
                 int64_t kvHeads, int64_t headDim, int64_t qHeadBegin,
                 int64_t kvHeadBegin, int64_t groups, int64_t window,
                 const std::vector<int32_t> &offsets, Tensor &out) override {
    if (k.dtype() != DType::F32 && !offsets.empty()) {
      // A 16-bit KV cache: widen only the positions the queries can see
      // (up to the furthest offset + seq), not the whole cache.
      int64_t used = seq;
      for (int32_t offset : offsets)
        used = std::max<int64_t>(used, offset + seq);
      used = std::min(used, kvSeq);
      int64_t features = k.numElements() / (batch * kvSeq);
      auto seen = [&](const Tensor &cache) {
        std::vector<float> values(size_t(batch * used * features));
        for (int64_t b = 0; b < batch; ++b)
          widen(cache.dtype(),
                static_cast<const char *>(cache.data()) +
                    b * kvSeq * features * dtypeSize(cache.dtype()),
                values.data() + b * used * features, size_t(used * features));
        return values;
      };
      std::vector<float> keys = seen(k), values = seen(v);
      cpu::attention(Widened(q).get(), keys.data(), values.data(), batch, seq,
                     used, qHeads, kvHeads, headDim, qHeadBegin, kvHeadBegin,
                     groups, window, offsets.data(), Narrowed(out).get());
      return;
    }
    cpu::attention(Widened(q).get(), Widened(k).get(), Widened(v).get(), batch,
                   seq, kvSeq, qHeads, kvHeads, headDim, qHeadBegin,
                   kvHeadBegin, groups, window,
                   offsets.empty() ? nullptr : offsets.data(),
                   Narrowed(out).get());
  }

  void linearWeightGrad(const Tensor &x, const Tensor &dy, int64_t rows,
                        int64_t in, int64_t out, bool inOut,
                        Tensor &dw) override {
    cpu::linearWeightGrad(Widened(x).get(), Widened(dy).get(), rows, in, out,
                          inOut, Narrowed(dw).get());
  }
  void sumRows(const Tensor &x, int64_t rows, int64_t n, Tensor &out) override {
    cpu::sumRows(Widened(x).get(), rows, n, Narrowed(out).get());
  }
  void embeddingGrad(const Tensor &grad, const std::vector<int32_t> &ids,
                     int64_t hidden, int64_t rowBegin, int64_t localRows,
                     Tensor &table) override {
    cpu::embeddingGrad(Widened(grad).get(), ids.data(), int64_t(ids.size()),
                       hidden, rowBegin, localRows, Narrowed(table).get());
  }
  void activationGrad(Activation act, const Tensor &x, const Tensor &dy,
                      Tensor &dx) override {
    if (act == Activation::Gelu)
      cpu::geluTanhGrad(Widened(x).get(), Widened(dy).get(), x.numElements(),
                        Narrowed(dx).get());
    else
      cpu::siluGrad(Widened(x).get(), Widened(dy).get(), x.numElements(),
                    Narrowed(dx).get());
  }
  void normGrad(const Tensor &x, const Tensor &dy, const Tensor &scale,
                int64_t rows, int64_t hidden, float eps, bool centered,
                Tensor &dx) override {
    cpu::normGrad(Widened(x).get(), Widened(dy).get(), Widened(scale).get(),
                  rows, hidden, eps, centered, Narrowed(dx).get());
  }
  void normScaleGrad(const Tensor &x, const Tensor &dy, int64_t rows,
                     int64_t hidden, float eps, bool centered,
                     Tensor &dscale) override {
    cpu::normScaleGrad(Widened(x).get(), Widened(dy).get(), rows, hidden, eps,
                       centered, Narrowed(dscale).get());
  }
  void ropeInverse(Tensor &x, int64_t batch, int64_t seq, int64_t heads,
                   int64_t headDim, double theta) override {
    cpu::rope(Narrowed(x, /*load=*/true).get(), batch, seq, heads, headDim,
              theta, nullptr, /*inverse=*/true);
  }
  void attentionGrad(const Tensor &q, const Tensor &k, const Tensor &v,
                     const Tensor &dout, int64_t batch, int64_t seq,
                     int64_t qHeads, int64_t kvHeads, int64_t headDim,
                     int64_t qHeadBegin, int64_t kvHeadBegin, int64_t groups,
                     int64_t window, Tensor &dq, Tensor &dk,
                     Tensor &dv) override {
    cpu::attentionGrad(Widened(q).get(), Widened(k).get(), Widened(v).get(),
                       Widened(dout).get(), batch, seq, qHeads, kvHeads,
                       headDim, qHeadBegin, kvHeadBegin, groups, window,
                       Narrowed(dq).get(), Narrowed(dk).get(),
                       Narrowed(dv).get());
  }
  void rowMax(const Tensor &logits, int64_t rows, int64_t localVocab,
              Tensor &max) override {
    cpu::rowMax(Widened(logits).get(), rows, localVocab, Narrowed(max).get());
  }
  void sumExpAndTarget(const Tensor &logits, int64_t rows, int64_t localVocab,
                       int64_t vocabBegin, const Tensor &max,
                       const std::vector<int32_t> &targets, Tensor &sumExp,
                       Tensor &target) override {
    cpu::sumExpAndTarget(Widened(logits).get(), rows, localVocab, vocabBegin,
                         Widened(max).get(), targets.data(),
                         Narrowed(sumExp).get(), Narrowed(target).get());
  }
  void crossEntropyGrad(const Tensor &logits, int64_t rows, int64_t localVocab,
                        int64_t vocabBegin, const std::vector<int32_t> &targets,
                        const Tensor &lse, const Tensor &dloss,
                        int64_t ignoreIndex, Tensor &dlogits) override {
    cpu::crossEntropyGrad(Widened(logits).get(), rows, localVocab, vocabBegin,
                          targets.data(), Widened(lse).get(),
                          Widened(dloss).get(), ignoreIndex,
                          Narrowed(dlogits).get());
  }
};
} // namespace

Backend &tpc::program::cpuBackend() {
  static CpuBackend backend;
  return backend;
}
