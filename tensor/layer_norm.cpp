// Layer norm forward and backward (see layer_norm.h).
#include "tensor/layer_norm.h"

#include <cmath>

#include "tensor/checks.h"
#include "tensor/loops/grain.h"
#include "tensor/parallel.h"
#include "tensor/simd/vector_math.h"

namespace qkv::kernels {
namespace {

// x [..., D] -> D, after checking that gamma/beta (when given) are [D].
int64_t layer_norm_width(const char* op, const Tensor& x, const Tensor& gamma, const Tensor& beta) {
  if (x.dim() < 1 || x.shape().back() == 0)
    fail(op, "needs x of shape [..., D] with D >= 1, got " + to_string(x.shape()));
  const int64_t D = x.shape().back();
  for (const Tensor* p : {&gamma, &beta})
    if (p->defined() && p->shape() != Shape{D})
      fail(op, std::string(p == &gamma ? "gamma" : "beta") + " of shape " + to_string(p->shape()) +
                   " does not match x's last dim: x is " + to_string(x.shape()));
  return D;
}

Shape without_last_dim(const Shape& s) { return Shape(s.begin(), s.end() - 1); }

}  // namespace

LayerNormOut layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps) {
  // x [N..., D] -> y [N..., D]; mean, rstd [N...]
  const int64_t D = layer_norm_width("layer_norm", x, gamma, beta);
  check::positive_number("layer_norm", "eps", eps);  // a negative eps takes the root of var + eps < 0
  const int64_t rows = x.numel() / D;
  LayerNormOut out{Tensor::empty(x.shape()), Tensor::empty(without_last_dim(x.shape())),
                   Tensor::empty(without_last_dim(x.shape()))};
  const float* in = x.data();
  const float* g = gamma.defined() ? gamma.data() : nullptr;
  const float* b = beta.defined() ? beta.data() : nullptr;
  float* y = out.y.mutable_data();
  float* mean = out.mean.mutable_data();
  float* rstd = out.rstd.mutable_data();
  parallel_for(rows, grain_for_rows(D), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* xr = in + r * D;
      // Two passes (mean, then squared deviations) in double: no cancellation as in E[x^2] - E[x]^2.
      const double m = vmath::sum(xr, D) / static_cast<double>(D);
      const double sq = vmath::sum_sq_dev(xr, m, D);
      // locals, not mean[r] and rstd[r]: y could alias them as far as the compiler knows, and would make it
      // reload both after every store instead of vectorising the loop
      const auto mean_r = static_cast<float>(m);
      const auto rstd_r = static_cast<float>(1.0 / std::sqrt(sq / static_cast<double>(D) + eps));
      mean[r] = mean_r;
      rstd[r] = rstd_r;
      float* yr = y + r * D;
      if (g && b) {
        for (int64_t j = 0; j < D; ++j) yr[j] = (xr[j] - mean_r) * rstd_r * g[j] + b[j];
      } else {
        for (int64_t j = 0; j < D; ++j)
          yr[j] = (xr[j] - mean_r) * rstd_r * (g ? g[j] : 1.0f) + (b ? b[j] : 0.0f);
      }
    }
  });
  return out;
}

LayerNormGrads layer_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                   const Tensor& gamma) {
  // forward was: xhat = (x - mean) * rstd;  y = xhat * gamma + beta
  const int64_t D = layer_norm_width("layer_norm_backward", x, gamma, Tensor());
  const int64_t rows = x.numel() / D;
  const Shape stats = without_last_dim(x.shape());
  if (dy.shape() != x.shape() || mean.shape() != stats || rstd.shape() != stats)
    fail("layer_norm_backward", "dy " + to_string(dy.shape()) + ", mean " + to_string(mean.shape()) +
                                    " and rstd " + to_string(rstd.shape()) + " do not fit x " +
                                    to_string(x.shape()));
  LayerNormGrads grads{Tensor::empty(x.shape()), Tensor(), Tensor()};
  const float *in = x.data(), *d = dy.data(), *m = mean.data(), *s = rstd.data();
  const float* g = gamma.defined() ? gamma.data() : nullptr;
  auto xhat = [&](int64_t r, int64_t j) { return (in[r * D + j] - m[r]) * s[r]; };
  float* dx = grads.dx.mutable_data();
  // dx = rstd * (gy - mean(gy) - xhat * mean(gy * xhat)) with gy = dy * gamma; derivation: the mean and
  // rstd of a row both depend on every x in that row, which the two mean terms account for.
  parallel_for(rows, grain_for_rows(D), [&](int64_t begin, int64_t end) {
    std::vector<float> gy(D), xh(D);  // one row of gy and xhat, reused by the three loops over it
    for (int64_t r = begin; r < end; ++r) {
      const float* xr = in + r * D;
      const float* dr = d + r * D;
      const float mean_r = m[r], rstd_r = s[r];  // locals: no reload per element for fear of aliasing
      for (int64_t j = 0; j < D; ++j) {
        gy[j] = g ? dr[j] * g[j] : dr[j];
        xh[j] = (xr[j] - mean_r) * rstd_r;
      }
      const auto mean_gy = static_cast<float>(vmath::sum(gy.data(), D) / static_cast<double>(D));
      const auto mean_gy_xhat =
          static_cast<float>(vmath::dot(gy.data(), xh.data(), D) / static_cast<double>(D));
      float* dxr = dx + r * D;
      for (int64_t j = 0; j < D; ++j) dxr[j] = rstd_r * (gy[j] - mean_gy - xh[j] * mean_gy_xhat);
    }
  });
  if (!g) return grads;
  // dgamma = sum over rows of dy * xhat, dbeta = sum over rows of dy: threads split the D columns.
  grads.dgamma = Tensor::empty({D});
  grads.dbeta = Tensor::empty({D});
  float* dgamma = grads.dgamma.mutable_data();
  float* dbeta = grads.dbeta.mutable_data();
  parallel_for(D, grain_for_rows(rows), [&](int64_t begin, int64_t end) {
    // Rows outside, columns inside, so memory is read in order; each column still adds its rows in order.
    std::vector<double> acc_gamma(end - begin, 0.0), acc_beta(end - begin, 0.0);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t j = begin; j < end; ++j) {
        acc_gamma[j - begin] += d[r * D + j] * xhat(r, j);
        acc_beta[j - begin] += d[r * D + j];
      }
    }
    for (int64_t j = begin; j < end; ++j) {
      dgamma[j] = static_cast<float>(acc_gamma[j - begin]);
      dbeta[j] = static_cast<float>(acc_beta[j - begin]);
    }
  });
  return grads;
}

}  // namespace qkv::kernels
