// RMSNorm's fused kernels (Zhang and Sennrich 2019; LLaMA's norm): layer norm without the mean and the
// shift, one pass per row forward and backward. The same numbers as its composition from primitive ops,
// which the tests check; autograd/rms_norm.cpp makes it differentiable. No bias: RMSNorm has none.
#pragma once
#include "tensor/tensor.h"

namespace qkv::kernels {

// RMS norm over the last dim D of x [..., D]:  y = x * rstd * gamma,  rstd = 1 / sqrt(mean(x^2) + eps).
// gamma [D] may be undefined (no scale). rstd has x's shape without its last dim; backward needs it.
struct RMSNormOut {
  Tensor y, rstd;
};
RMSNormOut rms_norm(const Tensor& x, const Tensor& gamma, float eps);
struct RMSNormGrads {
  Tensor dx, dgamma;  // dgamma undefined when gamma was
};
RMSNormGrads rms_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& rstd, const Tensor& gamma);

}  // namespace qkv::kernels
