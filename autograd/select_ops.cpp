// Differentiable selection (see ops.h): the gradient follows the value that was chosen.
#include "autograd/ops.h"

namespace qkv {

using Grads = std::vector<Tensor>;

Tensor masked_fill(const Tensor& x, const Tensor& fill_where, float value) {
  return record("masked_fill", kernels::masked_fill(x, fill_where, value), {x, fill_where}, {fill_where},
                [](const Tensor& g, auto& ctx) {
                  // filled entries are constants: no gradient flows through them
                  return Grads{kernels::masked_fill(g, ctx.saved[0], 0), Tensor()};
                });
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  return record("where", kernels::where(cond, a, b), {cond, a, b}, {cond},
                [sa = a.shape(), sb = b.shape()](const Tensor& g, auto& ctx) {
                  // d where(c, a, b) = c ? da : db
                  const Tensor zero = scalar(0);
                  const Tensor& cond = ctx.saved[0];
                  return Grads{
                      Tensor(),
                      ctx.needs_grad[1] ? kernels::sum_to(kernels::where(cond, g, zero), sa) : Tensor(),
                      ctx.needs_grad[2] ? kernels::sum_to(kernels::where(cond, zero, g), sb) : Tensor()};
                });
}

}  // namespace qkv
