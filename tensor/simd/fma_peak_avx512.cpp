// The FMA-peak loop on avx512 (see fma_peak.h): 16 independent chains of 16-float registers, no loads.
#include <immintrin.h>

#include <cstdint>

namespace qkv::simd {

double fma_chains_avx512(int64_t steps) {
  constexpr int kChains = 16, kLanes = 16;
  __m512 acc[kChains];
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
// Each chain starts elsewhere: identical chains would be one chain to the compiler.
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  for (int64_t s = 0; s < steps; ++s) {
#pragma GCC unroll 16
    for (auto& x : acc) x = _mm512_fmadd_ps(x, a, b);
  }
  __m512 sum = acc[0];
#pragma GCC unroll 16
  for (int i = 1; i < kChains; ++i) sum = _mm512_add_ps(sum, acc[i]);
  volatile float sink = _mm512_cvtss_f32(sum);  // keeps the loop
  (void)sink;
  return 2.0 * kChains * kLanes * static_cast<double>(steps);
}

}  // namespace qkv::simd
