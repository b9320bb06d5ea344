//===- Tensor.cpp - host and device tensors of the runtime ----------------===//
#include "runtime/core/Tensor.h"
#include "runtime/core/HostThreads.h"
#include "runtime/core/MemoryMeter.h"

#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#if TPC_HAS_CUDA
#include <cuda_runtime.h>
#endif

using namespace tpc;

namespace {
#if TPC_HAS_CUDA
void checkCuda(cudaError_t err, const char *what) {
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("CUDA ") + what + ": " +
                             cudaGetErrorString(err));
}
#endif

std::shared_ptr<void> allocate(int64_t bytes, Device device, void *stream) {
  if (device == Device::Host) {
    void *p = std::malloc(bytes > 0 ? bytes : 1);
    if (!p)
      throw std::runtime_error("out of host memory for " +
                               std::to_string(bytes) + " bytes");
    if (std::shared_ptr<MemoryMeter> meter = MemoryMeter::current()) {
      meter->allocated(bytes);
      return std::shared_ptr<void>(p, [meter, bytes](void *q) {
        meter->freed(bytes);
        std::free(q);
      });
    }
    return std::shared_ptr<void>(p, std::free);
  }
#if TPC_HAS_CUDA
  void *p = nullptr;
  if (stream) {
    auto s = static_cast<cudaStream_t>(stream);
    checkCuda(cudaMallocAsync(&p, bytes > 0 ? bytes : 1, s), "cudaMallocAsync");
    std::shared_ptr<MemoryMeter> meter = MemoryMeter::current();
    if (meter)
      meter->allocated(bytes);
    return std::shared_ptr<void>(p, [s, meter, bytes](void *q) {
      if (meter)
        meter->freed(bytes);
      cudaFreeAsync(q, s);
    });
  }
  checkCuda(cudaMalloc(&p, bytes > 0 ? bytes : 1), "cudaMalloc");
  return std::shared_ptr<void>(p, [](void *q) { cudaFree(q); });
#else
  throw std::runtime_error("this runtime was built without CUDA");
#endif
}

void copy(void *dst, Device dstDevice, const void *src, Device srcDevice,
          int64_t bytes) {
  if (dstDevice == Device::Host && srcDevice == Device::Host) {
    std::memcpy(dst, src, bytes);
    return;
  }
#if TPC_HAS_CUDA
  cudaMemcpyKind kind = dstDevice == Device::Host   ? cudaMemcpyDeviceToHost
                        : srcDevice == Device::Host ? cudaMemcpyHostToDevice
                                                    : cudaMemcpyDeviceToDevice;
  checkCuda(cudaMemcpy(dst, src, bytes, kind), "cudaMemcpy");
#else
  throw std::runtime_error("this runtime was built without CUDA");
#endif
}
} // namespace

int64_t Tensor::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape_)
    n *= d;
  return n;
}

Tensor Tensor::empty(std::vector<int64_t> shape, DType dtype, Device device,
                     void *cudaStream) {
  Tensor t;
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  t.device_ = device;
  t.storage_ = allocate(t.bytes(), device, cudaStream);
  return t;
}

Tensor Tensor::view(const void *data, std::vector<int64_t> shape, DType dtype,
                    std::shared_ptr<const void> keepAlive) {
  Tensor t;
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  t.device_ = Device::Host;
  // Aliasing constructor: shares `keepAlive`'s ownership (possibly none),
  // points at `data`. Kernels take inputs as const; a view is only read.
  t.storage_ = std::shared_ptr<void>(
      std::const_pointer_cast<void>(keepAlive), const_cast<void *>(data));
  return t;
}

Tensor Tensor::fromFloats(const std::vector<float> &values,
                          std::vector<int64_t> shape, DType dtype,
                          Device device) {
  Tensor host = empty(std::move(shape), dtype, Device::Host);
  if (int64_t(values.size()) != host.numElements())
    throw std::runtime_error("fromFloats: " + std::to_string(values.size()) +
                             " values for " +
                             std::to_string(host.numElements()) + " elements");
  forChunksOnAllCores(int64_t(values.size()), 1 << 20,
                      [&](int64_t begin, int64_t end) {
                        narrow(values.data() + begin, dtype,
                               static_cast<char *>(host.data()) +
                                   begin * dtypeSize(dtype),
                               end - begin);
                      });
  return device == Device::Host ? host : host.to(device, dtype);
}

std::vector<float> Tensor::toFloats() const {
  Tensor host = device_ == Device::Host ? *this : to(Device::Host, dtype_);
  std::vector<float> out(numElements());
  widen(dtype_, host.data(), out.data(), out.size());
  return out;
}

Tensor Tensor::to(Device device, DType dtype) const {
  if (dtype != dtype_)
    return fromFloats(toFloats(), shape_, dtype, device);
  Tensor out = empty(shape_, dtype, device);
  copy(out.data(), device, data(), device_, bytes());
  return out;
}
