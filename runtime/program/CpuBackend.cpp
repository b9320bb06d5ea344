//===- CpuBackend.cpp - the program layer's kernels on the host -----------===//
#include "runtime/program/Backend.h"
#include "runtime/program/HostValues.h"

#include "runtime/cpu/DnnlLinear.h"
#include "runtime/cpu/GradKernels.h"
#include "runtime/cpu/Kernels.h"
#include "runtime/cpu/Threads.h"
#include "runtime/cpu/Vector.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <unordered_map>

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
      copy.reset(new float[size_t(t.numElements())]);
      allToF32(t, copy.get());
      data_ = copy.get();
    }
  }
  const float *get() const { return data_; }

private:
  std::unique_ptr<float[]> copy;
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
    buffer.reset(new float[size_t(t.numElements())]);
    if (load)
      allToF32(t, buffer.get());
    data_ = buffer.get();
  }
  ~Narrowed() {
    if (t.dtype() != DType::F32)
      allFromF32(buffer.get(), t);
  }
  Narrowed(const Narrowed &) = delete;
  Narrowed &operator=(const Narrowed &) = delete;
  float *get() const { return data_; }

private:
  Tensor &t;
  std::unique_ptr<float[]> buffer;
  float *data_ = nullptr;
};

/// Runs an f32 kernel over rows of `width` elements (a norm's rows, or an
/// elementwise op's elements with width 1) of tensors that may be 16-bit.
/// f32 tensors go to `kernel` whole. Otherwise each of the rank's threads
/// takes a share of the rows and goes through it a few at a time: it
/// widens the rows of `in` into small buffers of its own (16-bit ones;
/// f32 ones are used in place), runs `kernel` on them and rounds them into
/// `out`. `kernel` gets the rows' pointers, the index of the first row and
/// their count. No f32 copy of a whole tensor is made, and the conversions run
/// on every thread, not on the rank's alone. Per row the arithmetic is the
/// same either way.
void byRows(int64_t rows, int64_t width,
            std::initializer_list<const Tensor *> in,
            std::initializer_list<Tensor *> out,
            const std::function<void(const float *const *in, float *const *out,
                                     int64_t first, int64_t rows)> &kernel) {
  std::vector<const Tensor *> inputs(in);
  std::vector<Tensor *> outputs(out);
  auto isF32 = [](const Tensor *t) { return t->dtype() == DType::F32; };
  std::vector<const float *> inAt(inputs.size());
  std::vector<float *> outAt(outputs.size());
  if (std::all_of(inputs.begin(), inputs.end(), isF32) &&
      std::all_of(outputs.begin(), outputs.end(), isF32)) {
    for (size_t i = 0; i < inputs.size(); ++i)
      inAt[i] = static_cast<const float *>(inputs[i]->data());
    for (size_t i = 0; i < outputs.size(); ++i)
      outAt[i] = static_cast<float *>(outputs[i]->data());
    kernel(inAt.data(), outAt.data(), 0, rows);
    return;
  }
  // Rows per step: about 16K elements a tensor, in L2 with the others.
  int64_t step = std::max<int64_t>(1, 16384 / std::max<int64_t>(width, 1));
  cpu::parallelFor(rows, step, [&](int64_t begin, int64_t end) {
    size_t tensors = inputs.size() + outputs.size();
    std::unique_ptr<float[]> buffers(new float[tensors * step * width]);
    std::vector<const float *> ins(inputs.size());
    std::vector<float *> outs(outputs.size());
    for (int64_t r = begin; r < end; r += step) {
      int64_t n = std::min(step, end - r);
      int64_t at = r * width, count = n * width;
      for (size_t i = 0; i < inputs.size(); ++i) {
        const Tensor &t = *inputs[i];
        if (isF32(&t)) {
          ins[i] = static_cast<const float *>(t.data()) + at;
          continue;
        }
        float *buffer = buffers.get() + i * step * width;
        toF32(t, at, count, buffer);
        ins[i] = buffer;
      }
      for (size_t i = 0; i < outputs.size(); ++i)
        outs[i] = isF32(outputs[i])
                      ? static_cast<float *>(outputs[i]->data()) + at
                      : buffers.get() + (inputs.size() + i) * step * width;
      kernel(ins.data(), outs.data(), r, n);
      for (size_t i = 0; i < outputs.size(); ++i)
        if (!isF32(outputs[i]))
          fromF32(outs[i], count, *outputs[i], at);
    }
  });
}

class CpuBackend final : public Backend {
  /// Weights packed by prepareLinearWeight, by the address of their
  /// packed data (held by the tensors prepareLinearWeight returned).
  std::mutex packedMutex_;
  std::unordered_map<const void *, std::weak_ptr<const cpu::PackedLinearWeight>>
      packed_;

  std::shared_ptr<const cpu::PackedLinearWeight> packedOf(const Tensor &w) {
    std::lock_guard<std::mutex> lock(packedMutex_);
    auto it = packed_.find(w.data());
    return it == packed_.end() ? nullptr : it->second.lock();
  }

