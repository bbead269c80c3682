// RMS norm forward and backward (see rms_norm.h).
#include "tensor/rms_norm.h"

#include <cmath>
#include <vector>

#include "tensor/checks.h"
#include "tensor/loops/grain.h"
#include "tensor/loops/row_jobs.h"
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

// The three loops of RMS norm, each over a range of rows (or, for dgamma, of columns), as one job a thread
// runs (layer norm's Job, without the mean and beta): x, dy, out [rows, D]; rstd [rows]; gamma, dgamma [D].
// A null gamma is no gamma.
struct Job {
  enum Kind { forward, backward, columns } kind;
  int64_t begin = 0, end = 0, rows = 0, D = 0;
  const float *x = nullptr, *gamma = nullptr, *dy = nullptr;
  float eps = 0;
  float* out = nullptr;         // forward: y; backward: dx
  const float* rstd = nullptr;  // backward: the forward's
  float* rstd_out = nullptr;    // forward
  float* dgamma = nullptr;
};

// y = x * rstd * gamma, row by row.
[[gnu::always_inline]] inline void forward_rows(const Job& job) {
  const int64_t D = job.D;
  const float* g = job.gamma;
  for (int64_t r = job.begin; r < job.end; ++r) {
    const float* xr = job.x + r * D;
    // the mean square in double, then one rounding to float
    const double ms = vmath::dot(xr, xr, D) / static_cast<double>(D);
    const auto rstd_r = static_cast<float>(1.0 / std::sqrt(ms + job.eps));
    job.rstd_out[r] = rstd_r;
    float* yr = job.out + r * D;
    if (g) {
      for (int64_t j = 0; j < D; ++j) yr[j] = xr[j] * rstd_r * g[j];
    } else {
      for (int64_t j = 0; j < D; ++j) yr[j] = xr[j] * rstd_r;
    }
  }
}

// dx = rstd * (gy - xhat * mean(gy * xhat)) with gy = dy * gamma, row by row: rstd depends on every x of
// the row, which the mean term accounts for (layer norm's formula without its mean(gy) term).
[[gnu::always_inline]] inline void backward_rows(const Job& job) {
  const int64_t D = job.D;
  std::vector<float> gy(D), xh(D);
  for (int64_t r = job.begin; r < job.end; ++r) {
    const float* xr = job.x + r * D;
    const float* dr = job.dy + r * D;
    const float rstd_r = job.rstd[r];
    for (int64_t j = 0; j < D; ++j) {
      gy[j] = job.gamma ? dr[j] * job.gamma[j] : dr[j];
      xh[j] = xr[j] * rstd_r;
    }
    const auto mean_gy_xhat =
        static_cast<float>(vmath::dot(gy.data(), xh.data(), D) / static_cast<double>(D));
    float* dxr = job.out + r * D;
    for (int64_t j = 0; j < D; ++j) dxr[j] = rstd_r * (gy[j] - xh[j] * mean_gy_xhat);
  }
}

// dgamma = sum over rows of dy * xhat for columns [begin, end): rows outside, so memory is read in order;
// each column adds its rows in order.
[[gnu::always_inline]] inline void column_sums(const Job& job) {
  const int64_t D = job.D, width = job.end - job.begin;
  std::vector<double> acc(width, 0.0);
  for (int64_t r = 0; r < job.rows; ++r) {
    const float *xr = job.x + r * D + job.begin, *dr = job.dy + r * D + job.begin;
    const float rstd_r = job.rstd[r];
    for (int64_t j = 0; j < width; ++j) acc[j] += dr[j] * (xr[j] * rstd_r);
  }
  for (int64_t j = 0; j < width; ++j) job.dgamma[job.begin + j] = static_cast<float>(acc[j]);
}

// The loops run through tensor/loops/row_jobs.h, as layer norm's: compiled for the baseline and for AVX2,
// with no fused multiply-add on either, so the same bits on every path. Measured ([768, 128], 1 thread,
// hot): forward 33 -> 26 us, backward 73 -> 52 us.

}  // namespace

RMSNormOut rms_norm(const Tensor& x, const Tensor& gamma, float eps) {
  // x [N..., D] -> y [N..., D]; rstd [N...]
  const int64_t D = rms_norm_width("rms_norm", x, gamma);
  check::positive_number("rms_norm", "eps", eps);  // 0 divides by 0 on a row of zeros
  const int64_t rows = x.numel() / D;
  RMSNormOut out{Tensor::empty(x.shape()), Tensor::empty(without_last_dim(x.shape()))};
  const Job job{.kind = Job::forward,
                .rows = rows,
                .D = D,
                .x = x.data(),
                .gamma = gamma.defined() ? gamma.data() : nullptr,
                .eps = eps,
                .out = out.y.mutable_data(),
                .rstd_out = out.rstd.mutable_data()};
  run_split(job, rows, grain_for_rows(D));
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
  const bool affine = gamma.defined();
  if (affine) grads.dgamma = Tensor::empty({D});
  Job job{.kind = Job::backward,
          .rows = rows,
          .D = D,
          .x = x.data(),
          .gamma = affine ? gamma.data() : nullptr,
          .dy = dy.data(),
          .out = grads.dx.mutable_data(),
          .rstd = rstd.data(),
          .dgamma = affine ? grads.dgamma.mutable_data() : nullptr};
  run_split(job, rows, grain_for_rows(D));
  if (!affine) return grads;
  // dgamma: threads split the D columns.
  job.kind = Job::columns;
  run_split(job, D, grain_for_rows(rows));
  return grads;
}

}  // namespace qkv::kernels
