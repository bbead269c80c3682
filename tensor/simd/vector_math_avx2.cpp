// AVX2+FMA versions of vector_math.h: 8 floats per step, the last n % 8 through the same vector code with
// masked loads and stores, so every element gets the same bits wherever it sits. Only the *_avx2.cpp files are compiled with
// -mavx2 -mfma.
//
// exp(x), x <= 0:  x = k ln2 + r with k = round(x / ln2) and |r| <= ln2 / 2, so e^x = 2^k e^r: e^r is a
//   degree-6 polynomial (relative error 2e-9 before rounding) and 2^k is built in the exponent bits.
// Phi(x) = (1 + erf(u)) / 2 with u = x / sqrt 2 and a = |u|:
//   a < 1:   erf(a) = a P(a^2), P of degree 5 (relative error 4e-8);
//   a >= 1:  erfc(a) = exp(-a^2) Q(t), t = 1 / (1 + a / 2), Q of degree 8 (relative error 5e-9), so the
//            left tail Phi(x) = erfc(a) / 2 keeps its relative accuracy down to 1e-38 instead of being
//            1 - (something close to 1).
// The coefficients (vector_math_polynomials.h) are least-squares fits with minimax reweighting, in
// docs/derivations/vector_math.md.
#include "tensor/simd/vector_math_avx2.h"
#include "tensor/simd/lanes_avx2.h"
#include "tensor/simd/vector_math_polynomials.h"

#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <cstring>

namespace qkv::kernels::vmath::avx2 {
namespace {

using simd::avx2::first_lanes;  // simd/lanes_avx2.h
using simd::avx2::load;
using simd::avx2::store;

__m256 splat(float v) { return _mm256_set1_ps(v); }

// c[0] + c[1] t + ... + c[N-1] t^(N-1), by Horner's rule: one FMA per coefficient.
template <int N>
__m256 polynomial(__m256 t, const float (&c)[N]) {
  __m256 r = splat(c[N - 1]);
  for (int i = N - 2; i >= 0; --i) r = _mm256_fmadd_ps(r, t, splat(c[i]));
  return r;
}

using namespace poly;  // kExp, kErf, kErfc and the constants (vector_math_polynomials.h)

// e^x for x <= 0. x < -87.3 (where e^x leaves float's normal range) gives 0; NaN stays NaN.
[[gnu::always_inline]] inline __m256 exp_nonpositive(__m256 x) {
  const __m256 clamped = _mm256_max_ps(splat(kExpLowest), x);  // max_ps(a, NaN) is NaN: NaN stays
  const __m256 k = _mm256_round_ps(_mm256_mul_ps(clamped, splat(kLog2e)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  // r = x - k ln2 with ln2 in two parts (hi + lo): FMA keeps k * hi exact, so r loses nothing.
  __m256 r = _mm256_fmadd_ps(k, splat(kMinusLn2Hi), clamped);
  r = _mm256_fmadd_ps(k, splat(kMinusLn2Lo), r);
  // 2^k: k + 127 in the exponent field of a float (k >= -126 here, so the field stays >= 1).
  const __m256i biased = _mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127));
  const __m256 two_k = _mm256_castsi256_ps(_mm256_slli_epi32(biased, 23));
  const __m256 y = _mm256_mul_ps(polynomial(r, kExp), two_k);
  return _mm256_andnot_ps(_mm256_cmp_ps(x, splat(kExpLowest), _CMP_LT_OQ), y);  // flush below the range
}

// Phi(x), see the top of the file. These vector functions are inlined into their loops (always_inline):
// called, normal_cdf8 cost each step its coefficients' loads and a call, and gelu over a [768,512] batch
// took 646 us instead of 471 (1 thread, AMD Zen 3). Inlining changes no bits: the build is ISO C++
// (CMAKE_CXX_EXTENSIONS OFF), where GCC fuses no multiply and add that the code does not.
[[gnu::always_inline]] inline __m256 normal_cdf8(__m256 x) {
  const __m256 sign_bit = splat(-0.0f);
  const __m256 a = _mm256_andnot_ps(sign_bit, _mm256_mul_ps(x, splat(kInvSqrt2)));  // |x| / sqrt 2
  // a < 1: Phi = 1/2 + sign(x) erf(a) / 2
  const __m256 half_erf =
      _mm256_mul_ps(splat(0.5f), _mm256_mul_ps(a, polynomial(_mm256_mul_ps(a, a), kErf)));
  const __m256 near = _mm256_add_ps(splat(0.5f), _mm256_or_ps(half_erf, _mm256_and_ps(sign_bit, x)));
  // a >= 1: exp(-a^2), where a^2 = x^2 / 2 is taken from x, not from the rounded a (whose error, doubled
  // and times a^2, would cost 1e-5 at x = -12): x * x = p + p_lo exactly (FMA gives p's rounding error
  // p_lo), halving is exact, and e^-(s + s_lo) ~ e^-s (1 - s_lo).
  // Past a = 10, erfc(a) < 1e-44: 0, also for x = +-inf (where p_lo = inf - inf = NaN).
  const __m256 p = _mm256_mul_ps(x, x);
  const __m256 s = _mm256_mul_ps(splat(0.5f), p);
  const __m256 s_lo = _mm256_mul_ps(splat(0.5f), _mm256_fmsub_ps(x, x, p));
  const __m256 e_s = exp_nonpositive(_mm256_sub_ps(_mm256_setzero_ps(), s));
  const __m256 e = _mm256_fnmadd_ps(e_s, s_lo, e_s);
  const __m256 t = _mm256_div_ps(splat(1.0f), _mm256_fmadd_ps(a, splat(0.5f), splat(1.0f)));
  __m256 half_erfc = _mm256_mul_ps(splat(0.5f), _mm256_mul_ps(e, polynomial(t, kErfc)));
  half_erfc = _mm256_andnot_ps(_mm256_cmp_ps(a, splat(kErfcZeroPast), _CMP_GT_OQ), half_erfc);
  const __m256 positive = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GT_OQ);
  const __m256 tail = _mm256_blendv_ps(half_erfc, _mm256_sub_ps(splat(1.0f), half_erfc), positive);
  return _mm256_blendv_ps(tail, near, _mm256_cmp_ps(a, splat(1.0f), _CMP_LT_OQ));
}

// phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
[[gnu::always_inline]] inline __m256 normal_pdf8(__m256 x) {
  const __m256 minus_half_sq = _mm256_mul_ps(splat(-0.5f), _mm256_mul_ps(x, x));
  return _mm256_mul_ps(exp_nonpositive(minus_half_sq), splat(kInvSqrt2Pi));
}

// Runs body(j, count) over [0, n) in steps of 8 with count = 8, then once with count = n % 8 if any.
// The body reads with load(p, j, count) and writes with store(p, j, v, count) (simd/lanes_avx2.h): in the
// tail only the first `count` lanes touch memory.
template <class Body>
void in_steps_of_8(int64_t n, Body body) {
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) body(j, 8);
  if (j < n) body(j, n - j);
}

