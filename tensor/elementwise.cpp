// Elementwise kernels (see elementwise.h): every op is one line handing a lambda to a helper, so the
// broadcasting and threading live in one place (tensor/loops/strided.h). No gradients here.
#include "tensor/elementwise.h"

#include <cmath>

#include "tensor/loops/strided.h"
#include "tensor/simd/vector_math.h"

namespace qkv::kernels {
namespace {

template <class F>
Tensor unary_op(const Tensor& x, F f) {
  return map_strided<1>(x.shape(), {broadcast_input(x, x.shape())}, f);
}

// a and b broadcast to a common shape; `op` names the op in a shape error.
template <class F>
Tensor binary_op(const char* op, const Tensor& a, const Tensor& b, F f) {
  const Shape out = broadcast_shapes(op, a.shape(), b.shape());
  return map_strided<2>(out, {broadcast_input(a, out), broadcast_input(b, out)}, f);
}

// out = f(in...) over contiguous tensors of one shape, where f runs on a range of elements at a time
// (the array functions of vector_math.h): split across threads by ranges, so the bits never depend on
// the thread count.
template <class F>
void over_ranges(int64_t n, F f) {
  parallel_for(n, kElementwiseGrain, [&](int64_t begin, int64_t end) { f(begin, end - begin); });
}

// In-place ops never broadcast: dst keeps its shape, so src must already have it.
void check_same_shape(const char* op, const Tensor& dst, const Tensor& src) {
  if (dst.shape() != src.shape())
    fail(op, "shapes " + to_string(dst.shape()) + " and " + to_string(src.shape()) +
                 " differ (in-place ops do not broadcast)");
}

// dst[i] = f(dst[i], i) for every element, split across threads by ranges of i.
template <class F>
void update_in_place(Tensor& dst, F f) {
  float* d = dst.mutable_data();
  parallel_for(dst.numel(), kElementwiseGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) d[i] = f(d[i], i);
  });
}

}  // namespace

// ---- binary, broadcasting ----
Tensor add(const Tensor& a, const Tensor& b) {
  return binary_op("add", a, b, [](float x, float y) { return x + y; });
}
Tensor sub(const Tensor& a, const Tensor& b) {
  return binary_op("sub", a, b, [](float x, float y) { return x - y; });
}
Tensor mul(const Tensor& a, const Tensor& b) {
  return binary_op("mul", a, b, [](float x, float y) { return x * y; });
}
Tensor div(const Tensor& a, const Tensor& b) {
  return binary_op("div", a, b, [](float x, float y) { return x / y; });
}
Tensor maximum(const Tensor& a, const Tensor& b) {
  // NaN wins, as in PyTorch: a NaN must not vanish silently.
  return binary_op("maximum", a, b, [](float x, float y) { return (x > y || std::isnan(x)) ? x : y; });
}

Tensor eq(const Tensor& a, const Tensor& b) {
  return binary_op("eq", a, b, [](float x, float y) { return float(x == y); });
}
Tensor ne(const Tensor& a, const Tensor& b) {
  return binary_op("ne", a, b, [](float x, float y) { return float(x != y); });
}
Tensor lt(const Tensor& a, const Tensor& b) {
  return binary_op("lt", a, b, [](float x, float y) { return float(x < y); });
}
Tensor le(const Tensor& a, const Tensor& b) {
  return binary_op("le", a, b, [](float x, float y) { return float(x <= y); });
}
Tensor gt(const Tensor& a, const Tensor& b) {
  return binary_op("gt", a, b, [](float x, float y) { return float(x > y); });
}
Tensor ge(const Tensor& a, const Tensor& b) {
  return binary_op("ge", a, b, [](float x, float y) { return float(x >= y); });
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  const Shape out = broadcast_shapes("where", broadcast_shapes("where", cond.shape(), a.shape()), b.shape());
  return map_strided<3>(out, {broadcast_input(cond, out), broadcast_input(a, out), broadcast_input(b, out)},
                        [](float c, float x, float y) { return c != 0 ? x : y; });
}

Tensor masked_fill(const Tensor& x, const Tensor& fill_where, float value) {
  // The mask stretches to x, never x to the mask: the output must keep x's shape.
  if (broadcast_shapes("masked_fill", x.shape(), fill_where.shape()) != x.shape())
    fail("masked_fill", "mask of shape " + to_string(fill_where.shape()) +
                            " does not broadcast to x's shape " + to_string(x.shape()));
  return map_strided<2>(x.shape(), {broadcast_input(x, x.shape()), broadcast_input(fill_where, x.shape())},
                        [value](float v, float m) { return m != 0 ? value : v; });
}

