// Differentiable cross-entropy (see ops.h): the fused kernels of tensor/cross_entropy.h; the gradient of
// the logits is the softmax minus the target distribution.
#include "tensor/cross_entropy.h"
#include "autograd/ops.h"

namespace qkv {

using Grads = std::vector<Tensor>;

Tensor cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index,
                     float label_smoothing) {
  kernels::CrossEntropyOut out = kernels::cross_entropy(logits, targets, ignore_index, label_smoothing);
  const int64_t kept = out.kept;
  return record(
      "cross_entropy", out.loss, {logits, targets}, {out.probs, targets}, [=](const Tensor& g, auto& ctx) {
        // dlogits = dloss * (softmax(logits) - target distribution) / kept, 0 on ignored rows
        const kernels::CrossEntropyOut saved{Tensor(), ctx.saved[0], kept};
        return Grads{
            kernels::cross_entropy_backward(saved, ctx.saved[1], ignore_index, label_smoothing, g.item()),
            Tensor()};
      });
}

}  // namespace qkv
