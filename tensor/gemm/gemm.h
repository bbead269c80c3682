// GEMM on raw row-major arrays: C = op(A) op(B) (+ C when accumulate, + a bias row when given), op(X) = X
// or X^T.
// op(A) is M x K, op(B) is K x N, C is M x N. lda/ldb/ldc are row strides of the arrays as stored
// (A stored M x K with lda >= K, or K x M with lda >= M when trans_a).
// gemm() picks the AVX-512 or AVX2 micro-kernel at run time when the CPU has one (same bits on both), else the
// portable blocked path;
// gemm_naive() is the triple loop kept as the test oracle.
// C must not overlap A or B. Results are bitwise the same for any thread count (threads split C, never K).
#pragma once
#include <cstdint>

namespace qkv {

struct GemmArgs {
  int64_t M, N, K;
  const float* A;
  int64_t lda;
  bool trans_a = false;
  const float* B;
  int64_t ldb;
  bool trans_b = false;
  float* C;
  int64_t ldc;
  bool accumulate = false;  // C += op(A) op(B) instead of C = op(A) op(B)
  const float* bias =
      nullptr;  // if set (and not accumulate): C = op(A) op(B) + bias, bias (N floats) added to every row
};

void gemm(const GemmArgs& g);
void gemm_naive(const GemmArgs& g);

// The micro-kernel is chosen by simd::active_isa() (tensor/simd/isa.h) on every call.

}  // namespace qkv
