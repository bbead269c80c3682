// The AVX2+FMA GEMM micro-kernel: a 6 x 16 tile of C held in 12 ymm registers for the whole k loop
// (fewer rows at the bottom edge of C). Only this file is compiled with -mavx2 -mfma; gemm.cpp calls it
// only on CPUs that have both. Leaves out: packing, blocking and column edges (gemm.cpp), AVX-512.
#include <immintrin.h>

#include "tensor/gemm_kernels.h"

namespace qkv::gemm_detail {
namespace {

static_assert(kNR == 16, "this kernel holds a row of the tile in two ymm registers of 8 floats");

// Register budget (16 ymm registers of 8 floats), for Rows = MR = 6:
//   12  accumulators acc[i][h]: 6 rows x 2 halves of 8 columns
//    2  row k of the B sliver, b[0..7] and b[8..15]
//    1  A(i, k) broadcast to all 8 lanes
// One k step is 8 loads and 12 FMAs. Zen 4 and Haswell issue 2 FMAs per cycle with latency 4, so at least
// 8 independent accumulators must be in flight to keep both FMA units busy; 12 leaves slack.
template <int Rows>
void micro_kernel_rows(const MicroTile& t) {
  __m256 acc[Rows][2];
#pragma GCC unroll 6
  for (int i = 0; i < Rows; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();

    // The tile of C is written at the end; ask for its lines now so they arrive while we compute.
#pragma GCC unroll 6
  for (int i = 0; i < Rows; ++i)
    _mm_prefetch(reinterpret_cast<const char*>(t.c + i * t.ldc + 15), _MM_HINT_T0);

  const float* a = t.a;
  const float* b = t.b;
#pragma GCC unroll 4
  for (int64_t k = 0; k < t.kc; ++k) {
    // C[0:Rows, 0:16] += A[0:Rows, k] (outer product) B[k, 0:16]
    const __m256 b_lo = _mm256_loadu_ps(b);
    const __m256 b_hi = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 6
    for (int i = 0; i < Rows; ++i) {
      const __m256 a_ik = _mm256_broadcast_ss(a + i * t.a_row_stride);
      acc[i][0] = _mm256_fmadd_ps(a_ik, b_lo, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(a_ik, b_hi, acc[i][1]);
    }
    a += t.a_col_stride;
    b += t.b_row_stride;
  }

#pragma GCC unroll 6
  for (int i = 0; i < Rows; ++i) {
    float* c_row = t.c + i * t.ldc;
    if (t.accumulate) {
      acc[i][0] = _mm256_add_ps(_mm256_loadu_ps(c_row), acc[i][0]);
      acc[i][1] = _mm256_add_ps(_mm256_loadu_ps(c_row + 8), acc[i][1]);
    }
    _mm256_storeu_ps(c_row, acc[i][0]);
    _mm256_storeu_ps(c_row + 8, acc[i][1]);
  }
}

}  // namespace

void micro_kernel_avx2(const MicroTile& t) {
  static_assert(kMR == 6);
  switch (t.rows) {
    case 6:
      return micro_kernel_rows<6>(t);
    case 5:
      return micro_kernel_rows<5>(t);
    case 4:
      return micro_kernel_rows<4>(t);
    case 3:
      return micro_kernel_rows<3>(t);
    case 2:
      return micro_kernel_rows<2>(t);
    default:
      return micro_kernel_rows<1>(t);
  }
}

}  // namespace qkv::gemm_detail