  /// A linear on a packed weight: x, bias and y must be in its type (the
  /// program's, which packed it).
  static void linearPacked(const Tensor &x, int64_t rows, int64_t in,
                           const cpu::PackedLinearWeight &w, int64_t out,
                           const Tensor *bias, Activation act, Tensor &y) {
    DType type = w.bf16 ? DType::BF16 : DType::F32;
    if (w.in != in || w.out != out || x.dtype() != type ||
        y.dtype() != type || (bias && bias->dtype() != type))
      throw std::logic_error("linear: operands do not match the packed "
                             "weight's shape and type");
    cpu::linearPacked(x.data(), rows, w, bias ? bias->data() : nullptr,
                      y.data(), act);
  }

  /// RoPE in place, by rows of tokens (byRows): each block of rows goes to
  /// the kernel a sequence at a time, from its tokens' first position.
  static void ropeByRows(Tensor &x, int64_t batch, int64_t seq, int64_t heads,
                         int64_t headDim, double theta,
                         const int32_t *offsets, bool inverse) {
    int64_t width = heads * headDim;
    byRows(batch * seq, width, {&x}, {&x},
           [&](const float *const *in, float *const *out, int64_t first,
               int64_t n) {
             if (in[0] != out[0])
               std::memcpy(out[0], in[0], size_t(n * width) * sizeof(float));
             for (int64_t t = first; t < first + n;) {
               int64_t b = t / seq, end = std::min(first + n, (b + 1) * seq);
               int32_t position = (offsets ? offsets[b] : 0) + int32_t(t % seq);
               cpu::rope(out[0] + (t - first) * width, 1, end - t, heads,
                         headDim, theta, &position, inverse);
               t = end;
             }
           });
  }

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

  Tensor prepareLinearWeight(const Tensor &weight, bool inOut,
                             const Consumed &consumed) override {
    const std::vector<int64_t> &shape = weight.shape();
    if (shape.size() != 2 ||
        (weight.dtype() != DType::F32 && weight.dtype() != DType::BF16))
      return weight;
    int64_t in = inOut ? shape[0] : shape[1], out = inOut ? shape[1] : shape[0];
    std::shared_ptr<const cpu::PackedLinearWeight> packed =
        weight.dtype() == DType::F32
            ? cpu::packLinearF32(static_cast<const float *>(weight.data()),
                                 inOut, in, out, consumed)
            : cpu::packLinearBf16(
                  static_cast<const uint16_t *>(weight.data()), inOut, in,
                  out, consumed);
    if (!packed)
      return weight;
    std::lock_guard<std::mutex> lock(packedMutex_);
    packed_[packed->data.get()] = packed;
    return Tensor::view(packed->data.get(), shape, weight.dtype(), packed);
  }

