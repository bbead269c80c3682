// RMS norm forward and backward (see rms_norm.h).
#include "tensor/rms_norm.h"

#include <cmath>
#include <vector>

#include "tensor/checks.h"
#include "tensor/loops/grain.h"
#include "tensor/parallel.h"
#include "tensor/simd/vector_math.h"

namespace qkv::kernels {
namespace {

// x [..., D] -> D, after checking that gamma (when given) is [D].
int64_t rms_norm_width(const char* op, const Tensor& x, const Tensor& gamma) {
  if (x.dim() < 1 || x.shape().back() == 0)
    fail(op, "needs x of shape [..., D] with D >= 1, got " + to_string(x.shape()));
  const int64_t D = x.shape().back();
  if (gamma.defined() && gamma.shape() != Shape{D})
    fail(op, "gamma of shape " + to_string(gamma.shape()) + " does not match x's last dim: x is " +
                 to_string(x.shape()));
  return D;
}

Shape without_last_dim(const Shape& s) { return Shape(s.begin(), s.end() - 1); }

}  // namespace

RMSNormOut rms_norm(const Tensor& x, const Tensor& gamma, float eps) {
  // x [N..., D] -> y [N..., D]; rstd [N...]
  const int64_t D = rms_norm_width("rms_norm", x, gamma);
  check::positive_number("rms_norm", "eps", eps);  // 0 divides by 0 on a row of zeros
  const int64_t rows = x.numel() / D;
  RMSNormOut out{Tensor::empty(x.shape()), Tensor::empty(without_last_dim(x.shape()))};
  const float* in = x.data();
  const float* g = gamma.defined() ? gamma.data() : nullptr;
  float* y = out.y.mutable_data();
  float* rstd = out.rstd.mutable_data();
  parallel_for(rows, grain_for_rows(D), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* xr = in + r * D;
      // the mean square in double, then one rounding to float
      const double ms = vmath::dot(xr, xr, D) / static_cast<double>(D);
      const auto rstd_r = static_cast<float>(1.0 / std::sqrt(ms + eps));
      rstd[r] = rstd_r;
      float* yr = y + r * D;
      for (int64_t j = 0; j < D; ++j) yr[j] = xr[j] * rstd_r * (g ? g[j] : 1.0f);
    }
  });
  return out;
}

RMSNormGrads rms_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& rstd, const Tensor& gamma) {
  // forward was: xhat = x * rstd;  y = xhat * gamma
  const int64_t D = rms_norm_width("rms_norm_backward", x, gamma);
  const int64_t rows = x.numel() / D;
  if (dy.shape() != x.shape() || rstd.shape() != without_last_dim(x.shape()))
    fail("rms_norm_backward", "dy " + to_string(dy.shape()) + " and rstd " + to_string(rstd.shape()) +
                                  " do not fit x " + to_string(x.shape()));
  RMSNormGrads grads{Tensor::empty(x.shape()), Tensor()};
  const float *in = x.data(), *d = dy.data(), *s = rstd.data();
  const float* g = gamma.defined() ? gamma.data() : nullptr;
  float* dx = grads.dx.mutable_data();
  // dx = rstd * (gy - xhat * mean(gy * xhat)) with gy = dy * gamma: rstd depends on every x of the row,
  // which the mean term accounts for (layer norm's formula without its mean(gy) term).
  parallel_for(rows, grain_for_rows(D), [&](int64_t begin, int64_t end) {
    std::vector<float> gy(D), xh(D);
    for (int64_t r = begin; r < end; ++r) {
      const float* xr = in + r * D;
      const float* dr = d + r * D;
      const float rstd_r = s[r];
      for (int64_t j = 0; j < D; ++j) {
        gy[j] = g ? dr[j] * g[j] : dr[j];
        xh[j] = xr[j] * rstd_r;
      }
      const auto mean_gy_xhat =
          static_cast<float>(vmath::dot(gy.data(), xh.data(), D) / static_cast<double>(D));
      float* dxr = dx + r * D;
      for (int64_t j = 0; j < D; ++j) dxr[j] = rstd_r * (gy[j] - xh[j] * mean_gy_xhat);
    }
  });
  if (!g) return grads;
  // dgamma = sum over rows of dy * xhat: threads split the D columns, each adds its rows in order.
  grads.dgamma = Tensor::empty({D});
  float* dgamma = grads.dgamma.mutable_data();
  parallel_for(D, grain_for_rows(rows), [&](int64_t begin, int64_t end) {
    std::vector<double> acc(end - begin, 0.0);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = begin; j < end; ++j) acc[j - begin] += d[r * D + j] * (in[r * D + j] * s[r]);
    for (int64_t j = begin; j < end; ++j) dgamma[j] = static_cast<float>(acc[j - begin]);
  });
  return grads;
}

}  // namespace qkv::kernels
