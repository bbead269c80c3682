// Differentiable RMS norm (see ops.h): the fused kernels of tensor/rms_norm.h.
#include "tensor/rms_norm.h"
#include "autograd/ops.h"

namespace qkv {

Tensor rms_norm(const Tensor& x, const Tensor& gamma, float eps) {
  kernels::RMSNormOut out = kernels::rms_norm(x, gamma, eps);
  return record("rms_norm", out.y, {x, gamma}, {x, out.rstd, gamma}, [](const Tensor& g, auto& ctx) {
    // dx = rstd * (dxhat - xhat * mean(dxhat * xhat)), dxhat = dy * gamma;  dgamma = sum dy * xhat
    const auto& s = ctx.saved;
    kernels::RMSNormGrads grads = kernels::rms_norm_backward(g, s[0], s[1], s[2]);
    return std::vector<Tensor>{grads.dx, grads.dgamma};
  });
}

}  // namespace qkv
