// Matrix products on tensors, with BLAS-style transpose flags so Q K^T and every matmul backward need no
// copy. 2-D: a [M,K] @ b [K,N] -> [M,N]. Batched: leading dims broadcast, a [...,M,K] @ b [...,K,N].
// trans_a reads a as [...,K,M] (and uses its transpose); trans_b reads b as [...,N,K].
// The numbers come from the GEMM in gemm.h.
#pragma once
#include "tensor/tensor.h"

namespace qkv::kernels {

Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);

// A Linear layer's forward, x [..., in] @ weight [out, in]^T + bias [out] -> [..., out], as one GEMM whose
// micro-kernel adds the bias as it stores C (GemmArgs::bias). bias may be undefined (no bias).
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);

}  // namespace qkv::kernels
