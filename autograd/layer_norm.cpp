// Differentiable layer norm (see ops.h): the fused kernels of tensor/layer_norm.h, the backward derived in
// docs/derivations/layer_norm.md.
#include "tensor/layer_norm.h"
#include "autograd/ops.h"

namespace qkv {

using Grads = std::vector<Tensor>;

Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps) {
  kernels::LayerNormOut out = kernels::layer_norm(x, gamma, beta, eps);
  return record("layer_norm", out.y, {x, gamma, beta}, {x, out.mean, out.rstd, gamma},
                [](const Tensor& g, auto& ctx) {
                  // dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = dy * gamma
                  // (docs/derivations/layer_norm.md)
                  const auto& s = ctx.saved;
                  kernels::LayerNormGrads grads = kernels::layer_norm_backward(g, s[0], s[1], s[2], s[3]);
                  return Grads{grads.dx, grads.dgamma, grads.dbeta};
                });
}

}  // namespace qkv
