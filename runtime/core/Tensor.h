//===- Tensor.h - host and device tensors of the runtime --------*- C++ -*-===//
//
// A dense row-major tensor on the host or on the current CUDA device, in
// f32, bf16 or f16, owning its storage (shared between copies of the
// handle). Conversions go through f32 on the host.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_CORE_TENSOR_H
#define TPC_RUNTIME_CORE_TENSOR_H

#include "runtime/core/DType.h"

#include <cstdint>
#include <memory>
#include <vector>

namespace tpc {

enum class Device { Host, Cuda };

class Tensor {
public:
  Tensor() = default;

  /// Uninitialized storage for `shape` on `device`. Throws
  /// std::runtime_error when the device cannot be used. On a CUDA device
  /// with `cudaStream` (a cudaStream_t), the storage is allocated and freed
  /// in that stream's order (cudaMallocAsync / cudaFreeAsync): temporaries
  /// then cost no device-wide synchronization, and the stream must outlive
  /// the tensor.
  static Tensor empty(std::vector<int64_t> shape, DType dtype, Device device,
                      void *cudaStream = nullptr);
  /// A host tensor over memory it does not own (a weight read in place from
  /// a mapped checkpoint); `keepAlive`, when set, is held as long as the
  /// tensor is.
  static Tensor view(const void *data, std::vector<int64_t> shape,
                     DType dtype, std::shared_ptr<const void> keepAlive = {});
  /// `values` (f32, row-major) converted to `dtype` on `device`.
  static Tensor fromFloats(const std::vector<float> &values,
                           std::vector<int64_t> shape, DType dtype,
                           Device device);

  /// The values as f32 on the host.
  std::vector<float> toFloats() const;
  /// A copy on `device` in `dtype`.
  Tensor to(Device device, DType dtype) const;

  const std::vector<int64_t> &shape() const { return shape_; }
  int64_t numElements() const;
  int64_t bytes() const { return numElements() * dtypeSize(dtype_); }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  void *data() { return storage_.get(); }
  const void *data() const { return storage_.get(); }

private:
  std::vector<int64_t> shape_;
  DType dtype_ = DType::F32;
  Device device_ = Device::Host;
  std::shared_ptr<void> storage_;
};

} // namespace tpc

#endif // TPC_RUNTIME_CORE_TENSOR_H
