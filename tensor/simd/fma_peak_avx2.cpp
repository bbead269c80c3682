// The FMA-peak loop on avx2 (see fma_peak.h): 12 independent chains of 8-float registers, no loads.
#include <immintrin.h>

#include <cstdint>

namespace qkv::simd {

double fma_chains_avx2(int64_t steps) {
  constexpr int kChains = 12, kLanes = 8;
  __m256 acc[kChains];
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
// Each chain starts elsewhere: identical chains would be one chain to the compiler.
  for (int i = 0; i < kChains; ++i) acc[i] = _mm256_set1_ps(static_cast<float>(i));
  for (int64_t s = 0; s < steps; ++s) {
#pragma GCC unroll 12
    for (auto& x : acc) x = _mm256_fmadd_ps(x, a, b);
  }
  __m256 sum = acc[0];
#pragma GCC unroll 12
  for (int i = 1; i < kChains; ++i) sum = _mm256_add_ps(sum, acc[i]);
  volatile float sink = _mm256_cvtss_f32(sum);  // keeps the loop
  (void)sink;
  return 2.0 * kChains * kLanes * static_cast<double>(steps);
}

}  // namespace qkv::simd
