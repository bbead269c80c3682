// Differentiable SwiGLU gate (see ops.h), on the kernels of tensor/swiglu.h.
#include "tensor/swiglu.h"
#include "autograd/ops.h"

namespace qkv {

Tensor swiglu(const Tensor& a, const Tensor& b) {
  return record("swiglu", kernels::swiglu(a, b), {a, b}, {a, b}, [](const Tensor& g, auto& ctx) {
    // y = a sigmoid(a) b: da = g b s (1 + a (1 - s)), db = g a s
    kernels::SwiGLUGrads grads = kernels::swiglu_backward(g, ctx.saved[0], ctx.saved[1]);
    return std::vector<Tensor>{grads.da, grads.db};
  });
}

}  // namespace qkv
