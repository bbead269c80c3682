// Private to tensor/: the first `count` of 8 float lanes, loaded and stored without touching memory past
// them, for the AVX2 loops whose last step is short (vector_math_avx2.cpp's tails, pack_avx2.cpp's short
// runs along k). Include only from files compiled with -mavx2 (the *_avx2.cpp files): the intrinsics need it.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace qkv::simd::avx2 {

// All bits set in lanes 0..count-1, none in the others (count in 0..8).
inline __m256i first_lanes(int64_t count) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(count)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// p[j..j+count) into the first lanes, 0 in the others: a masked-off lane reads nothing, so never faults.
inline __m256 load(const float* p, int64_t j, int64_t count) {
  return count == 8 ? _mm256_loadu_ps(p + j) : _mm256_maskload_ps(p + j, first_lanes(count));
}

// The first `count` lanes of v to p[j..j+count). Not _mm256_maskstore_ps: on AMD's Zen cores a masked
// store is microcoded, tens of cycles, which dominated softmax over attention's 12-long rows. A store to
// the stack and a short copy is a few.
inline void store(float* p, int64_t j, __m256 v, int64_t count) {
  if (count == 8) return _mm256_storeu_ps(p + j, v);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, v);
  for (int64_t i = 0; i < count; ++i) p[j + i] = lanes[i];
}

}  // namespace qkv::simd::avx2
