// The portable loops of vector_math.h (std::exp, std::erf, one element at a time) and the run-time choice
// between them and the AVX2+FMA versions in vector_math_avx2.cpp.
#include "tensor/simd/vector_math.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "tensor/simd/isa.h"
#include "tensor/simd/vector_math_avx2.h"
#include "tensor/simd/vector_math_avx512.h"

namespace qkv::kernels::vmath {
namespace {

#if QKV_HAVE_X86_KERNELS
// The AVX2 reductions also serve the AVX-512 path (see vector_math_avx512.cpp for why).
bool avx2_on() { return simd::active_isa() != simd::Isa::portable; }
bool avx512_on() { return simd::active_isa() == simd::Isa::avx512; }
#endif

// Phi(x) and phi(x), the standard normal's distribution and density, evaluated in double: Phi through
// erfc, not 1 + erf, since 1 + erf(x / sqrt 2) rounds to 0 for x < -5 where erfc keeps the left tail; and
// x / sqrt 2 in float would cost up to 1e-5 of relative accuracy at x = -12 (the error doubles in x^2).
float cdf_of(float x) { return static_cast<float>(0.5 * std::erfc(-x * (0.5 * std::numbers::sqrt2))); }
float pdf_of(float x) {
  const double v = x;
  return static_cast<float>(std::exp(-0.5 * v * v) * (0.5 * std::numbers::inv_sqrtpi * std::numbers::sqrt2));
}

}  // namespace

// Each function: the AVX-512 version (elementwise loops only) or the AVX2 version when on, else the loop
// below it.
#if QKV_HAVE_X86_KERNELS
#define QKV_VMATH_DISPATCH(call) \
  if (avx2_on()) return avx2::call
#define QKV_VMATH_DISPATCH_WIDE(call) \
  if (avx512_on()) return avx512::call;  \
  QKV_VMATH_DISPATCH(call)
#else  // only the loops exist; QKV_ISA is still read, so a bad value is never ignored
#define QKV_VMATH_DISPATCH(call) (void)simd::active_isa()
#define QKV_VMATH_DISPATCH_WIDE(call) QKV_VMATH_DISPATCH(call)
#endif

float max(const float* x, int64_t n) {
  QKV_VMATH_DISPATCH(max(x, n));
  float m = x[0];
  for (int64_t j = 1; j < n; ++j) m = std::isnan(m) || x[j] > m ? x[j] : m;
  return m;
}

void exp_nonpositive(const float* x, float* y, int64_t n) {
  QKV_VMATH_DISPATCH_WIDE(exp_nonpositive(x, y, n));
  for (int64_t j = 0; j < n; ++j) y[j] = std::exp(x[j]);
}

double sum(const float* x, int64_t n) {
  QKV_VMATH_DISPATCH(sum(x, n));
  double total = 0;
  for (int64_t j = 0; j < n; ++j) total += x[j];
  return total;
}

double sum_sq_dev(const float* x, double mean, int64_t n) {
  QKV_VMATH_DISPATCH(sum_sq_dev(x, mean, n));
  double total = 0;
  for (int64_t j = 0; j < n; ++j) total += (x[j] - mean) * (x[j] - mean);
  return total;
}

double exp_shifted_sum(const float* x, float shift, float* y, int64_t n) {
  for (int64_t j = 0; j < n; ++j) y[j] = x[j] - shift;
  exp_nonpositive(y, y, n);
  return sum(y, n);
}

double dot(const float* a, const float* b, int64_t n) {
  QKV_VMATH_DISPATCH(dot(a, b, n));
  double sum = 0;
  for (int64_t j = 0; j < n; ++j) sum += static_cast<double>(a[j] * b[j]);
  return sum;
}

void normal_cdf(const float* x, float* cdf, int64_t n) {
  QKV_VMATH_DISPATCH_WIDE(normal_cdf(x, cdf, n));
  for (int64_t j = 0; j < n; ++j) cdf[j] = cdf_of(x[j]);
}

void gelu(const float* x, float* y, float* cdf, int64_t n) {
  QKV_VMATH_DISPATCH_WIDE(gelu(x, y, cdf, n));
  for (int64_t j = 0; j < n; ++j) {
    cdf[j] = cdf_of(x[j]);
    y[j] = x[j] * cdf[j];
  }
}

void gelu_backward(const float* g, const float* x, const float* cdf, float* dx, int64_t n) {
  QKV_VMATH_DISPATCH_WIDE(gelu_backward(g, x, cdf, dx, n));
  for (int64_t j = 0; j < n; ++j) dx[j] = g[j] * (cdf[j] + x[j] * pdf_of(x[j]));
}

#undef QKV_VMATH_DISPATCH
#undef QKV_VMATH_DISPATCH_WIDE

}  // namespace qkv::kernels::vmath