// ---- with a scalar ----
Tensor add_scalar(const Tensor& x, float s) {
  return unary_op(x, [s](float v) { return v + s; });
}
Tensor mul_scalar(const Tensor& x, float s) {
  return unary_op(x, [s](float v) { return v * s; });
}
Tensor pow_scalar(const Tensor& x, float p) {
  return unary_op(x, [p](float v) { return std::pow(v, p); });
}

// ---- unary ----
Tensor neg(const Tensor& x) {
  return unary_op(x, [](float v) { return -v; });
}
Tensor exp(const Tensor& x) {
  return unary_op(x, [](float v) { return std::exp(v); });
}
Tensor log(const Tensor& x) {
  return unary_op(x, [](float v) { return std::log(v); });
}
Tensor sqrt(const Tensor& x) {
  return unary_op(x, [](float v) { return std::sqrt(v); });
}
Tensor abs(const Tensor& x) {
  return unary_op(x, [](float v) { return std::abs(v); });
}
Tensor tanh(const Tensor& x) {
  return unary_op(x, [](float v) { return std::tanh(v); });
}
Tensor sigmoid(const Tensor& x) {
  // Two forms so that exp never overflows: for x < 0, 1/(1+e^-x) = e^x/(1+e^x).
  return unary_op(x, [](float v) {
    if (v >= 0) return 1 / (1 + std::exp(-v));
    const float e = std::exp(v);
    return e / (1 + e);
  });
}
Tensor relu(const Tensor& x) {
  return unary_op(x, [](float v) { return v > 0 ? v : 0.0f; });
}
GeluOut gelu_with_cdf(const Tensor& x) {
  GeluOut out{Tensor::empty(x.shape()), Tensor::empty(x.shape())};
  const float* in = x.data();
  float *y = out.y.mutable_data(), *cdf = out.cdf.mutable_data();
  over_ranges(x.numel(), [&](int64_t at, int64_t n) { vmath::gelu(in + at, y + at, cdf + at, n); });
  return out;
}
Tensor gelu(const Tensor& x) { return gelu_with_cdf(x).y; }
Tensor normal_cdf(const Tensor& x) {
  Tensor out = Tensor::empty(x.shape());
  const float* in = x.data();
  float* cdf = out.mutable_data();
  over_ranges(x.numel(), [&](int64_t at, int64_t n) { vmath::normal_cdf(in + at, cdf + at, n); });
  return out;
}

Tensor relu_backward(const Tensor& grad, const Tensor& x) {
  return binary_op("relu_backward", grad, x, [](float g, float v) { return v > 0 ? g : 0.0f; });
}
Tensor gelu_backward(const Tensor& grad, const Tensor& x, const Tensor& cdf) {
  // d/dx [x Phi(x)] = Phi(x) + x phi(x); Phi(x) comes from the forward, so only phi's exp is new here
  if (grad.shape() != x.shape() || cdf.shape() != x.shape())
    fail("gelu_backward", "grad " + to_string(grad.shape()) + ", x " + to_string(x.shape()) + " and cdf " +
                              to_string(cdf.shape()) + " must have one shape");
  Tensor dx = Tensor::empty(x.shape());
  const float *g = grad.data(), *in = x.data(), *c = cdf.data();
  float* out = dx.mutable_data();
  over_ranges(x.numel(),
              [&](int64_t at, int64_t n) { vmath::gelu_backward(g + at, in + at, c + at, out + at, n); });
  return dx;
}

// ---- in place ----
void add_(Tensor& dst, const Tensor& src, float alpha) {
  check_same_shape("add_", dst, src);
  const float* s = src.data();
  update_in_place(dst, [s, alpha](float d, int64_t i) { return d + alpha * s[i]; });
}
void mul_(Tensor& dst, float s) {
  update_in_place(dst, [s](float d, int64_t) { return d * s; });
}
void fill_(Tensor& dst, float value) {
  update_in_place(dst, [value](float, int64_t) { return value; });
}
void copy_(Tensor& dst, const Tensor& src) {
  check_same_shape("copy_", dst, src);
  const float* s = src.data();
  update_in_place(dst, [s](float, int64_t i) { return s[i]; });
}

}  // namespace qkv::kernels
