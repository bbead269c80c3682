// Differentiable shape ops (see ops.h). Their backward moves the gradient back to where each number
// came from: reshape back, the inverse permutation, or scatter-add into the positions that were read.
#include "tensor/shape_ops.h"

#include <numeric>

#include "autograd/ops.h"

namespace qkv {

using Grads = std::vector<Tensor>;

Tensor reshape(const Tensor& x, Shape shape) {
  return record("reshape", kernels::reshape(x, std::move(shape)), {x}, {},
                [s = x.shape()](const Tensor& g, auto&) { return Grads{kernels::reshape(g, s)}; });
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  return record("unsqueeze", kernels::unsqueeze(x, dim), {x}, {},
                [s = x.shape()](const Tensor& g, auto&) { return Grads{kernels::reshape(g, s)}; });
}

Tensor squeeze(const Tensor& x, int64_t dim) {
  return record("squeeze", kernels::squeeze(x, dim), {x}, {},
                [s = x.shape()](const Tensor& g, auto&) { return Grads{kernels::reshape(g, s)}; });
}

Tensor permute(const Tensor& x, const std::vector<int64_t>& dims) {
  Tensor out = kernels::permute(x, dims);  // validates dims
  // out dim i came from x dim dims[i], so x dim dims[i] comes back from g dim i.
  std::vector<int64_t> inverse(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) inverse[normalize_dim("permute", dims[i], x.shape())] = int64_t(i);
  return record("permute", out, {x}, {},
                [inverse](const Tensor& g, auto&) { return Grads{kernels::permute(g, inverse)}; });
}

Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1) {
  return record("transpose", kernels::transpose(x, dim0, dim1), {x}, {},
                [dim0, dim1](const Tensor& g, auto&) { return Grads{kernels::transpose(g, dim0, dim1)}; });
}

// The positions slice(dim, start, end, step) reads, as the index list index_add needs for its backward.
static Tensor slice_positions(const Shape& shape, int64_t dim, int64_t start, int64_t end, int64_t step) {
  return kernels::slice(arange(float(shape[dim])), 0, start, end, step);
}

Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step) {
  Tensor out = kernels::slice(x, dim, start, end, step);
  const int64_t d = normalize_dim("slice", dim, x.shape());
  const Tensor positions = slice_positions(x.shape(), d, start, end, step);
  return record("slice", out, {x}, {}, [s = x.shape(), d, positions](const Tensor& g, auto&) {
    // each read position gets its gradient back; the others get zero
    return Grads{kernels::index_add(s, d, positions, g)};
  });
}

Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  kernels::narrow(x, dim, start, length);  // for narrow's own, stricter, bounds errors
  return slice(x, dim, start, start + length);
}

Tensor concat(const std::vector<Tensor>& xs, int64_t dim) {
  Tensor out = kernels::concat(xs, dim);
  const int64_t d = normalize_dim("concat", dim, xs.front().shape());
  std::vector<int64_t> sizes;
  for (const Tensor& x : xs) sizes.push_back(x.shape()[d]);
  return record("concat", out, xs, {}, [d, sizes](const Tensor& g, auto& ctx) {
    // each input gets back its own stretch of the gradient along dim
    Grads grads;
    int64_t offset = 0;
    for (size_t i = 0; i < sizes.size(); offset += sizes[i++])
      grads.push_back(ctx.needs_grad[i] ? kernels::narrow(g, d, offset, sizes[i]) : Tensor());
    return grads;
  });
}

Tensor stack(const std::vector<Tensor>& xs, int64_t dim) {
  Tensor out = kernels::stack(xs, dim);
  const int64_t d = normalize_dim("stack", dim, out.shape());
  return record("stack", out, xs, {}, [d](const Tensor& g, auto& ctx) {
    Grads grads;
    for (size_t i = 0; i < ctx.needs_grad.size(); ++i)
      grads.push_back(ctx.needs_grad[i] ? kernels::squeeze(kernels::narrow(g, d, int64_t(i), 1), d)
                                        : Tensor());
    return grads;
  });
}

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& indices) {
  Tensor out = kernels::index_select(x, dim, indices);
  const int64_t d = normalize_dim("index_select", dim, x.shape());
  return record("index_select", out, {x, indices}, {indices}, [s = x.shape(), d](const Tensor& g, auto& ctx) {
    // rows read twice get their gradients added twice; the indices get none
    return Grads{kernels::index_add(s, d, ctx.saved[0], g), Tensor()};
  });
}

Tensor embedding(const Tensor& weight, const Tensor& ids) {
  if (weight.dim() != 2) fail("embedding", "weight must be [V,D], got " + to_string(weight.shape()));
  return index_select(weight, 0, ids);
}

}  // namespace qkv
