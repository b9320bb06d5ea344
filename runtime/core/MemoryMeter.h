//===- MemoryMeter.h - bytes of tensors allocated for one rank -*- C++ -*-===//
//
// Counts the bytes of the tensors a thread allocates while a meter is its
// current one, until each is freed (from whatever thread frees it): the
// activations of a rank's pass, to compare with what the compiler planned
// (passes/MemoryPlan.h). Weights and KV caches are allocated with no meter.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_CORE_MEMORYMETER_H
#define TPC_RUNTIME_CORE_MEMORYMETER_H

#include <atomic>
#include <cstdint>
#include <memory>

namespace tpc {

class MemoryMeter {
public:
  int64_t live() const { return live_.load(); }
  int64_t peak() const { return peak_.load(); }
  /// Starts a new peak from what is live now.
  void resetPeak() { peak_.store(live_.load()); }

  void allocated(int64_t bytes);
  void freed(int64_t bytes) { live_.fetch_sub(bytes); }

  /// The calling thread's meter, or null.
  static std::shared_ptr<MemoryMeter> current();

  /// Makes `meter` (null: none) the thread's meter for the scope's life.
  class Scope {
  public:
    explicit Scope(std::shared_ptr<MemoryMeter> meter);
    ~Scope();
    Scope(const Scope &) = delete;
    Scope &operator=(const Scope &) = delete;

  private:
    std::shared_ptr<MemoryMeter> previous;
  };

private:
  std::atomic<int64_t> live_{0}, peak_{0};
};

} // namespace tpc

#endif // TPC_RUNTIME_CORE_MEMORYMETER_H
