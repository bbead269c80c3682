// SwiGLU's gate (Shazeer 2020, "GLU Variants Improve Transformer"; LLaMA's feed-forward): silu(a) * b with
// silu(a) = a * sigmoid(a), fused into one pass forward and one backward. The feed-forward built on it is
// W2 (silu(W1 x) * W3 x) (nn/transformer.h). Leaves out the other GLU variants (GEGLU, ReGLU).
#pragma once
#include "tensor/tensor.h"

namespace qkv::kernels {

Tensor swiglu(const Tensor& a, const Tensor& b);  // a, b of one shape -> silu(a) * b
struct SwiGLUGrads {
  Tensor da, db;
};
// da = dy * b * s (1 + a (1 - s)),  db = dy * a * s,  s = sigmoid(a)
SwiGLUGrads swiglu_backward(const Tensor& dy, const Tensor& a, const Tensor& b);

}  // namespace qkv::kernels
