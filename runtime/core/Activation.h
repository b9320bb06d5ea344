//===- Activation.h - an activation fused into a linear's kernel -*- C++ -*-===//
#ifndef TPC_RUNTIME_CORE_ACTIVATION_H
#define TPC_RUNTIME_CORE_ACTIVATION_H

namespace tpc {

/// Applied to a linear's result (after the bias) in the same kernel, as
/// tpc-fuse asks: GeLU (tanh form) or SiLU.
enum class Activation { None, Gelu, Silu };

} // namespace tpc

#endif // TPC_RUNTIME_CORE_ACTIVATION_H
