// Layer norm forward and backward (see layer_norm.h).
#include "tensor/layer_norm.h"

#include <cmath>
#include <vector>

#include "tensor/checks.h"
#include "tensor/loops/grain.h"
#include "tensor/loops/row_jobs.h"
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

// The three loops of layer norm, each over a range of rows (or, for the parameter gradients, of columns),
// as one job a thread runs: x, dy, out [rows, D]; mean, rstd [rows]; gamma, beta, dgamma, dbeta [D]. Null
// pointers are what is absent (no gamma, no beta).
struct Job {
  enum Kind { forward, backward, columns } kind;
  int64_t begin = 0, end = 0, rows = 0, D = 0;
  const float *x = nullptr, *gamma = nullptr, *beta = nullptr, *dy = nullptr;
  float eps = 0;
  float* out = nullptr;                          // forward: y; backward: dx
  const float *mean = nullptr, *rstd = nullptr;  // backward: the forward's
  float *mean_out = nullptr, *rstd_out = nullptr, *dgamma = nullptr, *dbeta = nullptr;
};

// y = (x - mean) * rstd * gamma + beta, row by row.
[[gnu::always_inline]] inline void forward_rows(const Job& job) {
  const int64_t D = job.D;
  const float *g = job.gamma, *b = job.beta;
  for (int64_t r = job.begin; r < job.end; ++r) {
    const float* xr = job.x + r * D;
    // Two passes (mean, then squared deviations) in double: no cancellation as in E[x^2] - E[x]^2.
    const double m = vmath::sum(xr, D) / static_cast<double>(D);
    const double sq = vmath::sum_sq_dev(xr, m, D);
    // locals, not mean[r] and rstd[r]: y could alias them as far as the compiler knows, and would make it
    // reload both after every store instead of vectorising the loop
    const auto mean_r = static_cast<float>(m);
    const auto rstd_r = static_cast<float>(1.0 / std::sqrt(sq / static_cast<double>(D) + job.eps));
    job.mean_out[r] = mean_r;
    job.rstd_out[r] = rstd_r;
    float* yr = job.out + r * D;
    if (g && b) {
      for (int64_t j = 0; j < D; ++j) yr[j] = (xr[j] - mean_r) * rstd_r * g[j] + b[j];
    } else {
      for (int64_t j = 0; j < D; ++j)
        yr[j] = (xr[j] - mean_r) * rstd_r * (g ? g[j] : 1.0f) + (b ? b[j] : 0.0f);
    }
  }
}

// dx = rstd * (gy - mean(gy) - xhat * mean(gy * xhat)) with gy = dy * gamma, row by row; derivation: the
// mean and rstd of a row both depend on every x in that row, which the two mean terms account for.
[[gnu::always_inline]] inline void backward_rows(const Job& job) {
  const int64_t D = job.D;
  std::vector<float> gy(D), xh(D);  // one row of gy and xhat, reused by the three loops over it
  for (int64_t r = job.begin; r < job.end; ++r) {
    const float* xr = job.x + r * D;
    const float* dr = job.dy + r * D;
    // locals: no reload per element for fear of aliasing
    const float mean_r = job.mean[r], rstd_r = job.rstd[r];
    for (int64_t j = 0; j < D; ++j) {
      gy[j] = job.gamma ? dr[j] * job.gamma[j] : dr[j];
      xh[j] = (xr[j] - mean_r) * rstd_r;
    }
    const auto mean_gy = static_cast<float>(vmath::sum(gy.data(), D) / static_cast<double>(D));
    const auto mean_gy_xhat =
        static_cast<float>(vmath::dot(gy.data(), xh.data(), D) / static_cast<double>(D));
    float* dxr = job.out + r * D;
    for (int64_t j = 0; j < D; ++j) dxr[j] = rstd_r * (gy[j] - mean_gy - xh[j] * mean_gy_xhat);
  }
}

// dgamma = sum over rows of dy * xhat, dbeta = sum over rows of dy, for columns [begin, end).
[[gnu::always_inline]] inline void column_sums(const Job& job) {
  // Rows outside, columns inside, so memory is read in order; each column still adds its rows in order.
  const int64_t D = job.D, width = job.end - job.begin;
  std::vector<double> acc_gamma(width, 0.0), acc_beta(width, 0.0);
  for (int64_t r = 0; r < job.rows; ++r) {
    const float *xr = job.x + r * D + job.begin, *dr = job.dy + r * D + job.begin;
    const float mean_r = job.mean[r], rstd_r = job.rstd[r];
    for (int64_t j = 0; j < width; ++j) {
      acc_gamma[j] += dr[j] * ((xr[j] - mean_r) * rstd_r);
      acc_beta[j] += dr[j];
    }
  }
  for (int64_t j = 0; j < width; ++j) {
    job.dgamma[job.begin + j] = static_cast<float>(acc_gamma[j]);
    job.dbeta[job.begin + j] = static_cast<float>(acc_beta[j]);
  }
}

// The loops run through tensor/loops/row_jobs.h: compiled twice, for the baseline and for AVX2, with no
// fused multiply-add on either, so every element is the same subtractions, multiplications and additions in
// the same order and the loops give the same bits on every path (the row sums inside are vmath's: see
// vector_math.h for theirs). Measured ([768, 128], 1 thread, hot): forward 73 -> 53 us, backward 127 ->
// 86 us; compiled for AVX-512: 58 and 85 us.

}  // namespace

LayerNormOut layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps) {
  // x [N..., D] -> y [N..., D]; mean, rstd [N...]
  const int64_t D = layer_norm_width("layer_norm", x, gamma, beta);
  check::positive_number("layer_norm", "eps", eps);  // a negative eps takes the root of var + eps < 0
  const int64_t rows = x.numel() / D;
  LayerNormOut out{Tensor::empty(x.shape()), Tensor::empty(without_last_dim(x.shape())),
                   Tensor::empty(without_last_dim(x.shape()))};
  const Job job{.kind = Job::forward,
                .rows = rows,
                .D = D,
                .x = x.data(),
                .gamma = gamma.defined() ? gamma.data() : nullptr,
                .beta = beta.defined() ? beta.data() : nullptr,
                .eps = eps,
                .out = out.y.mutable_data(),
                .mean_out = out.mean.mutable_data(),
                .rstd_out = out.rstd.mutable_data()};
  run_split(job, rows, grain_for_rows(D));
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
  const bool affine = gamma.defined();
  if (affine) {
    grads.dgamma = Tensor::empty({D});
    grads.dbeta = Tensor::empty({D});
  }
  Job job{.kind = Job::backward,
          .rows = rows,
          .D = D,
          .x = x.data(),
          .gamma = affine ? gamma.data() : nullptr,
          .dy = dy.data(),
          .out = grads.dx.mutable_data(),
          .mean = mean.data(),
          .rstd = rstd.data(),
          .dgamma = affine ? grads.dgamma.mutable_data() : nullptr,
          .dbeta = affine ? grads.dbeta.mutable_data() : nullptr};
  run_split(job, rows, grain_for_rows(D));
  if (!affine) return grads;
  // The parameter gradients: threads split the D columns.
  job.kind = Job::columns;
  run_split(job, D, grain_for_rows(rows));
  return grads;
}

}  // namespace qkv::kernels
