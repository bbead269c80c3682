// Differentiable multi-head attention (see ops.h): one node whose forward and backward are the fused
// kernels of tensor/attention.h, with scale = 1/sqrt(Dh). Two forms: q, k, v as three tensors,
// and self-attention's q, k, v side by side in one tensor from a joint projection. Either may be ragged.
#include <cmath>
#include <optional>

#include "autograd/ops.h"
#include "tensor/attention.h"
#include "tensor/checks.h"
#include "tensor/dropout.h"

namespace qkv {
namespace {

using kernels::RaggedRows;

// 1/sqrt(Dh), the scale of the scores.
float scale_of(const kernels::AttentionSizes& s) { return 1.0f / std::sqrt(static_cast<float>(s.Dh)); }

// The dropout mask on the [B,H,T,S] weights (T, S the longest sequences when ragged), drawn before the
// kernel runs as nn's dropout would draw it; undefined when there is no dropout.
Tensor attention_dropout_mask(const char* op, const kernels::AttentionSizes& s, float p, bool training,
                              Generator& gen) {
  check::fraction(op, "dropout p", p);
  if (!training || p == 0) return Tensor();
  return kernels::dropout_mask({s.B, s.H, s.T, s.S}, p, gen);
}

// The backward's copy of the splits (a node outlives the caller's).
std::optional<RaggedRows> keep_copy(const RaggedRows* ragged) {
  return ragged ? std::optional<RaggedRows>(*ragged) : std::nullopt;
}
const RaggedRows* pointer(const std::optional<RaggedRows>& r) { return r ? &*r : nullptr; }

}  // namespace

Tensor multi_head_attention(const Tensor& q, const Tensor& k, const Tensor& v, int64_t H, const Tensor& keep,
                            float dropout_p, bool training, Tensor* weights, Generator& gen,
                            const RaggedRows* ragged) {
  // The shapes are checked once, by the kernel's rules, before anything is drawn from gen.
  const kernels::AttentionSizes sizes = kernels::attention_sizes("multi_head_attention", q, k, v, H, ragged);
  const float scale = scale_of(sizes);
  const Tensor mask = attention_dropout_mask("multi_head_attention", sizes, dropout_p, training, gen);
  const kernels::AttentionForward f = kernels::attention_forward(q, k, v, H, keep, scale, mask, ragged);
  if (weights) *weights = f.weights;
  return record("multi_head_attention", f.out, {q, k, v}, {q, k, v, f.weights, f.dropped, mask},
                [H, scale, rows = keep_copy(ragged)](const Tensor& g, auto& ctx) {
                  // d(q, k, v) through softmax(scale q k^T) v per head: docs/derivations/attention_backward.md
                  const auto& s = ctx.saved;
                  kernels::AttentionGrads d = kernels::attention_backward(g, s[0], s[1], s[2], s[3], s[4],
                                                                          s[5], H, scale, pointer(rows));
                  return std::vector<Tensor>{d.dq, d.dk, d.dv};
                });
}

Tensor multi_head_self_attention(const Tensor& qkv, int64_t H, const Tensor& keep, float dropout_p,
                                 bool training, Tensor* weights, Generator& gen, const RaggedRows* ragged) {
  const kernels::AttentionSizes sizes =
      kernels::attention_sizes_packed("multi_head_self_attention", qkv, H, ragged);
  const float scale = scale_of(sizes);
  const Tensor mask = attention_dropout_mask("multi_head_self_attention", sizes, dropout_p, training, gen);
  const kernels::AttentionForward f = kernels::attention_forward_packed(qkv, H, keep, scale, mask, ragged);
  if (weights) *weights = f.weights;
  return record("multi_head_self_attention", f.out, {qkv}, {qkv, f.weights, f.dropped, mask},
                [H, scale, rows = keep_copy(ragged)](const Tensor& g, auto& ctx) {
                  const auto& s = ctx.saved;
                  return std::vector<Tensor>{
                      kernels::attention_backward_packed(g, s[0], s[1], s[2], s[3], H, scale, pointer(rows))};
                });
}

}  // namespace qkv
