// The AVX2+FMA GEMM micro-kernel: a 6 x 16 tile of C held in 12 ymm registers for the whole k loop.
// Only this file is compiled with -mavx2 -mfma; the driver in gemm.cpp calls it only on CPUs that have both.
// Leaves out: packing, blocking and edge tiles (all in gemm.cpp), AVX-512.
#include <immintrin.h>

#include "tensor/gemm_kernels.h"

namespace qkv::gemm_detail {

static_assert(kMR == 6 && kNR == 16, "this kernel is written for a 6 x 16 register block");

// Register budget (16 ymm registers of 8 floats):
//   12  accumulators c[i][h]: 6 rows x 2 halves of 8 columns
//    2  the row of b_panel for this k, b[0..7] and b[8..15]
//    1  a[i] broadcast to all 8 lanes
// One k step is 8 loads and 12 FMAs; Zen 4 and Haswell issue 2 FMAs per cycle with latency 4, so 12
// independent accumulators keep both FMA units busy (at least 8 FMAs must be in flight).
void micro_kernel_avx2(int64_t kc, const float* a_panel, const float* b_panel, float* c, int64_t ldc,
                       bool accumulate) {
  __m256 acc[6][2];
#pragma GCC unroll 6
  for (int i = 0; i < 6; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();

  // The tile of C is written at the end; ask for its lines now so they arrive while we compute.
  for (int i = 0; i < 6; ++i) _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 15), _MM_HINT_T0);

#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k) {
    // C[0:6, 0:16] += a_panel[k, 0:6]^T (outer product) b_panel[k, 0:16]
    const __m256 b_lo = _mm256_load_ps(b_panel);
    const __m256 b_hi = _mm256_load_ps(b_panel + 8);
#pragma GCC unroll 6
    for (int i = 0; i < 6; ++i) {
      const __m256 a_i = _mm256_broadcast_ss(a_panel + i);
      acc[i][0] = _mm256_fmadd_ps(a_i, b_lo, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(a_i, b_hi, acc[i][1]);
    }
    a_panel += kMR;
    b_panel += kNR;
  }

#pragma GCC unroll 6
  for (int i = 0; i < 6; ++i) {
    float* c_row = c + i * ldc;
    if (accumulate) {
      acc[i][0] = _mm256_add_ps(_mm256_loadu_ps(c_row), acc[i][0]);
      acc[i][1] = _mm256_add_ps(_mm256_loadu_ps(c_row + 8), acc[i][1]);
    }
    _mm256_storeu_ps(c_row, acc[i][0]);
    _mm256_storeu_ps(c_row + 8, acc[i][1]);
  }
}

}  // namespace qkv::gemm_detail
