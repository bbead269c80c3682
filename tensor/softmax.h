// Softmax and log-softmax along one dim, stable for logits of +-1e30 (the row max is subtracted first).
// A row whose entries are all -inf (a fully masked attention row) gives all zeros from softmax, not NaN,
// and -inf from log_softmax.
#pragma once
#include "tensor/tensor.h"

namespace qkv::kernels {

Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);

// Backward, given the forward's output y:
//   softmax:      dx = y * (dy - sum(dy * y))        (sum along dim)
//   log_softmax:  dx = dy - exp(y) * sum(dy)
Tensor softmax_backward(const Tensor& y, const Tensor& dy, int64_t dim);
Tensor log_softmax_backward(const Tensor& y, const Tensor& dy, int64_t dim);

}  // namespace qkv::kernels
