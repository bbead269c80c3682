// Packing with AVX2 (see pack.h): the transposing copy that the AVX2 kernel's slivers need, 8 x 8 floats at
// a time in registers instead of one float at a time, as pack_avx512.cpp does 16 x 16 for the AVX-512
// kernel. Packing only moves floats, so it changes no bits: pack.cpp calls this on the AVX2 path for the
// AVX2 kernel's widths (MR = 6, NR = 16), and the scalar loop on the portable path.
// Why: a Transformer's GEMMs are short in k (128..768), so packing is not small beside them. Every forward
// Linear packs its weight transposed (x Wᵀ reads W's rows along k), and an A whose rows are 2 KiB apart is
// packed too (gemm.cpp's read_a_in_place). Measured on an AVX2-only CPU (AMD EPYC Zen 3): packing a
// [768, 512] A in 144 x 256 blocks, cache-warm, 127 -> 85 us; the product [2048, 512] @ [128, 512]ᵀ (a GPT's
// second FFN layer, 1 thread) 3.10 -> 2.97 ms; in train_chargpt's step (2 threads) the transposing copies
// 4.4% -> 3.6% of the time: there most of their cost is the cache misses of reading the source, not the
// shuffles.
#include <immintrin.h>

#include "tensor/gemm/pack.h"
#include "tensor/simd/lanes_avx2.h"

namespace qkv::gemm_detail {
namespace {

// r[0..7] are 8 lines, 8 values along k each: afterwards r[k] holds value k of the 8 lines, in line order.
//   1. interleave lines in pairs:       t = (l0[k], l1[k], l0[k+1], l1[k+1]) in each 128-bit half
//   2. interleave the pairs:            s = (l0[k], l1[k], l2[k], l3[k]) in each half (k in the low half,
//                                           k + 4 in the high one), for lines 0..3 and 4..7
//   3. join the halves of lines 0..3 and 4..7 at the same k
void transpose8(__m256 r[8]) {
  __m256 t[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);      // k = 0, 1 | 4, 5 of lines i, i + 1
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);  // k = 2, 3 | 6, 7
  }
  __m256 s[8];  // s[4g + e]: lines 4g..4g+3 at k = e (low half) and k = e + 4 (high half)
  for (int g = 0; g < 2; ++g) {
    s[4 * g + 0] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
    s[4 * g + 1] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
    s[4 * g + 2] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
    s[4 * g + 3] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
  }
  for (int e = 0; e < 4; ++e) {
    r[e] = _mm256_permute2f128_ps(s[e], s[4 + e], 0x20);      // low halves: k = e
    r[e + 4] = _mm256_permute2f128_ps(s[e], s[4 + e], 0x31);  // high halves: k = e + 4
  }
}

// The first `columns` lanes of v to p: 8 as one store, 6 (the A sliver's width) as 4 + 2, else masked (no
// group of the AVX2 kernel's widths, 6 and 16, takes that branch). lanes_avx2.h's store, through the stack,
// made this loop 30% slower when it sat here, even untaken.
void store_first(float* p, __m256 v, int64_t columns) {
  if (columns == 8) return _mm256_storeu_ps(p, v);
  if (columns == 6) {
    _mm_storeu_ps(p, _mm256_castps256_ps128(v));
    _mm_storel_pi(reinterpret_cast<__m64*>(p + 4), _mm256_extractf128_ps(v, 1));
    return;
  }
  _mm256_maskstore_ps(p, simd::avx2::first_lanes(columns), v);
}

}  // namespace

// Lines first + w * stride for w < lines (at most 8) -> the first `columns` (at most 8) of each row of a
// sliver `width` wide: out[k * width + w] = line w at k, for k < kc; lines past `lines` are zeros.
void interleave8_avx2(const float* first, int64_t stride, int64_t lines, int64_t kc, float* out,
                      int64_t width, int64_t columns) {
  for (int64_t k0 = 0; k0 < kc; k0 += 8) {
    const int64_t count = kc - k0 < 8 ? kc - k0 : 8;    // the last run along k may be short
    const __m256i ks = simd::avx2::first_lanes(count);  // masked-off lanes read nothing, so never fault
    __m256 r[8];
    for (int64_t w = 0; w < 8; ++w)
      r[w] = w >= lines   ? _mm256_setzero_ps()
             : count == 8 ? _mm256_loadu_ps(first + w * stride + k0)
                          : _mm256_maskload_ps(first + w * stride + k0, ks);
    transpose8(r);
    for (int64_t k = 0; k < count; ++k) store_first(out + (k0 + k) * width, r[k], columns);
  }
}

}  // namespace qkv::gemm_detail
