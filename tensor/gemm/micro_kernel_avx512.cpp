// The AVX-512 GEMM micro-kernel: a 14 x 32 tile of C held in 28 zmm registers for the whole k loop (fewer
// rows at the bottom edge of C), repeated along a row or column of tiles. The AVX2 kernel
// (micro_kernel_avx2.cpp) with registers twice as wide and twice as many. Only the *_avx512.cpp files are
// compiled for AVX-512; gemm.cpp calls this only on CPUs that have it (simd::Isa::avx512).
// Same bits as the AVX2 kernel: each element of C is the same chain of fused multiply-adds over k, from
// zero, and what accumulate adds comes last; a wider register holds more columns, never a different sum.
// Narrow right edges of C (fewer than 32 columns) it computes itself, through masks (Kernel::narrow).
// Leaves out: packing and blocking (gemm.cpp).
#include <immintrin.h>

#include <array>
#include <type_traits>
#include <utility>

#include "tensor/gemm/micro_kernel.h"

namespace qkv::gemm_detail {
namespace {

// The register block: MR x NR, a row of the tile in two zmm registers of 16 floats.
constexpr int kMR = 14;
constexpr int kNR = 32;
static_assert(kMR <= kMaxMR && kNR <= kMaxNR);

// The columns of the tile that are computed: all 32 (Halves = 2, no mask), or the first `cols` of a narrow
// tile at C's right edge: one or two registers a row (Halves = 1 when cols <= 16), each loaded and stored
// through a mask of its real columns (masked-off lanes are neither read nor written, so B and C may end
// there). A masked lane is a column that is not computed; the real columns get the same chains as in a full
// tile. Half the registers for cols <= 16 also means half the multiply-adds.
template <bool Masked>
[[gnu::always_inline]] inline __m512 load_cols(const float* p, __mmask16 mask) {
  return Masked ? _mm512_maskz_loadu_ps(mask, p) : _mm512_loadu_ps(p);
}
template <bool Masked>
[[gnu::always_inline]] inline void store_cols(float* p, __mmask16 mask, __m512 v) {
  if (Masked)
    _mm512_mask_storeu_ps(p, mask, v);
  else
    _mm512_storeu_ps(p, v);
}

// The masks of the two registers of a row for a tile `cols` wide (1..32): bit j of the pair is column j.
struct ColumnMasks {
  __mmask16 half[2];
  explicit ColumnMasks(int64_t cols) {
    const uint32_t bits = cols >= 32 ? 0xffffffffu : (1u << cols) - 1;
    half[0] = static_cast<__mmask16>(bits);
    half[1] = static_cast<__mmask16>(bits >> 16);
  }
};

// One tile of C, Rows x 32 (or x cols, see load_cols). Register budget (32 zmm registers of 16 floats), for
// Rows = MR = 14:
//   28  accumulators acc[i][h]: 14 rows x 2 halves of 16 columns
//    2  row k of the B sliver, b[0..15] and b[16..31]
//    1  A(i, k) broadcast to all 16 lanes (or none: the FMA can broadcast from memory itself)
// One k step is 2 loads of B, 14 broadcasts and 28 FMAs: at 2 FMAs per cycle (Sapphire Rapids, Zen 5; Zen 4
// splits a zmm FMA into two halves), 14 cycles of FMA for 16 loads, which two load ports serve in 8. FMA
// latency is 4 cycles, so 8 independent chains would do; 28 hide the loads' latency too.
// Why 14 x 32 and not 28 x 16 or 8 x 48: per FMA, 14 x 32 loads 16/28 = 0.57 values, 28 x 16 loads
// 29/28 = 1.04 (load-bound), 8 x 48 loads 11/24 = 0.46 but holds only 24 accumulators and a 48-float B row.
// The B sliver that stays in L1 is KC x NR = 256 x 32 floats = 32 KiB (48 KiB of L1d on Sapphire Rapids
// and Zen 5). KC is 256 on every path: it decides where the sum over k is cut into slices, so it is part
// of the bits and cannot change with the kernel.
template <int Rows, bool Accumulate, int Halves, bool Masked>
[[gnu::always_inline]] inline void tile(const float* a, int64_t a_row_stride, int64_t a_col_stride,
                                        const float* b, int64_t b_row_stride, int64_t kc, float* c,
                                        int64_t ldc, const float* add, int64_t add_ld, ColumnMasks m) {
  __m512 acc[Rows][Halves];
#pragma GCC unroll 14
  for (int i = 0; i < Rows; ++i)
#pragma GCC unroll 2
    for (int h = 0; h < Halves; ++h) acc[i][h] = _mm512_setzero_ps();

  if (Accumulate) {  // the tile's lines of C (or the bias) are read at the end: ask for them now
#pragma GCC unroll 14
    for (int i = 0; i < Rows; ++i)
#pragma GCC unroll 2
      for (int h = 0; h < Halves; ++h)
        _mm_prefetch(reinterpret_cast<const char*>(add + i * add_ld + 31 * h), _MM_HINT_T0);  // first, last
  }

  for (const float* a_end = a + kc * a_col_stride; a != a_end; a += a_col_stride, b += b_row_stride) {
    // C[0:Rows, 0:32] += A[0:Rows, k] (outer product) B[k, 0:32]
    __m512 b_row[Halves];
#pragma GCC unroll 2
    for (int h = 0; h < Halves; ++h) b_row[h] = load_cols<Masked>(b + 16 * h, m.half[h]);
#pragma GCC unroll 14
    for (int i = 0; i < Rows; ++i) {
      const __m512 a_ik = _mm512_set1_ps(a[i * a_row_stride]);
#pragma GCC unroll 2
      for (int h = 0; h < Halves; ++h) acc[i][h] = _mm512_fmadd_ps(a_ik, b_row[h], acc[i][h]);
    }
  }

#pragma GCC unroll 14
  for (int i = 0; i < Rows; ++i)
#pragma GCC unroll 2
    for (int h = 0; h < Halves; ++h) {
      if (Accumulate)  // C's own row, or a bias row (add_ld = 0)
        acc[i][h] = _mm512_add_ps(load_cols<Masked>(add + i * add_ld + 16 * h, m.half[h]), acc[i][h]);
      store_cols<Masked>(c + i * ldc + 16 * h, m.half[h], acc[i][h]);
    }
}

// The 1st loop around the micro-kernel: one row tile across `count` tiles (see the AVX2 kernel for why the
// arguments come in registers).
template <int Rows, bool Accumulate, int Halves, bool Masked>
[[gnu::noinline]] void row_of_tiles(const float* a, int64_t a_row_stride, int64_t a_col_stride,
                                    const float* b, int64_t b_row_stride, int64_t kc, float* c, int64_t ldc,
                                    int64_t count, int64_t a_step, int64_t b_step, int64_t c_step,
                                    const float* add, int64_t add_ld, int64_t add_step, ColumnMasks m) {
  if (a_row_stride == 1) {  // a packed A sliver (or A^T in place): the rows' addresses are a + 0..13, which
    // frees the registers that 14 row offsets take otherwise (measured on an L1-resident tile: 89% of the
    // FMA peak instead of 80%)
    for (int64_t s = 0; s < count; ++s, a += a_step, b += b_step, c += c_step, add += add_step)
      tile<Rows, Accumulate, Halves, Masked>(a, 1, a_col_stride, b, b_row_stride, kc, c, ldc, add, add_ld, m);
    return;
  }
  for (int64_t s = 0; s < count; ++s, a += a_step, b += b_step, c += c_step, add += add_step)
    tile<Rows, Accumulate, Halves, Masked>(a, a_row_stride, a_col_stride, b, b_row_stride, kc, c, ldc, add,
                                           add_ld, m);
}

// The compiled row_of_tiles of each height 1..MR, looked up by the height: one indirect call per row tile
// (14 heights would be a long if-chain). tile_rows gives heights that differ by one at most, so the target
// changes at most once down a block and the branch predictor follows it.
template <bool Accumulate, int Halves, bool Masked, int... Heights>
constexpr auto rows_table(std::integer_sequence<int, Heights...>) {
  using Fn = void (*)(const float*, int64_t, int64_t, const float*, int64_t, int64_t, float*, int64_t,
                      int64_t, int64_t, int64_t, int64_t, const float*, int64_t, int64_t, ColumnMasks);
  return std::array<Fn, sizeof...(Heights)>{row_of_tiles<Heights + 1, Accumulate, Halves, Masked>...};
}

// The 2nd loop: down the row tiles.
template <bool Accumulate, int Halves, bool Masked>
void block(const MicroTile& t) {
  static constexpr auto by_height =
      rows_table<Accumulate, Halves, Masked>(std::make_integer_sequence<int, kMR>());
  const MicroTile u = t;  // a local copy: the calls below cannot change it, so its fields stay in registers
  const ColumnMasks m(Masked ? u.cols : kNR);
  for_each_row_tile(u.rows, kMR, [&](int64_t i, int64_t rows) {
    by_height[rows - 1](u.a + i * u.a_row_stride, u.a_row_stride, u.a_col_stride, u.b, u.b_row_stride, u.kc,
                        u.c + i * u.ldc, u.ldc, u.tiles, u.a_step, u.b_step, u.c_step,
                        u.add_base() + i * u.add_row_stride(), u.add_row_stride(), u.add_tile_step(), m);
  });
}

void micro_kernel_avx512(const MicroTile& t) {
  if (t.accumulate) return block<true, 2, false>(t);
  block<false, 2, false>(t);
}

// Tiles t.cols < 32 wide: one masked register a row up to 16 columns, two from 17.
void narrow_micro_kernel_avx512(const MicroTile& t) {
  if (t.cols <= 16) return t.accumulate ? block<true, 1, true>(t) : block<false, 1, true>(t);
  t.accumulate ? block<true, 2, true>(t) : block<false, 2, true>(t);
}

}  // namespace

const Kernel kAvx512Kernel{micro_kernel_avx512, kMR, kNR, narrow_micro_kernel_avx512};

}  // namespace qkv::gemm_detail
