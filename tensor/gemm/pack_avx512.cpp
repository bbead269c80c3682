// Packing with AVX-512 (see pack.h): the transposing copy that the AVX-512 kernel's slivers need, 16 x 16
// floats at a time in registers instead of one float at a time. Packing only moves floats, so it changes
// no bits: pack.cpp calls this on the AVX-512 path for the AVX-512 kernel's widths (MR = 14, NR = 32) and its
// narrow edges, a group of 16 lines at a time; the portable path keeps the scalar loop.
// Why: a Transformer's GEMMs are short in k (128..768), so packing is not small beside them: in a
// character GPT's training step (train_chargpt, 1 thread) the scalar transposing copy took 5.6% of the time
// and the small memcpy calls of the other packings 7%.
// The AVX2 path has its own, with 8 x 8 transposes (pack_avx2.cpp).
#include <immintrin.h>

// GCC 12's shuffle intrinsics start from _mm512_undefined_ps(), which -Wmaybe-uninitialized reports as a
// use of an uninitialised value inside the compiler's own header.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "tensor/gemm/pack.h"

namespace qkv::gemm_detail {
namespace {

// r[0..15] are 16 lines, 16 values along k each: afterwards r[k] holds value k of the 16 lines, in line
// order. Three rounds of shuffles, each within the register's four 128-bit lanes or across them:
//   1. interleave lines in pairs:        (l0[k], l1[k], l0[k+1], l1[k+1]) per lane
//   2. interleave the pairs (as doubles): (l0[k], l1[k], l2[k], l3[k]) per lane, one k per register
//   3. gather the four lane-groups:       lane g of r[k] is lines 4g..4g+3 at k
void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  __m512 s[16];  // s[4g + e]: lines 4g..4g+3, value 4L + e in lane L
  for (int g = 0; g < 4; ++g) {
    const __m512d lo = _mm512_castps_pd(t[4 * g]), hi = _mm512_castps_pd(t[4 * g + 1]);
    const __m512d lo2 = _mm512_castps_pd(t[4 * g + 2]), hi2 = _mm512_castps_pd(t[4 * g + 3]);
    s[4 * g + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(lo, lo2));
    s[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(lo, lo2));
    s[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(hi, hi2));
    s[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(hi, hi2));
  }
  for (int e = 0; e < 4; ++e) {  // a 4 x 4 transpose of 128-bit lanes: r[4L + e] = lane L of s[e, 4+e, ...]
    const __m512 u0 = _mm512_shuffle_f32x4(s[e], s[4 + e], 0x44);       // lanes 0,1 of each
    const __m512 u1 = _mm512_shuffle_f32x4(s[e], s[4 + e], 0xEE);       // lanes 2,3
    const __m512 u2 = _mm512_shuffle_f32x4(s[8 + e], s[12 + e], 0x44);  // lanes 0,1
    const __m512 u3 = _mm512_shuffle_f32x4(s[8 + e], s[12 + e], 0xEE);  // lanes 2,3
    r[0 + e] = _mm512_shuffle_f32x4(u0, u2, 0x88);
    r[4 + e] = _mm512_shuffle_f32x4(u0, u2, 0xDD);
    r[8 + e] = _mm512_shuffle_f32x4(u1, u3, 0x88);
    r[12 + e] = _mm512_shuffle_f32x4(u1, u3, 0xDD);
  }
}

}  // namespace

// Lines first + w * stride for w < lines (at most 16) -> the first `columns` (at most 16) of each row of a
// sliver `width` wide: out[k * width + w] = line w at k, for k < kc; lines past `lines` are zeros, the
// padding of an edge sliver.
void interleave16_avx512(const float* first, int64_t stride, int64_t lines, int64_t kc, float* out,
                         int64_t width, int64_t columns) {
  const __mmask16 stored = static_cast<__mmask16>((1u << columns) - 1);
  for (int64_t k0 = 0; k0 < kc; k0 += 16) {
    const int64_t count = kc - k0 < 16 ? kc - k0 : 16;
    const __mmask16 ks = static_cast<__mmask16>((1u << count) - 1);
    __m512 r[16];
    for (int64_t w = 0; w < 16; ++w)
      r[w] = w < lines ? _mm512_maskz_loadu_ps(ks, first + w * stride + k0) : _mm512_setzero_ps();
    transpose16(r);
    for (int64_t k = 0; k < count; ++k) _mm512_mask_storeu_ps(out + (k0 + k) * width, stored, r[k]);
  }
}

}  // namespace qkv::gemm_detail
