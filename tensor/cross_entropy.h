// Cross-entropy's fused kernels: log-softmax and the negative log-likelihood of the targets in one pass
// over the logits, with ignore_index and label smoothing, and its backward (probs minus the target
// distribution). Tested against the composition; autograd/cross_entropy.cpp makes it differentiable.
#pragma once
#include "tensor/tensor.h"

namespace qkv::kernels {

// Cross-entropy of logits [N,V] against integer-valued float targets [N], or of [B,T,V] against [B,T]
// (the same as reshaping to [B*T,V] and [B*T]). The class dim is last, where the models put it; PyTorch
// puts it in dim 1 ([N,C] or [N,C,d1]). A target equal to ignore_index contributes nothing. loss = mean over the kept rows of -log softmax(logits)[target];
// 0 (not NaN) when every row is ignored. probs (softmax of logits) is kept for backward.
struct CrossEntropyOut {
  Tensor loss;   // 0-d
  Tensor probs;  // [N,V] or [B,T,V], as the logits
  int64_t kept;  // rows not ignored
};
CrossEntropyOut cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index = -100,
                              float label_smoothing = 0);
// dlogits = dloss * (probs - onehot_smoothed(target)) / kept on kept rows, 0 on ignored rows.
Tensor cross_entropy_backward(const CrossEntropyOut& out, const Tensor& targets, int64_t ignore_index,
                              float label_smoothing, float dloss);

}  // namespace qkv::kernels
