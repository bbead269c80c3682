// Differentiable multi-head attention (see ops.h): one node whose forward and backward are the fused
// kernels of tensor/attention_kernels.h, with scale = 1/sqrt(Dh).
#include <cmath>

#include "autograd/ops.h"
#include "tensor/attention_kernels.h"
#include "tensor/nn_kernels.h"

namespace qkv {

Tensor multi_head_attention(const Tensor& q, const Tensor& k, const Tensor& v, int64_t H, const Tensor& keep,
                            float dropout_p, bool training, Tensor* weights, Generator& gen) {
  if (dropout_p < 0 || dropout_p >= 1)
    fail("multi_head_attention", "dropout p must be in [0, 1), got " + std::to_string(dropout_p));
  if (H <= 0 || q.dim() != 3 || q.size(2) % H != 0)
    fail("multi_head_attention",
         "q must be [B,T,H*Dh] with H > 0, got q " + to_string(q.shape()) + " and H=" + std::to_string(H));
  const float scale = 1.0f / std::sqrt(static_cast<float>(q.size(2) / H));
  // The dropout mask is drawn before the kernel runs, as nn's dropout would draw it: [B,H,T,S]
  const bool drop = training && dropout_p > 0;
  const Tensor mask =
      drop ? kernels::dropout_mask({q.size(0), H, q.size(1), k.size(1)}, dropout_p, gen) : Tensor();
  const kernels::AttentionForward f = kernels::attention_forward(q, k, v, H, keep, scale, mask);
  if (weights) *weights = f.weights;
  std::vector<Tensor> saved{q, k, v, f.weights, f.dropped};
  if (drop) saved.push_back(mask);
  return record("multi_head_attention", f.out, {q, k, v}, std::move(saved),
                [H, scale](const Tensor& g, auto& ctx) {
                  // d(q, k, v) through softmax(scale q k^T) v per head: docs/derivations/attention_backward.md
                  const auto& s = ctx.saved;
                  const Tensor drop_mask = s.size() > 5 ? s[5] : Tensor();
                  kernels::AttentionGrads d =
                      kernels::attention_backward(g, s[0], s[1], s[2], s[3], s[4], drop_mask, H, scale);
                  return std::vector<Tensor>{d.dq, d.dk, d.dv};
                });
}

}  // namespace qkv
