// Test builds only (cmake -DQKV_EMULATE_AVX512=ON, tests/run.sh --emulate-avx512): stands in for
// <immintrin.h> in the *_avx512.cpp kernels, which are then compiled for AVX2. The compiler's own intrinsics
// come first; then SIMDe (Debian: libsimde-dev) defines every AVX-512 name it emulates (_mm512_fmadd_ps,
// __m512, __mmask16, ...) as a macro for its portable version, built here from AVX2 and FMA instructions.
// Each emulated instruction gives the bits the AVX-512 one gives (a 16-lane FMA is two fused 8-lane FMAs),
// so the kernels' AVX-512 = AVX2 bit checks (tests/test_isa.cpp and others) run on a CPU without AVX-512:
// they check the kernels' logic (tiles, masks, edges, the order of every operation), not the hardware.
// Speed means nothing in such a build.
#pragma once
#include_next <immintrin.h>

#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>

// The few the kernels use that SIMDe 0.7.4 (Debian 12) does not alias, written element by element from
// their definitions in Intel's intrinsics guide.
namespace qkv_avx512_emulation {

// Lanes whose mask bit is set are loaded, the others are 0; memory of the unset lanes is never read.
inline simde__m512 maskz_loadu_ps(simde__mmask16 mask, const void* from) {
  float lanes[16] = {};
  const float* p = static_cast<const float*>(from);
  for (int i = 0; i < 16; ++i)
    if ((mask >> i) & 1) lanes[i] = p[i];
  return simde_mm512_loadu_ps(lanes);
}

// Lanes whose mask bit is set are stored; memory of the unset lanes is never written.
inline void mask_storeu_ps(void* to, simde__mmask16 mask, simde__m512 a) {
  float lanes[16];
  simde_mm512_storeu_ps(lanes, a);
  float* p = static_cast<float*>(to);
  for (int i = 0; i < 16; ++i)
    if ((mask >> i) & 1) p[i] = lanes[i];
}

// Float to int32 in the current rounding mode (round to nearest even), as two 8-lane conversions.
inline simde__m512i cvtps_epi32(simde__m512 a) {
  alignas(32) float lanes[16];
  alignas(32) int32_t out[16];
  simde_mm512_storeu_ps(lanes, a);
  _mm256_store_si256(reinterpret_cast<__m256i*>(out), _mm256_cvtps_epi32(_mm256_load_ps(lanes)));
  _mm256_store_si256(reinterpret_cast<__m256i*>(out + 8), _mm256_cvtps_epi32(_mm256_load_ps(lanes + 8)));
  return simde_mm512_loadu_si512(out);
}

inline float cvtss_f32(simde__m512 a) {
  float lanes[16];
  simde_mm512_storeu_ps(lanes, a);
  return lanes[0];
}

}  // namespace qkv_avx512_emulation

#ifndef _mm512_maskz_loadu_ps
#define _mm512_maskz_loadu_ps qkv_avx512_emulation::maskz_loadu_ps
#endif
#ifndef _mm512_mask_storeu_ps
#define _mm512_mask_storeu_ps qkv_avx512_emulation::mask_storeu_ps
#endif
#ifndef _mm512_cvtps_epi32
#define _mm512_cvtps_epi32 qkv_avx512_emulation::cvtps_epi32
#endif
#ifndef _mm512_cvtss_f32
#define _mm512_cvtss_f32 qkv_avx512_emulation::cvtss_f32
#endif
#ifndef _mm512_shuffle_f32x4
#define _mm512_shuffle_f32x4 simde_mm512_shuffle_f32x4
#endif
#ifndef _mm512_undefined_ps
#define _mm512_undefined_ps simde_mm512_setzero_ps  // any value is allowed; zeros are one
#endif
