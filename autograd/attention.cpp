// Differentiable multi-head attention (see ops.h): one node whose forward and backward are the fused
// kernels of tensor/attention.h, with scale = 1/sqrt(Dh): the materialised kernel (which keeps the
// [B,H,T,S] weights) or the flash kernel (which keeps one log-sum-exp per query row), as
// kernels::choose_attention_kernel decides. Two forms: q, k, v as three tensors, and self-attention's
// q, k, v side by side in one tensor from a joint projection. Either may be ragged.
#include <cmath>
#include <optional>

#include "autograd/ops.h"
#include "tensor/attention.h"
#include "tensor/checks.h"

namespace qkv {
namespace {

using kernels::RaggedRows;

// 1/sqrt(Dh), the scale of the scores.
float scale_of(const kernels::AttentionSizes& s) { return 1.0f / std::sqrt(static_cast<float>(s.Dh)); }

// The dropout stream, drawn before the kernel runs as nn's dropout would draw it (one draw from gen);
// either kernel draws the mask's entries from it as it goes, forward and again backward, so both use the
// same mask and neither stores it. p = 0 when there is no dropout.
kernels::AttentionDropout attention_dropout(const char* op, const AttentionOptions& o) {
  check::fraction(op, "dropout p", o.dropout_p);
  if (!o.training || o.dropout_p == 0) return {};
  return {o.dropout_p, (o.gen ? *o.gen : default_generator()).split()};
}

// The dense keep the materialised kernel takes: the causal part folded in (a [B|1,T,S] mask).
Tensor dense_keep(const kernels::AttentionSizes& s, const AttentionOptions& o) {
  return o.causal ? kernels::keep_with_causal(o.keep, s.T, s.S) : o.keep;
}

// The backward's copy of the splits (a node outlives the caller's).
std::optional<RaggedRows> keep_copy(const RaggedRows* ragged) {
  return ragged ? std::optional<RaggedRows>(*ragged) : std::nullopt;
}
const RaggedRows* pointer(const std::optional<RaggedRows>& r) { return r ? &*r : nullptr; }

}  // namespace

Tensor multi_head_attention(const Tensor& q, const Tensor& k, const Tensor& v, int64_t H,
                            const AttentionOptions& o) {
  // The shapes are checked once, by the kernel's rules, before anything is drawn from gen.
  const char* op = "multi_head_attention";
  const kernels::AttentionSizes sizes = kernels::attention_sizes(op, q, k, v, H, o.ragged);
  const float scale = scale_of(sizes);
  const kernels::AttentionDropout drop = attention_dropout(op, o);
  if (kernels::choose_attention_kernel(sizes, o.weights, o.kernel) == kernels::AttentionKernel::flash) {
    const kernels::FlashForward f =
        kernels::flash_attention_forward(q, k, v, H, o.keep, o.causal, scale, drop, o.ragged);
    return record(
        op, f.out, {q, k, v}, {q, k, v, f.out, f.lse, o.keep},
        [H, scale, drop, causal = o.causal, rows = keep_copy(o.ragged)](const Tensor& g, auto& ctx) {
          // P recomputed block by block from the log-sum-exp: docs/13-flash-attention.md
          const auto& s = ctx.saved;
          kernels::AttentionGrads d = kernels::flash_attention_backward(
              g, s[0], s[1], s[2], s[3], s[4], H, s[5], causal, scale, drop, pointer(rows));
          return std::vector<Tensor>{d.dq, d.dk, d.dv};
        });
  }
  const Tensor keep = dense_keep(sizes, o);
  const kernels::AttentionForward f = kernels::attention_forward(q, k, v, H, keep, scale, drop, o.ragged);
  if (o.weights) *o.weights = f.weights;
  return record(op, f.out, {q, k, v}, {q, k, v, f.weights, keep},
                [H, scale, drop, rows = keep_copy(o.ragged)](const Tensor& g, auto& ctx) {
                  // d(q, k, v) through softmax(scale q k^T) v per head: docs/derivations/attention_backward.md
                  const auto& s = ctx.saved;
                  kernels::AttentionGrads d = kernels::attention_backward(g, s[0], s[1], s[2], s[3], s[4],
                                                                          drop, H, scale, pointer(rows));
                  return std::vector<Tensor>{d.dq, d.dk, d.dv};
                });
}

Tensor multi_head_self_attention(const Tensor& qkv, int64_t H, const AttentionOptions& o) {
  const char* op = "multi_head_self_attention";
  const kernels::AttentionSizes sizes = kernels::attention_sizes_packed(op, qkv, H, o.ragged);
  const float scale = scale_of(sizes);
  const kernels::AttentionDropout drop = attention_dropout(op, o);
  if (kernels::choose_attention_kernel(sizes, o.weights, o.kernel) == kernels::AttentionKernel::flash) {
    const kernels::FlashForward f =
        kernels::flash_attention_forward_packed(qkv, H, o.keep, o.causal, scale, drop, o.ragged);
    return record(
        op, f.out, {qkv}, {qkv, f.out, f.lse, o.keep},
        [H, scale, drop, causal = o.causal, rows = keep_copy(o.ragged)](const Tensor& g, auto& ctx) {
          const auto& s = ctx.saved;
          return std::vector<Tensor>{kernels::flash_attention_backward_packed(
              g, s[0], s[1], s[2], H, s[3], causal, scale, drop, pointer(rows))};
        });
  }
  const Tensor keep = dense_keep(sizes, o);
  const kernels::AttentionForward f = kernels::attention_forward_packed(qkv, H, keep, scale, drop, o.ragged);
  if (o.weights) *o.weights = f.weights;
  return record(op, f.out, {qkv}, {qkv, f.weights, keep},
                [H, scale, drop, rows = keep_copy(o.ragged)](const Tensor& g, auto& ctx) {
                  const auto& s = ctx.saved;
                  return std::vector<Tensor>{
                      kernels::attention_backward_packed(g, s[0], s[1], s[2], drop, H, scale, pointer(rows))};
                });
}

// The positional forms: weights asked for exactly when a place to put them is given.
Tensor multi_head_attention(const Tensor& q, const Tensor& k, const Tensor& v, int64_t H, const Tensor& keep,
                            float dropout_p, bool training, Tensor* weights, Generator& gen,
                            const RaggedRows* ragged) {
  return multi_head_attention(q, k, v, H,
                              {.keep = keep,
                               .dropout_p = dropout_p,
                               .training = training,
                               .weights = weights,
                               .gen = &gen,
                               .ragged = ragged});
}

Tensor multi_head_self_attention(const Tensor& qkv, int64_t H, const Tensor& keep, float dropout_p,
                                 bool training, Tensor* weights, Generator& gen, const RaggedRows* ragged) {
  return multi_head_self_attention(qkv, H,
                                   {.keep = keep,
                                    .dropout_p = dropout_p,
                                    .training = training,
                                    .weights = weights,
                                    .gen = &gen,
                                    .ragged = ragged});
}

}  // namespace qkv
