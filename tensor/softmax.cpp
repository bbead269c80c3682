// Softmax and log-softmax along any dim, forward and backward (see softmax.h). Each lane (the n entries
// along dim) is handled on its own: max, then sum of exp(x - max), then the outputs. Not here: masking,
// which callers do by filling -inf first (attention) and which this file turns into exact zeros.
#include "tensor/softmax.h"

#include <cmath>
#include <limits>

#include "tensor/lanes.h"

namespace qkv::kernels {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// fn(base): lane element j sits at base + j * l.inner.
template <class F>
void for_each_lane(const Lanes& l, F fn) {
  for_each_lane_run(l, [&](int64_t o, int64_t i_begin, int64_t i_end) {
    for (int64_t i = i_begin; i < i_end; ++i) fn(l.at(o, 0, i));
  });
}

Tensor softmax_forward(const char* op, const Tensor& x, int64_t dim, bool log) {
  const Lanes l = lanes_along(x.shape(), normalize_dim(op, dim, x.shape()));
  Tensor out = Tensor::empty(x.shape());
  const float* in = x.data();
  float* y = out.mutable_data();
  for_each_lane(l, [&](int64_t base) {
    auto at = [&](int64_t j) { return base + j * l.inner; };
    float max = kNegInf;
    for (int64_t j = 0; j < l.n; ++j) max = std::max(max, in[at(j)]);
    // Every entry masked: no probability mass to share out, so zero weights (log: -inf), never NaN.
    if (max == kNegInf) {
      for (int64_t j = 0; j < l.n; ++j) y[at(j)] = log ? kNegInf : 0.0f;
      return;
    }
    // Subtracting the max keeps exp's argument <= 0, so logits of 1e30 do not overflow.
    // softmax keeps each exp(x - max) in y and rescales it afterwards: one exp per entry.
    double sum = 0;
    for (int64_t j = 0; j < l.n; ++j) {
      const float e = std::exp(in[at(j)] - max);
      sum += e;
      if (!log) y[at(j)] = e;
    }
    if (log) {
      const float log_sum = static_cast<float>(std::log(sum));
      for (int64_t j = 0; j < l.n; ++j) y[at(j)] = in[at(j)] - max - log_sum;
    } else {
      const float inv_sum = static_cast<float>(1.0 / sum);
      for (int64_t j = 0; j < l.n; ++j) y[at(j)] *= inv_sum;
    }
  });
  return out;
}

// Both backwards need one sum per lane and then one pass; y is the forward's output.
//   softmax:      dx = y * (dy - sum(dy * y))
//   log_softmax:  dx = dy - exp(y) * sum(dy)
Tensor softmax_backward_impl(const char* op, const Tensor& y, const Tensor& dy, int64_t dim, bool log) {
  if (y.shape() != dy.shape())
    fail(op, "output of shape " + to_string(y.shape()) + " but gradient of shape " + to_string(dy.shape()));
  const Lanes l = lanes_along(y.shape(), normalize_dim(op, dim, y.shape()));
  Tensor dx = Tensor::empty(y.shape());
  const float* yv = y.data();
  const float* g = dy.data();
  float* out = dx.mutable_data();
  for_each_lane(l, [&](int64_t base) {
    auto at = [&](int64_t j) { return base + j * l.inner; };
    double dot = 0;
    for (int64_t j = 0; j < l.n; ++j) dot += log ? g[at(j)] : g[at(j)] * yv[at(j)];
    const auto s = static_cast<float>(dot);
    for (int64_t j = 0; j < l.n; ++j) {
      const int64_t k = at(j);
      out[k] = log ? g[k] - std::exp(yv[k]) * s : yv[k] * (g[k] - s);
    }
  });
  return dx;
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_forward("softmax", x, dim, false); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_forward("log_softmax", x, dim, true); }

Tensor softmax_backward(const Tensor& y, const Tensor& dy, int64_t dim) {
  return softmax_backward_impl("softmax_backward", y, dy, dim, false);
}
Tensor log_softmax_backward(const Tensor& y, const Tensor& dy, int64_t dim) {
  return softmax_backward_impl("log_softmax_backward", y, dy, dim, true);
}

}  // namespace qkv::kernels
