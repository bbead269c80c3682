// The AVX2+FMA GEMM micro-kernel: a 6 x 16 tile of C held in 12 ymm registers for the whole k loop
// (fewer rows at the bottom edge of C), repeated along a row or column of tiles. Only this file is compiled
// with -mavx2 -mfma; gemm.cpp calls it only on CPUs that have both. Leaves out: packing, blocking and
// column edges (gemm.cpp); AVX-512 (micro_kernel_avx512.cpp, the same code with 16-float registers).
#include <immintrin.h>

#include <type_traits>

#include "tensor/gemm/micro_kernel.h"

namespace qkv::gemm_detail {
namespace {

// The register block: MR x NR, a row of the tile in two ymm registers of 8 floats.
constexpr int kMR = 6;
constexpr int kNR = 16;

// One tile of C, Rows x 16. Register budget (16 ymm registers of 8 floats), for Rows = MR = 6:
//   12  accumulators acc[i][h]: 6 rows x 2 halves of 8 columns
//    2  row k of the B sliver, b[0..7] and b[8..15]
//    1  A(i, k) broadcast to all 8 lanes
// One k step is 8 loads and 12 FMAs. Zen 4 and Haswell issue 2 FMAs per cycle with latency 4, so at least
// 8 independent accumulators must be in flight to keep both FMA units busy; 12 leaves slack. (Measured on
// Zen 4: 6 rows run at 97-99% of the FMA peak, 5 rows at 95%, 4 rows at 92%.)
// Always inlined into the loop over tiles below: the accumulators must stay in registers (a lambda or an
// out-of-line helper taking acc by reference makes GCC keep them in memory, at 40% of the speed).
template <int Rows, bool Accumulate>
[[gnu::always_inline]] inline void tile(const float* a, int64_t a_row_stride, int64_t a_col_stride,
                                        const float* b, int64_t b_row_stride, int64_t kc, float* c,
                                        int64_t ldc, const float* add, int64_t add_ld) {
  __m256 acc[Rows][2];
#pragma GCC unroll 6
  for (int i = 0; i < Rows; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();

  // When adding to C, the tile's lines are read at the end: ask for them now so they arrive while we
  // compute (a large product's C is far out of L1: without this, 1024^3 ran 8% slower).
  if (Accumulate) {
#pragma GCC unroll 6
    for (int i = 0; i < Rows; ++i)
      _mm_prefetch(reinterpret_cast<const char*>(add + i * add_ld + 15), _MM_HINT_T0);
  }

  // The k loop ends on the A pointer, so one step costs 2 integer adds and a compare besides the 8 loads
  // and 12 FMAs. (Unrolling it 4 times measured 10% slower on Zen 4; twice, no faster.)
  for (const float* a_end = a + kc * a_col_stride; a != a_end; a += a_col_stride, b += b_row_stride) {
    // C[0:Rows, 0:16] += A[0:Rows, k] (outer product) B[k, 0:16]
    const __m256 b_lo = _mm256_loadu_ps(b);
    const __m256 b_hi = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 6
    for (int i = 0; i < Rows; ++i) {
      const __m256 a_ik = _mm256_broadcast_ss(a + i * a_row_stride);
      acc[i][0] = _mm256_fmadd_ps(a_ik, b_lo, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(a_ik, b_hi, acc[i][1]);
    }
  }

#pragma GCC unroll 6
  for (int i = 0; i < Rows; ++i) {
    float* c_row = c + i * ldc;
    if (Accumulate) {  // C's own row, or a bias row (add_ld = 0)
      acc[i][0] = _mm256_add_ps(_mm256_loadu_ps(add + i * add_ld), acc[i][0]);
      acc[i][1] = _mm256_add_ps(_mm256_loadu_ps(add + i * add_ld + 8), acc[i][1]);
    }
    _mm256_storeu_ps(c_row, acc[i][0]);
    _mm256_storeu_ps(c_row + 8, acc[i][1]);
  }
}

// The 1st loop around the micro-kernel: one row tile across `count` tiles (see MicroTile). The arguments
// come in registers, not in the struct: C is written through a float*, which as far as the compiler knows
// could change the struct, and it would reload its fields after every tile.
template <int Rows, bool Accumulate>
[[gnu::noinline]] void row_of_tiles(const float* a, int64_t a_row_stride, int64_t a_col_stride,
                                    const float* b, int64_t b_row_stride, int64_t kc, float* c, int64_t ldc,
                                    int64_t count, int64_t a_step, int64_t b_step, int64_t c_step,
                                    const float* add, int64_t add_ld, int64_t add_step) {
  for (int64_t s = 0; s < count; ++s, a += a_step, b += b_step, c += c_step, add += add_step)
    tile<Rows, Accumulate>(a, a_row_stride, a_col_stride, b, b_row_stride, kc, c, ldc, add, add_ld);
}

// The 2nd loop: down the row tiles. The height picks the compiled row_of_tiles with an if-chain, not a
// switch: GCC turns a switch into a jump table, an indirect jump that the branch predictor misses whenever
// the height changes (6,6,5,5,5,5 for 32 rows), measured at 3% of a 32^3 product.
template <bool Accumulate>
void block(const MicroTile& t) {
  static_assert(kMR == 6);  // the heights below
  const MicroTile u = t;  // a local copy: the calls below cannot change it, so its fields stay in registers
  for_each_row_tile(u.rows, kMR, [&](int64_t i, int64_t rows) {
    auto row = [&](auto height) {
      row_of_tiles<decltype(height)::value, Accumulate>(
          u.a + i * u.a_row_stride, u.a_row_stride, u.a_col_stride, u.b, u.b_row_stride, u.kc,
          u.c + i * u.ldc, u.ldc, u.tiles, u.a_step, u.b_step, u.c_step,
          u.add_base() + i * u.add_row_stride(), u.add_row_stride(), u.add_tile_step());
    };
    if (rows == 6)
      row(std::integral_constant<int, 6>());
    else if (rows == 5)
      row(std::integral_constant<int, 5>());
    else if (rows == 4)
      row(std::integral_constant<int, 4>());
    else if (rows == 3)
      row(std::integral_constant<int, 3>());
    else if (rows == 2)
      row(std::integral_constant<int, 2>());
    else
      row(std::integral_constant<int, 1>());
  });
}

void micro_kernel_avx2(const MicroTile& t) {
  if (t.accumulate) return block<true>(t);
  block<false>(t);
}

}  // namespace

const Kernel kAvx2Kernel{micro_kernel_avx2, kMR, kNR};

}  // namespace qkv::gemm_detail
