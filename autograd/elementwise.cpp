// Differentiable elementwise ops (see ops.h, tensor/elementwise.h): arithmetic, activations, and selection
// (masked_fill, where), whose gradient follows the value that was chosen. Each op: the kernel for the forward,
// then record() with the backward beside it. For binary ops, sum_to() folds the gradient of a broadcast
// operand back to its own shape ([B,T,D] grad -> [D] bias).
#include "autograd/ops.h"

namespace qkv {

using kernels::sum_to;
using Grads = std::vector<Tensor>;

// ---- binary, broadcasting ----
Tensor add(const Tensor& a, const Tensor& b) {
  return record("add", kernels::add(a, b), {a, b}, {},
                [sa = a.shape(), sb = b.shape()](const Tensor& g, auto&) {
                  // d(a + b) = da + db
                  return Grads{sum_to(g, sa), sum_to(g, sb)};
                });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  return record("sub", kernels::sub(a, b), {a, b}, {},
                [sa = a.shape(), sb = b.shape()](const Tensor& g, auto& ctx) {
                  // d(a - b) = da - db
                  return Grads{sum_to(g, sa), ctx.needs_grad[1] ? sum_to(kernels::neg(g), sb) : Tensor()};
                });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  return record("mul", kernels::mul(a, b), {a, b}, {a, b},
                [sa = a.shape(), sb = b.shape()](const Tensor& g, auto& ctx) {
                  // d(a * b) = b da + a db
                  const Tensor& a = ctx.saved[0];
                  const Tensor& b = ctx.saved[1];
                  return Grads{ctx.needs_grad[0] ? sum_to(kernels::mul(g, b), sa) : Tensor(),
                               ctx.needs_grad[1] ? sum_to(kernels::mul(g, a), sb) : Tensor()};
                });
}

Tensor div(const Tensor& a, const Tensor& b) {
  return record("div", kernels::div(a, b), {a, b}, {a, b},
                [sa = a.shape(), sb = b.shape()](const Tensor& g, auto& ctx) {
                  // d(a / b) = da / b - a db / b^2
                  const Tensor& a = ctx.saved[0];
                  const Tensor& b = ctx.saved[1];
                  const Tensor g_over_b = kernels::div(g, b);
                  return Grads{ctx.needs_grad[0] ? sum_to(g_over_b, sa) : Tensor(),
                               ctx.needs_grad[1]
                                   ? sum_to(kernels::neg(kernels::div(kernels::mul(g_over_b, a), b)), sb)
                                   : Tensor()};
                });
}

// ---- with a scalar ----
Tensor add(const Tensor& x, float s) {
  // d(x + s) = dx
  return record("add_scalar", kernels::add_scalar(x, s), {x}, {},
                [](const Tensor& g, auto&) { return Grads{g}; });
}

Tensor mul(const Tensor& x, float s) {
  return record("mul_scalar", kernels::mul_scalar(x, s), {x}, {}, [s](const Tensor& g, auto&) {
    // d(s x) = s dx
    return Grads{kernels::mul_scalar(g, s)};
  });
}

Tensor div(float s, const Tensor& x) {
  Tensor y = kernels::div(scalar(s), x);  // the 0-d s broadcasts to x's shape
  return record("div_scalar_first", y, {x}, {x, y}, [](const Tensor& g, auto& ctx) {
    // d(s / x) = -s / x^2 dx = -(y / x) dx
    return Grads{kernels::neg(kernels::mul(g, kernels::div(ctx.saved[1], ctx.saved[0])))};
  });
}

Tensor neg(const Tensor& x) {
  // d(-x) = -dx
  return record("neg", kernels::neg(x), {x}, {},
                [](const Tensor& g, auto&) { return Grads{kernels::neg(g)}; });
}

Tensor pow(const Tensor& x, float p) {
  return record("pow", kernels::pow_scalar(x, p), {x}, {x}, [p](const Tensor& g, auto& ctx) {
    // d(x^p) = p x^(p-1) dx
    return Grads{kernels::mul(g, kernels::mul_scalar(kernels::pow_scalar(ctx.saved[0], p - 1), p))};
  });
}

// ---- unary functions; several reuse their output y in backward ----
Tensor exp(const Tensor& x) {
  Tensor y = kernels::exp(x);
  return record("exp", y, {x}, {y}, [](const Tensor& g, auto& ctx) {
    // d exp(x) = exp(x) dx = y dx
    return Grads{kernels::mul(g, ctx.saved[0])};
  });
}

Tensor log(const Tensor& x) {
  return record("log", kernels::log(x), {x}, {x}, [](const Tensor& g, auto& ctx) {
    // d log(x) = dx / x
    return Grads{kernels::div(g, ctx.saved[0])};
  });
}

Tensor sqrt(const Tensor& x) {
  Tensor y = kernels::sqrt(x);
  return record("sqrt", y, {x}, {y}, [](const Tensor& g, auto& ctx) {
    // d sqrt(x) = dx / (2 sqrt(x)) = 0.5 dx / y
    return Grads{kernels::mul_scalar(kernels::div(g, ctx.saved[0]), 0.5f)};
  });
}

Tensor abs(const Tensor& x) {
  return record("abs", kernels::abs(x), {x}, {x}, [](const Tensor& g, auto& ctx) {
    // d|x| = sign(x) dx, with sign(0) = 0 as PyTorch: (x > 0) - (x < 0)
    const Tensor& x = ctx.saved[0];
    const Tensor zero = scalar(0);
    return Grads{kernels::mul(g, kernels::sub(kernels::gt(x, zero), kernels::lt(x, zero)))};
  });
}

Tensor tanh(const Tensor& x) {
  Tensor y = kernels::tanh(x);
  return record("tanh", y, {x}, {y}, [](const Tensor& g, auto& ctx) {
    // d tanh(x) = (1 - y^2) dx
    const Tensor& y = ctx.saved[0];
    return Grads{kernels::mul(g, kernels::add_scalar(kernels::neg(kernels::mul(y, y)), 1))};
  });
}

Tensor sigmoid(const Tensor& x) {
  Tensor y = kernels::sigmoid(x);
  return record("sigmoid", y, {x}, {y}, [](const Tensor& g, auto& ctx) {
    // d sigmoid(x) = y (1 - y) dx
    const Tensor& y = ctx.saved[0];
    return Grads{kernels::mul(g, kernels::mul(y, kernels::add_scalar(kernels::neg(y), 1)))};
  });
}

Tensor relu(const Tensor& x) {
  return record("relu", kernels::relu(x), {x}, {x}, [](const Tensor& g, auto& ctx) {
    // d relu(x) = (x > 0) dx
    return Grads{kernels::relu_backward(g, ctx.saved[0])};
  });
}

Tensor gelu(const Tensor& x) {
  // Phi(x) is saved, so backward does not evaluate erf a second time.
  const kernels::GeluOut out = kernels::gelu_with_cdf(x);  // y = x * Phi(x), cdf = Phi(x)
  return record("gelu", out.y, {x}, {x, out.cdf}, [](const Tensor& g, auto& ctx) {
    // d (x Phi(x)) = (Phi(x) + x phi(x)) dx
    return Grads{kernels::gelu_backward(g, ctx.saved[0], ctx.saved[1])};
  });
}

// ---- operators: spelled with the functions above ----
Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& x) { return neg(x); }
Tensor operator+(const Tensor& x, float s) { return add(x, s); }
Tensor operator+(float s, const Tensor& x) { return add(x, s); }
Tensor operator-(const Tensor& x, float s) { return add(x, -s); }
Tensor operator-(float s, const Tensor& x) { return add(neg(x), s); }
Tensor operator*(const Tensor& x, float s) { return mul(x, s); }
Tensor operator*(float s, const Tensor& x) { return mul(x, s); }
Tensor operator/(const Tensor& x, float s) { return mul(x, 1 / s); }
Tensor operator/(float s, const Tensor& x) { return div(s, x); }

// ---- selection: the gradient follows the value that was chosen ----
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
