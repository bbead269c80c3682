// AVX-512 versions of vector_math.h's elementwise loops: exp, Phi, GELU and its backward, 16 floats per
// step, the last n % 16 through the same code with masked loads and stores. Each is vector_math_avx2.cpp's
// function with registers twice as wide, operation for operation (the same polynomials, from
// vector_math_polynomials.h, the same roundings, the same selects), so every element gets the same bits on
// both paths. The reductions (max, sums, dot products) are not here: they keep 8 partial sums for the same
// bits, and their chains of additions, not the width, set their speed, so the AVX-512 path runs the AVX2
// ones (vector_math.cpp). Only the *_avx512.cpp files are compiled for AVX-512.
#include "tensor/simd/vector_math_avx512.h"

// GCC 12's own AVX-512 intrinsics (_mm512_cvtps_epi32, _mm512_roundscale_ps, ...) start from
// _mm512_undefined_ps, a deliberately uninitialised register, which its -Wuninitialized then reports.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cstdint>

#include "tensor/simd/vector_math_polynomials.h"

namespace qkv::kernels::vmath::avx512 {
namespace {

using namespace poly;

__m512 splat(float v) { return _mm512_set1_ps(v); }

template <int N>
__m512 polynomial(__m512 t, const float (&c)[N]) {  // Horner's rule, as the AVX2 loop
  __m512 r = splat(c[N - 1]);
  for (int i = N - 2; i >= 0; --i) r = _mm512_fmadd_ps(r, t, splat(c[i]));
  return r;
}

// e^x for x <= 0 (see the AVX2 loop): x < -87.3 gives 0; NaN stays NaN.
// Inlined into their loops, as in vector_math_avx2.cpp (a call per step cost gelu a quarter of its time).
[[gnu::always_inline]] inline __m512 exp_nonpositive(__m512 x) {
  const __m512 clamped = _mm512_max_ps(splat(kExpLowest), x);  // NaN in x stays NaN
  const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(clamped, splat(kLog2e)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fmadd_ps(k, splat(kMinusLn2Hi), clamped);
  r = _mm512_fmadd_ps(k, splat(kMinusLn2Lo), r);
  const __m512i biased = _mm512_add_epi32(_mm512_cvtps_epi32(k), _mm512_set1_epi32(127));
  const __m512 two_k = _mm512_castsi512_ps(_mm512_slli_epi32(biased, 23));
  const __m512 y = _mm512_mul_ps(polynomial(r, kExp), two_k);
  return _mm512_maskz_mov_ps(~_mm512_cmp_ps_mask(x, splat(kExpLowest), _CMP_LT_OQ), y);
}

// Phi(x), see vector_math_avx2.cpp.
[[gnu::always_inline]] inline __m512 normal_cdf16(__m512 x) {
  const __m512 sign_bit = splat(-0.0f);
  const __m512 a = _mm512_andnot_ps(sign_bit, _mm512_mul_ps(x, splat(kInvSqrt2)));
  const __m512 half_erf =
      _mm512_mul_ps(splat(0.5f), _mm512_mul_ps(a, polynomial(_mm512_mul_ps(a, a), kErf)));
  const __m512 near = _mm512_add_ps(splat(0.5f), _mm512_or_ps(half_erf, _mm512_and_ps(sign_bit, x)));
  const __m512 p = _mm512_mul_ps(x, x);
  const __m512 s = _mm512_mul_ps(splat(0.5f), p);
  const __m512 s_lo = _mm512_mul_ps(splat(0.5f), _mm512_fmsub_ps(x, x, p));
  const __m512 e_s = exp_nonpositive(_mm512_sub_ps(_mm512_setzero_ps(), s));
  const __m512 e = _mm512_fnmadd_ps(e_s, s_lo, e_s);
  const __m512 t = _mm512_div_ps(splat(1.0f), _mm512_fmadd_ps(a, splat(0.5f), splat(1.0f)));
  __m512 half_erfc = _mm512_mul_ps(splat(0.5f), _mm512_mul_ps(e, polynomial(t, kErfc)));
  half_erfc = _mm512_maskz_mov_ps(~_mm512_cmp_ps_mask(a, splat(kErfcZeroPast), _CMP_GT_OQ), half_erfc);
  const __mmask16 positive = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GT_OQ);
  const __m512 tail = _mm512_mask_blend_ps(positive, half_erfc, _mm512_sub_ps(splat(1.0f), half_erfc));
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, splat(1.0f), _CMP_LT_OQ), tail, near);
}

[[gnu::always_inline]] inline __m512 normal_pdf16(__m512 x) {  // exp(-x^2 / 2) / sqrt(2 pi)
  const __m512 minus_half_sq = _mm512_mul_ps(splat(-0.5f), _mm512_mul_ps(x, x));
  return _mm512_mul_ps(exp_nonpositive(minus_half_sq), splat(kInvSqrt2Pi));
}

// body(j, mask) over [0, n) in steps of 16, the last step with only the first n % 16 lanes in the mask:
// masked loads give 0 in the other lanes, masked stores leave memory there alone (on Intel and AMD an
// AVX-512 masked store is one instruction, unlike AVX2's, see vector_math_avx2.cpp).
template <class Body>
void in_steps_of_16(int64_t n, Body body) {
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) body(j, static_cast<__mmask16>(0xFFFF));
  if (j < n) body(j, static_cast<__mmask16>((1u << (n - j)) - 1));
}
__m512 load(const float* p, int64_t j, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p + j); }
void store(float* p, int64_t j, __m512 v, __mmask16 m) { _mm512_mask_storeu_ps(p + j, m, v); }

}  // namespace

void exp_nonpositive(const float* x, float* y, int64_t n) {
  in_steps_of_16(n, [&](int64_t j, __mmask16 m) { store(y, j, exp_nonpositive(load(x, j, m)), m); });
}

void normal_cdf(const float* x, float* cdf, int64_t n) {
  in_steps_of_16(n, [&](int64_t j, __mmask16 m) { store(cdf, j, normal_cdf16(load(x, j, m)), m); });
}

void gelu(const float* x, float* y, float* cdf, int64_t n) {
  in_steps_of_16(n, [&](int64_t j, __mmask16 m) {
    const __m512 v = load(x, j, m), c = normal_cdf16(v);
    store(cdf, j, c, m);
    store(y, j, _mm512_mul_ps(v, c), m);
  });
}

void gelu_backward(const float* g, const float* x, const float* cdf, float* dx, int64_t n) {
  in_steps_of_16(n, [&](int64_t j, __mmask16 m) {
    const __m512 v = load(x, j, m);
    const __m512 slope = _mm512_fmadd_ps(v, normal_pdf16(v), load(cdf, j, m));  // Phi + x phi
    store(dx, j, _mm512_mul_ps(load(g, j, m), slope), m);
  });
}

}  // namespace qkv::kernels::vmath::avx512