  void linear(const Tensor &x, int64_t rows, int64_t in, const Tensor &weight,
              bool inOut, int64_t out, const Tensor *bias, Activation act,
              Tensor &y) override {
    if (std::shared_ptr<const cpu::PackedLinearWeight> packed =
            packedOf(weight)) {
      linearPacked(x, rows, in, *packed, out, bias, act, y);
      return;
    }
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
    if (std::shared_ptr<const cpu::PackedLinearWeight> packed =
            packedOf(table)) {
      linearPacked(x, rows, hidden, *packed, vocab, nullptr, Activation::None,
                   logits);
      return;
    }
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
    byRows(a.numElements(), 1, {&a, &b}, {&out},
           [](const float *const *in, float *const *out, int64_t, int64_t n) {
             cpu::add(in[0], in[1], n, out[0]);
           });
  }
  void mul(const Tensor &a, const Tensor &b, Tensor &out) override {
    byRows(a.numElements(), 1, {&a, &b}, {&out},
           [](const float *const *in, float *const *out, int64_t, int64_t n) {
             cpu::mul(in[0], in[1], n, out[0]);
           });
  }
  void geluTanh(const Tensor &x, Tensor &out) override {
    byRows(x.numElements(), 1, {&x}, {&out},
           [](const float *const *in, float *const *out, int64_t, int64_t n) {
             cpu::geluTanh(in[0], n, out[0]);
           });
  }
  void siluMul(const Tensor &gate, const Tensor &up, Tensor &out) override {
    byRows(gate.numElements(), 1, {&gate, &up}, {&out},
           [](const float *const *in, float *const *out, int64_t, int64_t n) {
             cpu::siluMul(in[0], in[1], n, out[0]);
           });
  }
  void silu(const Tensor &x, Tensor &out) override {
    byRows(x.numElements(), 1, {&x}, {&out},
           [](const float *const *in, float *const *out, int64_t, int64_t n) {
             cpu::silu(in[0], n, out[0]);
           });
  }
  void layerNorm(const Tensor &x, int64_t rows, int64_t hidden,
                 const Tensor &scale, const Tensor &shift, float eps,
                 Tensor &y) override {
    Widened g(scale), h(shift);
    byRows(rows, hidden, {&x}, {&y},
           [&](const float *const *in, float *const *out, int64_t, int64_t n) {
             cpu::layerNorm(in[0], n, hidden, g.get(), h.get(), eps, out[0]);
           });
  }
  void rmsNorm(const Tensor &x, int64_t rows, int64_t hidden,
               const Tensor &scale, float eps, Tensor &y) override {
    Widened g(scale);
    byRows(rows, hidden, {&x}, {&y},
           [&](const float *const *in, float *const *out, int64_t, int64_t n) {
             cpu::rmsNorm(in[0], n, hidden, g.get(), eps, out[0]);
           });
  }
  void addNorm(const Tensor &a, const Tensor &b, int64_t rows, int64_t hidden,
               const Tensor &scale, const Tensor *shift, float eps, Tensor &sum,
               Tensor &y) override {
    Widened g(scale);
    std::optional<Widened> h;
    if (shift)
      h.emplace(*shift);
    byRows(rows, hidden, {&a, &b}, {&sum, &y},
           [&](const float *const *in, float *const *out, int64_t, int64_t n) {
             cpu::addNorm(in[0], in[1], n, hidden, g.get(),
                          h ? h->get() : nullptr, eps, out[0], out[1]);
           });
  }
  void rope(Tensor &x, int64_t batch, int64_t seq, int64_t heads,
            int64_t headDim, double theta,
            const std::vector<int32_t> &offsets) override {
    ropeByRows(x, batch, seq, heads, headDim, theta,
               offsets.empty() ? nullptr : offsets.data(), /*inverse=*/false);
  }
  void attention(const Tensor &q, const Tensor &k, const Tensor &v,
                 int64_t batch, int64_t seq, int64_t kvSeq, int64_t qHeads,
                 int64_t kvHeads, int64_t headDim, int64_t qHeadBegin,
                 int64_t kvHeadBegin, int64_t groups, int64_t window,
                 const std::vector<int32_t> &offsets, Tensor &out) override {
    const int32_t *at = offsets.empty() ? nullptr : offsets.data();
    if (k.dtype() == DType::BF16 && v.dtype() == DType::BF16) {
      // bf16 keys and values (a KV cache included) are widened a block of
      // keys at a time as the kernel reads them: only the positions the
      // queries see, never a whole f32 copy.
      cpu::attentionBf16Kv(Widened(q).get(),
                           static_cast<const uint16_t *>(k.data()),
                           static_cast<const uint16_t *>(v.data()), batch, seq,
                           kvSeq, qHeads, kvHeads, headDim, qHeadBegin,
                           kvHeadBegin, groups, window, at,
                           Narrowed(out).get());
      return;
    }
    if (k.dtype() != DType::F32 && at) {
      // An f16 KV cache: widen only the positions the queries can see (up
      // to the furthest offset + seq), not the whole cache.
      int64_t used = seq;
      for (int32_t offset : offsets)
        used = std::max<int64_t>(used, offset + seq);
      used = std::min(used, kvSeq);
      int64_t features = k.numElements() / (batch * kvSeq);
      auto seen = [&](const Tensor &cache) {
        std::vector<float> values(size_t(batch * used * features));
        for (int64_t b = 0; b < batch; ++b)
          toF32(cache, b * kvSeq * features, used * features,
                values.data() + b * used * features);
        return values;
      };
      std::vector<float> keys = seen(k), values = seen(v);
      cpu::attention(Widened(q).get(), keys.data(), values.data(), batch, seq,
                     used, qHeads, kvHeads, headDim, qHeadBegin, kvHeadBegin,
                     groups, window, at, Narrowed(out).get());
      return;
    }
    cpu::attention(Widened(q).get(), Widened(k).get(), Widened(v).get(), batch,
                   seq, kvSeq, qHeads, kvHeads, headDim, qHeadBegin,
                   kvHeadBegin, groups, window, at, Narrowed(out).get());
  }

  void linearWeightGrad(const Tensor &x, const Tensor &dy, int64_t rows,
                        int64_t in, int64_t out, bool inOut, Tensor &dw,
                        bool addInto) override {
    cpu::linearWeightGrad(Widened(x).get(), Widened(dy).get(), rows, in, out,
                          inOut, Narrowed(dw, /*load=*/addInto).get(),
                          addInto);
  }
  void sumRows(const Tensor &x, int64_t rows, int64_t n, Tensor &out) override {
    cpu::sumRows(Widened(x).get(), rows, n, Narrowed(out).get());
  }
  void embeddingGrad(const Tensor &grad, const std::vector<int32_t> &ids,
                     int64_t hidden, int64_t rowBegin, int64_t localRows,
                     Tensor &table, bool addInto) override {
    cpu::embeddingGrad(Widened(grad).get(), ids.data(), int64_t(ids.size()),
                       hidden, rowBegin, localRows,
                       Narrowed(table, /*load=*/addInto).get(), addInto);
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
    ropeByRows(x, batch, seq, heads, headDim, theta, nullptr,
               /*inverse=*/true);
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
