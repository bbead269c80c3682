// Layer norm's fused kernels: one pass per row for the forward (mean, variance, normalise, scale) and
// for the backward (derived in docs/derivations/layer_norm.md). The same numbers as its composition from
// primitive kernels, which the tests check; autograd/layer_norm.cpp makes it differentiable.
#pragma once
#include "tensor/tensor.h"

namespace qkv::kernels {

// Layer norm over the last dim D of x [..., D]:  y = (x - mean) * rstd * gamma + beta,
// rstd = 1 / sqrt(var + eps), var the biased variance. gamma/beta [D] may be undefined (no affine).
// mean and rstd have x's shape without its last dim; backward needs them.
struct LayerNormOut {
  Tensor y, mean, rstd;
};
LayerNormOut layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps);
struct LayerNormGrads {
  Tensor dx, dgamma, dbeta;  // dgamma/dbeta undefined when gamma was
};
LayerNormGrads layer_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                   const Tensor& gamma);

}  // namespace qkv::kernels
