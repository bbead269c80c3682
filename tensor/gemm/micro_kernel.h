// Private to tensor/gemm/: the GEMM micro-kernel interface shared by the driver (gemm.cpp) and the kernels:
// AVX-512 (micro_kernel_avx512.cpp), AVX2 (micro_kernel_avx2.cpp) and portable (micro_kernel_portable.cpp).
// Leaves out the outer loops around the kernels, packing and narrow column edges: all in gemm.cpp.
#pragma once
#include <cstdint>

#include "tensor/simd/isa.h"

namespace qkv::gemm_detail {

// The register block: a micro-kernel holds an MR x NR tile of C in registers for a whole k loop. Each
// kernel has its own (AVX2 and portable 6 x 16, AVX-512 14 x 32, see Kernel below); the driver and the
// packing take them at run time. The largest, for scratch tiles:
constexpr int64_t kMaxMR = 14;
constexpr int64_t kMaxNR = 32;

// Rows of row tile `t` when `total` rows are cut into ceil(total / mr) tiles as evenly as possible (mr = 6,
// 32 rows: 6,6,5,5,5,5). A tile of r rows keeps r * NR / lanes accumulators busy; a short last tile would
// have too few to hide the FMA latency (8 chains needed) and run at a fraction of the speed.
inline int64_t tile_rows(int64_t total, int64_t t, int64_t mr) {
  const int64_t tiles = (total + mr - 1) / mr;
  return total / tiles + (t < total % tiles ? 1 : 0);
}

// One micro-kernel call computes a block of C, `rows` x (tiles * NR), as tiles of at most MR x NR: the 1st
// and 2nd loops around the micro-kernel moved inside it, so no call or indirect jump separates two tiles
// and each loop is compiled with the tile height known (at n = 32 that is 3% of the time).
//   - The rows are cut into row tiles by tile_rows (rows <= MR gives one row tile). The row tile at row i
//     reads A from a + i * a_row_stride and writes C from c + i * ldc.
//   - Each row tile is swept across `tiles` tiles; tile s reads a + s * a_step and b + s * b_step, and
//     writes c + s * c_step: C[0:r, 0:NR] = A_sliver B_sliver (or += when accumulate), with
//       A_sliver (r x kc) element (i, k) at a[i * a_row_stride + k * a_col_stride]
//       B_sliver (kc x NR)  row k at b[k * b_row_stride .. + NR), contiguous
// A packed sliver (pack_a in gemm.cpp) has a_row_stride = 1, a_col_stride = MR; a packed B sliver has
// b_row_stride = NR. The blocked path walks one MR-row tile down its packed A block (a_step = MR * kc,
// b_step = 0); the direct path points straight into A and B (BLIS calls that "sup") and walks each row
// tile across B (a_step = 0, b_step = NR).
// Every C element is a sum over k in increasing order, one multiply-add per k, whatever the tiling.
struct MicroTile {
  int64_t rows;
  int64_t kc;
  const float* a;
  int64_t a_row_stride, a_col_stride;
  const float* b;
  int64_t b_row_stride;
  float* c;
  int64_t ldc;
  bool accumulate;
  int64_t tiles = 1;
  int64_t a_step = 0, b_step = 0, c_step = 0;
  // What accumulate adds: by default C itself; else row r of tile s is add + r * add_ld + s * add_step
  // (a bias row: add_ld = 0, the same NR values for every row of the tile).
  const float* add = nullptr;
  int64_t add_ld = 0, add_step = 0;
  // Kernel::narrow only: the tiles' real width, 1..NR-1. Only these columns of B are read and of C (and
  // of what accumulate adds) written, so a B read in place may end at the tile's last real column.
  int64_t cols = 0;
  const float* add_base() const { return add ? add : c; }
  int64_t add_row_stride() const { return add ? add_ld : ldc; }
  int64_t add_tile_step() const { return add ? add_step : c_step; }
};

using MicroKernel = void (*)(const MicroTile& t);

// A micro-kernel and its register block. The bits of C do not depend on MR and NR (every element is the
// same chain of multiply-adds over k, see MicroTile), so kernels of any shape give the same results as long
// as each uses one fused multiply-add per k (AVX2 and AVX-512 do; the portable kernel rounds the product
// and the sum separately, see micro_kernel_portable.cpp).
struct Kernel {
  MicroKernel run;
  int64_t mr, nr;
  // The same for tiles narrower than NR (MicroTile::cols), with masked loads and stores; null where the
  // instruction set has no masks (AVX2, portable): the driver then computes such a tile whole, from a
  // zero-padded B sliver, into a scratch tile and copies out its real columns.
  MicroKernel narrow = nullptr;
};

// The kernel of an instruction set: call only with one simd::cpu_supports().
Kernel kernel_for(simd::Isa isa);

// The 2nd loop around the micro-kernel, which every kernel and the edge code walk the same way: fn(i, rows)
// for each row tile of `total` rows, top to bottom, cut by tile_rows into tiles of at most mr rows.
template <class F>
inline void for_each_row_tile(int64_t total, int64_t mr, F fn) {
  for (int64_t i = 0, tile = 0, rows; i < total; i += rows, ++tile) {
    rows = tile_rows(total, tile, mr);
    fn(i, rows);
  }
}

// Stores a computed tile: tile s of the row tile at row i, `rows` x `cols` values at acc (row stride acc_ld),
// written into C with what accumulate adds (C itself or a bias row). Shared by the portable kernel and the
// narrow right edge, so both add in the same order as the AVX2 kernel's stores.
inline void store_tile(const MicroTile& t, int64_t i, int64_t s, int64_t rows, int64_t cols, const float* acc,
                       int64_t acc_ld) {
  float* c = t.c + i * t.ldc + s * t.c_step;
  const float* add = t.add_base() + i * t.add_row_stride() + s * t.add_tile_step();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j)
      c[r * t.ldc + j] =
          t.accumulate ? add[r * t.add_row_stride() + j] + acc[r * acc_ld + j] : acc[r * acc_ld + j];
}

extern const Kernel kPortableKernel;
#if QKV_HAVE_X86_KERNELS
// Compiled with -mavx2 -mfma (micro_kernel_avx2.cpp): call only when simd::cpu_supports(Isa::avx2).
extern const Kernel kAvx2Kernel;
// Compiled for x86-64-v4 (micro_kernel_avx512.cpp): call only when simd::cpu_supports(Isa::avx512).
extern const Kernel kAvx512Kernel;
#endif

}  // namespace qkv::gemm_detail
