// Private to tensor/gemm*.cpp: the GEMM micro-kernels and the packed-panel layout they share.
// Not a public header: nothing outside tensor/gemm.cpp and tensor/gemm_avx2.cpp should include it.
#pragma once
#include <cstdint>

namespace qkv::gemm_detail {

// The register block: one micro-kernel call computes an MR x NR tile of C.
constexpr int64_t kMR = 6;
constexpr int64_t kNR = 16;

// Packed layouts (made by pack_a / pack_b in gemm.cpp, zero-padded at the edges):
//   a_panel: kc x MR, column k of the MR-row sliver at a_panel[k * MR .. k * MR + MR)
//   b_panel: kc x NR, row k of the NR-column sliver at b_panel[k * NR .. k * NR + NR), 32-byte aligned
// Both kernels do: C[0:MR, 0:NR] (row stride ldc) = a_panel * b_panel, or += when accumulate.
// The sum over k runs in the same order in both, one rank-1 update after another.
using MicroKernel = void (*)(int64_t kc, const float* a_panel, const float* b_panel, float* c, int64_t ldc,
                             bool accumulate);

void micro_kernel_portable(int64_t kc, const float* a_panel, const float* b_panel, float* c, int64_t ldc,
                           bool accumulate);

#if QKV_HAVE_AVX2_KERNELS
// Compiled with -mavx2 -mfma (tensor/gemm_avx2.cpp): call only when cpu_has_avx2_fma().
void micro_kernel_avx2(int64_t kc, const float* a_panel, const float* b_panel, float* c, int64_t ldc,
                       bool accumulate);
#endif

}  // namespace qkv::gemm_detail
