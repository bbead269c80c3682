// Elementwise kernels: numbers only, no gradients (autograd/ wraps them).
// Binary ops broadcast as NumPy does: shapes align from the right, and a size-1 (or missing) dim
// stretches, so [B,T,D] + [D] adds one row to every position. The result is a new contiguous tensor.
#pragma once
#include "tensor/tensor.h"

namespace qkv::kernels {

// ---- binary, broadcasting: out[i] = a[i] op b[i] ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);

// Comparisons give 1.0 where true and 0.0 where false (a mask with the polarity in its name).
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);

// out = cond != 0 ? a : b, all three broadcast together.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
// out = fill_where != 0 ? value : x; fill_where broadcasts to x's shape (not the other way).
Tensor masked_fill(const Tensor& x, const Tensor& fill_where, float value);

// ---- with a scalar ----
Tensor add_scalar(const Tensor& x, float s);  // x + s
Tensor mul_scalar(const Tensor& x, float s);  // x * s
Tensor pow_scalar(const Tensor& x, float p);  // x ^ p

// ---- unary ----
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor gelu(const Tensor& x);        // exact: x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), PyTorch's default
Tensor normal_cdf(const Tensor& x);  // Phi(x) = 0.5 (1 + erf(x / sqrt 2)); gelu(x) == mul(x, normal_cdf(x))
// gelu's output and the Phi(x) it multiplied by, from one pass (autograd's gelu keeps cdf for backward).
struct GeluOut {
  Tensor y, cdf;
};
GeluOut gelu_with_cdf(const Tensor& x);

// Fused derivatives used by autograd's backward (each is grad * f'(x)).
Tensor relu_backward(const Tensor& grad, const Tensor& x);  // grad * (x > 0)
// grad * (Phi(x) + x phi(x)), given cdf = normal_cdf(x) from the forward; all three of one shape.
Tensor gelu_backward(const Tensor& grad, const Tensor& x, const Tensor& cdf);

// ---- in place, same shapes only (no broadcasting); they bump dst's version ----
void add_(Tensor& dst, const Tensor& src, float alpha = 1);  // dst += alpha * src
void mul_(Tensor& dst, float s);                             // dst *= s
void fill_(Tensor& dst, float value);
void copy_(Tensor& dst, const Tensor& src);

}  // namespace qkv::kernels
