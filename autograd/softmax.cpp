// Differentiable softmax and log-softmax (see ops.h); the kernels are tensor/softmax.h and the backward is
// derived in docs/derivations/softmax.md.
#include "tensor/softmax.h"
#include "autograd/ops.h"

namespace qkv {

using Grads = std::vector<Tensor>;

Tensor softmax(const Tensor& x, int64_t dim) {
  Tensor y = kernels::softmax(x, dim);
  return record("softmax", y, {x}, {y}, [dim](const Tensor& g, auto& ctx) {
    // dx = y * (dy - sum(dy * y))      (docs/derivations/softmax.md)
    return Grads{kernels::softmax_backward(ctx.saved[0], g, dim)};
  });
}

Tensor log_softmax(const Tensor& x, int64_t dim) {
  Tensor y = kernels::log_softmax(x, dim);
  return record("log_softmax", y, {x}, {y}, [dim](const Tensor& g, auto& ctx) {
    // dx = dy - softmax(x) * sum(dy)
    return Grads{kernels::log_softmax_backward(ctx.saved[0], g, dim)};
  });
}

}  // namespace qkv
