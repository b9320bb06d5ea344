//===- MemoryMeter.cpp - bytes of tensors allocated for one rank ----------===//
#include "runtime/core/MemoryMeter.h"

using namespace tpc;

namespace {
thread_local std::shared_ptr<MemoryMeter> threadMeter;
} // namespace

void MemoryMeter::allocated(int64_t bytes) {
  int64_t now = live_.fetch_add(bytes) + bytes;
  int64_t peak = peak_.load();
  while (now > peak && !peak_.compare_exchange_weak(peak, now)) {
  }
}

std::shared_ptr<MemoryMeter> MemoryMeter::current() { return threadMeter; }

MemoryMeter::Scope::Scope(std::shared_ptr<MemoryMeter> meter)
    : previous(std::move(threadMeter)) {
  threadMeter = std::move(meter);
}

MemoryMeter::Scope::~Scope() { threadMeter = std::move(previous); }
