// Private to tensor/gemm*.cpp: the GEMM micro-kernel interface shared by the driver (gemm.cpp), the AVX2
// kernel (gemm_avx2.cpp) and the portable kernel. Not a public header: include gemm.h instead.
// Leaves out the loops around the kernels, packing and edges: all in gemm.cpp.
#pragma once
#include <cstdint>

namespace qkv::gemm_detail {

// The register block: one micro-kernel call computes (up to) an MR x NR tile of C.
constexpr int64_t kMR = 6;
constexpr int64_t kNR = 16;

// One micro-kernel call: C[0:rows, 0:NR] = A_sliver B_sliver (or += when accumulate), with
//   A_sliver (rows x kc) element (i, k) at a[i * a_row_stride + k * a_col_stride]
//   B_sliver (kc x NR)  row k at b[k * b_row_stride .. + NR), contiguous
// A packed sliver (pack_a in gemm.cpp) has a_row_stride = 1, a_col_stride = MR; a packed B sliver has
// b_row_stride = NR. Small products skip packing and point straight into A and B (BLIS calls that "sup").
// Every C element is a sum over k in increasing order, one multiply-add per k, whatever rows is.
struct MicroTile {
  int64_t rows;  // 1..MR
  int64_t kc;
  const float* a;
  int64_t a_row_stride, a_col_stride;
  const float* b;
  int64_t b_row_stride;
  float* c;
  int64_t ldc;
  bool accumulate;
};

using MicroKernel = void (*)(const MicroTile& t);

void micro_kernel_portable(const MicroTile& t);

#if QKV_HAVE_AVX2_KERNELS
// Compiled with -mavx2 -mfma (tensor/gemm_avx2.cpp): call only when cpu_has_avx2_fma().
void micro_kernel_avx2(const MicroTile& t);
#endif

}  // namespace qkv::gemm_detail
