// Fused kernels for nn/ (see nn_kernels.h): layer norm forward and backward, cross-entropy with
// ignore_index and label smoothing, and inverted dropout with its mask drawn from a counter-based stream.
// Numbers only; nn/ and autograd/ wire them into modules and graphs. Each is tested against its
// composition from primitive kernels.
#include "tensor/nn_kernels.h"

#include <cmath>

#include "tensor/checks.h"
#include "tensor/loops/grain.h"
#include "tensor/parallel.h"
#include "tensor/softmax.h"
#include "tensor/value_text.h"
#include "tensor/simd/vector_math.h"

namespace qkv::kernels {
namespace {

// ---- layer norm ----

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

// ---- cross-entropy ----

// logits [N,V] and targets [N] as row indices: the class of each row, or -1 for an ignored row.
std::vector<int64_t> read_targets(const char* op, const Tensor& logits, const Tensor& targets,
                                  int64_t ignore_index, float label_smoothing) {
  if (logits.dim() != 2 || targets.dim() != 1 || targets.size(0) != logits.size(0))
    fail(op, "needs logits [N,V] and targets [N], got " + to_string(logits.shape()) + " and " +
                 to_string(targets.shape()));
  if (!(label_smoothing >= 0 && label_smoothing <= 1))
    fail(op, "label_smoothing must be in [0, 1], got " + value_text(label_smoothing));
  const int64_t V = logits.size(1);
  std::vector<int64_t> classes(targets.numel());
  for (int64_t r = 0; r < targets.numel(); ++r) {
    const float t = targets.data()[r];
    if (t == static_cast<float>(ignore_index)) {
      classes[r] = -1;
    } else if (t != std::floor(t) || !(t >= 0 && t < static_cast<float>(V))) {
      fail(op, "target " + value_text(t) + " at row " + std::to_string(r) + " is not a class in [0, " +
                   std::to_string(V) + ") nor ignore_index " + std::to_string(ignore_index));
    } else {
      classes[r] = static_cast<int64_t>(t);
    }
  }
  return classes;
}

// ---- dropout ----

void check_dropout_p(const char* op, float p) { check::fraction(op, "p", p); }

// Inverted dropout over the entries [begin, end) of x: out = x * factor, factor 0 (dropped) or keep_scale
// (kept). Entry i takes stream.bits32(i) as a 32-bit uniform u / 2^32 and is dropped when that is below p,
// i.e. when u < threshold = ceil(p 2^32): probability p to within 2^-32. Compared as integers, no float
// is built, and entry i's draw is the same whichever thread makes it. On x86-64 the compiler also emits
// an AVX2 copy of the loop (8 draws per instruction instead of 4), picked at load time on CPUs with it.
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target_clones("avx2", "default")))
#endif
void dropout_range(const float* x, float* out, int64_t begin, int64_t end, CounterStream stream,
                   uint32_t threshold, float keep_scale) {
  // Segments of at most 4G entries share the high half of i, so bits32's key is taken once per segment;
  // the loop over a segment has only 32-bit arithmetic and a select, which the compiler vectorises.
  constexpr int64_t kSegment = int64_t{1} << 32;
  for (int64_t first = begin; first < end;) {
    const int64_t last = std::min(end, (first / kSegment + 1) * kSegment);
    const uint32_t key = stream.key32(static_cast<uint64_t>(first / kSegment));
    for (int64_t i = first; i < last; ++i) {  // x * factor, not a select of 0 or x * scale: NaN, inf kept
      const uint32_t u = CounterStream::bits32_in(key, static_cast<uint32_t>(i));
      out[i] = x[i] * (u >= threshold ? keep_scale : 0.0f);
    }
    first = last;
  }
}

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

CrossEntropyOut cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index,
                              float label_smoothing) {
  // logits [N,V], targets [N] -> loss []
  const std::vector<int64_t> classes =
      read_targets("cross_entropy", logits, targets, ignore_index, label_smoothing);
  const int64_t N = logits.size(0), V = logits.size(1);
  // log-softmax subtracts the row max first: the log-sum-exp trick, stable for any logits.
  const Tensor logp = log_softmax(logits, 1);
  const float* lp = logp.data();
  CrossEntropyOut out{Tensor(Shape{}), softmax(logits, 1), 0};
  double total = 0;
  for (int64_t r = 0; r < N; ++r) {
    if (classes[r] < 0) continue;
    ++out.kept;
    // Smoothed target: (1 - eps) on the true class plus eps / V on every class.
    double row = (1.0 - label_smoothing) * lp[r * V + classes[r]];
    if (label_smoothing > 0) {  // only then: 0 * log 0 would give NaN for a class with zero probability
      double all = 0;
      for (int64_t j = 0; j < V; ++j) all += lp[r * V + j];
      row += label_smoothing / static_cast<double>(V) * all;
    }
    total -= row;
  }
  if (out.kept > 0) out.loss.mutable_data()[0] = static_cast<float>(total / static_cast<double>(out.kept));
  return out;
}

Tensor cross_entropy_backward(const CrossEntropyOut& out, const Tensor& targets, int64_t ignore_index,
                              float label_smoothing, float dloss) {
  // forward was: loss = mean over kept rows of -sum_j target_j * log softmax(logits)_j
  const std::vector<int64_t> classes =
      read_targets("cross_entropy_backward", out.probs, targets, ignore_index, label_smoothing);
  const int64_t N = out.probs.size(0), V = out.probs.size(1);
  Tensor dlogits(out.probs.shape());
  if (out.kept == 0) return dlogits;  // nothing was averaged, so nothing to send back
  const float* p = out.probs.data();
  float* dl = dlogits.mutable_data();
  const float scale = dloss / static_cast<float>(out.kept);
  const float off_target = label_smoothing / static_cast<float>(V);
  for (int64_t r = 0; r < N; ++r) {
    if (classes[r] < 0) continue;
    for (int64_t j = 0; j < V; ++j) {
      const float target = off_target + (j == classes[r] ? 1 - label_smoothing : 0.0f);
      dl[r * V + j] = scale * (p[r * V + j] - target);
    }
  }
  return dlogits;
}

Tensor dropout_mask(const Shape& shape, float p, CounterStream stream) {
  check_dropout_p("dropout_mask", p);
  return dropout(Tensor(shape, 1.0f), p, stream);  // 1 * mask
}

Tensor dropout_mask(const Shape& shape, float p, Generator& gen) {
  return dropout_mask(shape, p, gen.split());
}

Tensor dropout(const Tensor& x, float p, CounterStream stream) {
  // x [*] -> y [*], y = x * mask
  check_dropout_p("dropout", p);
  // p < 1 is at most 1 - 2^-24, so the threshold is at most 2^32 - 256 and fits
  const auto threshold = static_cast<uint32_t>(std::ceil(static_cast<double>(p) * 4294967296.0));
  const float keep_scale = 1 / (1 - p);  // kept entries scaled so that E[mask] = 1: eval needs no rescaling
  Tensor y = Tensor::empty(x.shape());
  const float* in = x.data();
  float* out = y.mutable_data();
  const int64_t n = x.numel();
  parallel_for(n, kElementwiseGrain, [=](int64_t begin, int64_t end) {
    dropout_range(in, out, begin, end, stream, threshold, keep_scale);
  });
  return y;
}

}  // namespace qkv::kernels
