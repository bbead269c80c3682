// Differentiable reductions (see ops.h): the gradient of a sum spreads back over what was summed.
#include "autograd/ops.h"
#include "tensor/shape_ops.h"

namespace qkv {

using Grads = std::vector<Tensor>;

// A reduced gradient g back to the input's shape: put the reduced dim back (size 1), then broadcast.
static Tensor spread(const Tensor& g, const Shape& shape, int64_t dim, bool keepdim) {
  return kernels::broadcast_to(keepdim ? g : kernels::unsqueeze(g, dim), shape);
}

Tensor sum(const Tensor& x) {
  return record("sum", kernels::sum_all(x), {x}, {}, [shape = x.shape()](const Tensor& g, auto&) {
    // d sum(x) / dx_i = 1
    return Grads{kernels::broadcast_to(g, shape)};
  });
}

Tensor sum(const Tensor& x, int64_t dim, bool keepdim) {
  const int64_t d = normalize_dim("sum", dim, x.shape());
  return record("sum", kernels::sum(x, d, keepdim), {x}, {},
                [shape = x.shape(), d, keepdim](const Tensor& g, auto&) {
                  return Grads{spread(g, shape, d, keepdim)};
                });
}

Tensor mean(const Tensor& x) {
  return record("mean", kernels::mean_all(x), {x}, {}, [shape = x.shape()](const Tensor& g, auto&) {
    // d mean(x) / dx_i = 1 / n
    return Grads{kernels::mul_scalar(kernels::broadcast_to(g, shape), 1.0f / float(numel(shape)))};
  });
}

Tensor mean(const Tensor& x, int64_t dim, bool keepdim) {
  const int64_t d = normalize_dim("mean", dim, x.shape());
  return record("mean", kernels::mean(x, d, keepdim), {x}, {},
                [shape = x.shape(), d, keepdim](const Tensor& g, auto&) {
                  return Grads{kernels::mul_scalar(spread(g, shape, d, keepdim), 1.0f / float(shape[d]))};
                });
}

Tensor max(const Tensor& x, int64_t dim, bool keepdim) {
  const int64_t d = normalize_dim("max", dim, x.shape());
  kernels::MaxResult m = kernels::max(x, d, /*keepdim=*/true);
  // The gradient goes to the argmax only: one_hot[..., i, ...] = (i == index along dim).
  Shape positions_shape(x.dim(), 1);
  positions_shape[d] = x.shape()[d];
  const Tensor one_hot =
      kernels::eq(kernels::reshape(arange(float(x.shape()[d])), positions_shape), m.indices);
  Tensor values = keepdim ? m.values : kernels::squeeze(m.values, d);
  return record("max", values, {x}, {one_hot}, [d, keepdim](const Tensor& g, auto& ctx) {
    // d max(x) / dx_i = 1 at the (first) argmax, else 0
    return Grads{kernels::mul(ctx.saved[0], keepdim ? g : kernels::unsqueeze(g, d))};
  });
}

}  // namespace qkv
