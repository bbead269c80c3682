// Softmax and log-softmax along any dim, forward and backward (see softmax.h). Each lane (the n entries
// along dim) is handled on its own: max, then sum of exp(x - max), then the outputs. Not here: masking,
// which callers do by filling -inf first (attention) and which this file turns into exact zeros.
#include "tensor/softmax.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <vector>

#include "tensor/loops/lanes.h"
#include "tensor/simd/vector_math.h"

namespace qkv::kernels {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// fn(in, out, n) on every lane as a contiguous array: in place when the lanes are rows (dim = -1, the
// usual case), else gathered into a scratch row and the output scattered back. `in` has one pointer per
// input tensor.
template <size_t N, class F>
void for_each_row(const Lanes& l, const std::array<const float*, N>& in, float* out, F fn) {
  for_each_lane_run(l, [&](int64_t o, int64_t i_begin, int64_t i_end) {
    if (l.inner == 1) {
      std::array<const float*, N> row;
      for (size_t k = 0; k < N; ++k) row[k] = in[k] + l.at(o, 0, 0);
      fn(row, out + l.at(o, 0, 0), l.n);
      return;
    }
    std::vector<float> scratch((N + 1) * l.n);  // N gathered inputs, then the output
    for (int64_t i = i_begin; i < i_end; ++i) {
      std::array<const float*, N> row;
      for (size_t k = 0; k < N; ++k) {
        float* copy = scratch.data() + k * l.n;
        for (int64_t j = 0; j < l.n; ++j) copy[j] = in[k][l.at(o, j, i)];
        row[k] = copy;
      }
      float* result = scratch.data() + N * l.n;
      fn(row, result, l.n);
      for (int64_t j = 0; j < l.n; ++j) out[l.at(o, j, i)] = result[j];
    }
  });
}

Tensor softmax_forward(const char* op, const Tensor& x, int64_t dim, bool log) {
  const Lanes l = lanes_along(x.shape(), normalize_dim(op, dim, x.shape()));
  Tensor out = Tensor::empty(x.shape());
  for_each_row<1>(l, {x.data()}, out.mutable_data(), [&](auto in, float* y, int64_t n) {
    const float* v = in[0];
    const float max = vmath::max(v, n);
    // Every entry masked: no probability mass to share out, so zero weights (log: -inf), never NaN.
    if (max == kNegInf) {
      std::fill_n(y, n, log ? kNegInf : 0.0f);
      return;
    }
    // Subtracting the max keeps exp's argument <= 0, so logits of 1e30 do not overflow.
    // softmax keeps each exp(x - max) in y and rescales it afterwards: one exp per entry.
    const double sum = vmath::exp_shifted_sum(v, max, y, n);
    if (log) {
      const float log_sum = static_cast<float>(std::log(sum));
      for (int64_t j = 0; j < n; ++j) y[j] = v[j] - max - log_sum;
    } else {
      const float inv_sum = static_cast<float>(1.0 / sum);
      for (int64_t j = 0; j < n; ++j) y[j] *= inv_sum;
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
  for_each_row<2>(l, {y.data(), dy.data()}, dx.mutable_data(), [&](auto in, float* out, int64_t n) {
    const float *yv = in[0], *g = in[1];
    if (log) {
      double total = 0;
      for (int64_t j = 0; j < n; ++j) total += g[j];
      const auto s = static_cast<float>(total);
      for (int64_t j = 0; j < n; ++j) out[j] = g[j] - std::exp(yv[j]) * s;
    } else {
      const auto s = static_cast<float>(vmath::dot(g, yv, n));
      for (int64_t j = 0; j < n; ++j) out[j] = yv[j] * (g[j] - s);
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
