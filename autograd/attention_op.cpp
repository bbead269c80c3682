// Differentiable multi-head attention (see ops.h): one node whose forward and backward are the fused
// kernels of tensor/attention_kernels.h, with scale = 1/sqrt(Dh). Two forms: q, k, v as three tensors,
// and self-attention's q, k, v side by side in one tensor from a joint projection.
#include <cmath>

#include "autograd/ops.h"
#include "tensor/attention_kernels.h"
#include "tensor/nn_kernels.h"

namespace qkv {
namespace {

// Checks p and H against a width of H*Dh (the queries'); returns the scale 1/sqrt(Dh).
float checked_scale(const char* op, float dropout_p, int64_t H, const Tensor& x, int64_t width) {
  if (dropout_p < 0 || dropout_p >= 1)
    fail(op, "dropout p must be in [0, 1), got " + std::to_string(dropout_p));
  if (H <= 0 || x.dim() != 3 || width % H != 0)
    fail(op, "q must be [B,T,H*Dh] with H > 0, got " + to_string(x.shape()) + " and H=" + std::to_string(H));
  return 1.0f / std::sqrt(static_cast<float>(width / H));
}

// The dropout mask on the [B,H,T,S] weights, drawn before the kernel runs as nn's dropout would draw it;
// undefined when there is no dropout.
Tensor attention_dropout_mask(int64_t B, int64_t H, int64_t T, int64_t S, float p, bool training,
                              Generator& gen) {
  return training && p > 0 ? kernels::dropout_mask({B, H, T, S}, p, gen) : Tensor();
}

}  // namespace

Tensor multi_head_attention(const Tensor& q, const Tensor& k, const Tensor& v, int64_t H, const Tensor& keep,
                            float dropout_p, bool training, Tensor* weights, Generator& gen) {
  const float scale = checked_scale("multi_head_attention", dropout_p, H, q, q.dim() == 3 ? q.size(2) : 0);
  const Tensor mask = attention_dropout_mask(q.size(0), H, q.size(1), k.size(1), dropout_p, training, gen);
  const kernels::AttentionForward f = kernels::attention_forward(q, k, v, H, keep, scale, mask);
  if (weights) *weights = f.weights;
  return record("multi_head_attention", f.out, {q, k, v}, {q, k, v, f.weights, f.dropped, mask},
                [H, scale](const Tensor& g, auto& ctx) {
                  // d(q, k, v) through softmax(scale q k^T) v per head: docs/derivations/attention_backward.md
                  const auto& s = ctx.saved;
                  kernels::AttentionGrads d =
                      kernels::attention_backward(g, s[0], s[1], s[2], s[3], s[4], s[5], H, scale);
                  return std::vector<Tensor>{d.dq, d.dk, d.dv};
                });
}

Tensor multi_head_self_attention(const Tensor& qkv, int64_t H, const Tensor& keep, float dropout_p,
                                 bool training, Tensor* weights, Generator& gen) {
  const float scale = checked_scale("multi_head_self_attention", dropout_p, H, qkv,
                                    qkv.dim() == 3 && qkv.size(2) % 3 == 0 ? qkv.size(2) / 3 : 1);
  const Tensor mask =
      attention_dropout_mask(qkv.size(0), H, qkv.size(1), qkv.size(1), dropout_p, training, gen);
  const kernels::AttentionForward f = kernels::attention_forward_packed(qkv, H, keep, scale, mask);
  if (weights) *weights = f.weights;
  return record(
      "multi_head_self_attention", f.out, {qkv}, {qkv, f.weights, f.dropped, mask},
      [H, scale](const Tensor& g, auto& ctx) {
        const auto& s = ctx.saved;
        return std::vector<Tensor>{kernels::attention_backward_packed(g, s[0], s[1], s[2], s[3], H, scale)};
      });
}

}  // namespace qkv