// Sum of the 8 lanes of v, widened to double: two 4-lane double accumulators then one horizontal add.
void add_to_sums(__m256d& lo, __m256d& hi, __m256 v) {
  lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
  hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}
double horizontal_sum(__m256d lo, __m256d hi) {
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, _mm256_add_pd(lo, hi));
  return (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
}

}  // namespace

float max(const float* x, int64_t n) {
  // max_ps(a, b) returns b when either is NaN: keeping the running max second skips NaN entries.
  __m256 m = splat(-INFINITY);
  bool any_number = false;
  in_steps_of_8(n, [&](int64_t j, int64_t count) {
    const __m256 v = load(x, j, count);
    const __m256 padded =
        count == 8 ? v : _mm256_blendv_ps(splat(-INFINITY), v, _mm256_castsi256_ps(first_lanes(count)));
    m = _mm256_max_ps(padded, m);
    const int real_lanes = (1 << count) - 1;  // padding is -inf, a number: look at the real lanes only
    any_number = any_number || (_mm256_movemask_ps(_mm256_cmp_ps(v, v, _CMP_ORD_Q)) & real_lanes) != 0;
  });
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, m);
  float r = lanes[0];
  for (float v : lanes) r = v > r ? v : r;
  return any_number ? r : NAN;
}

void exp_nonpositive(const float* x, float* y, int64_t n) {
  in_steps_of_8(n, [&](int64_t j, int64_t count) { store(y, j, exp_nonpositive(load(x, j, count)), count); });
}

double sum(const float* x, int64_t n) {
  __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
  in_steps_of_8(n, [&](int64_t j, int64_t count) { add_to_sums(lo, hi, load(x, j, count)); });  // padding: 0
  return horizontal_sum(lo, hi);
}

double sum_sq_dev(const float* x, double mean, int64_t n) {
  // Lanes widened to double before subtracting the mean, as the portable loop does. In the tail the
  // padding lanes (x = 0) would add mean^2: their deviations are zeroed first.
  const __m256d m = _mm256_set1_pd(mean);
  __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
  in_steps_of_8(n, [&](int64_t j, int64_t count) {
    const __m256 v = load(x, j, count);
    __m256d d_lo = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), m);
    __m256d d_hi = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), m);
    if (count < 8) {
      const __m256d n_real = _mm256_set1_pd(static_cast<double>(count));
      d_lo = _mm256_and_pd(d_lo, _mm256_cmp_pd(_mm256_setr_pd(0, 1, 2, 3), n_real, _CMP_LT_OQ));
      d_hi = _mm256_and_pd(d_hi, _mm256_cmp_pd(_mm256_setr_pd(4, 5, 6, 7), n_real, _CMP_LT_OQ));
    }
    lo = _mm256_fmadd_pd(d_lo, d_lo, lo);
    hi = _mm256_fmadd_pd(d_hi, d_hi, hi);
  });
  return horizontal_sum(lo, hi);
}

double dot(const float* a, const float* b, int64_t n) {
  __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
  in_steps_of_8(n, [&](int64_t j, int64_t count) {
    add_to_sums(lo, hi, _mm256_mul_ps(load(a, j, count), load(b, j, count)));  // padding: 0 * 0
  });
  return horizontal_sum(lo, hi);
}

void normal_cdf(const float* x, float* cdf, int64_t n) {
  in_steps_of_8(n, [&](int64_t j, int64_t count) { store(cdf, j, normal_cdf8(load(x, j, count)), count); });
}

void gelu(const float* x, float* y, float* cdf, int64_t n) {
  in_steps_of_8(n, [&](int64_t j, int64_t count) {
    const __m256 v = load(x, j, count), c = normal_cdf8(v);
    store(cdf, j, c, count);
    store(y, j, _mm256_mul_ps(v, c), count);
  });
}

void gelu_backward(const float* g, const float* x, const float* cdf, float* dx, int64_t n) {
  in_steps_of_8(n, [&](int64_t j, int64_t count) {
    const __m256 v = load(x, j, count);
    const __m256 slope = _mm256_fmadd_ps(v, normal_pdf8(v), load(cdf, j, count));  // Phi + x phi
    store(dx, j, _mm256_mul_ps(load(g, j, count), slope), count);
  });
}

}  // namespace qkv::kernels::vmath::avx2
