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

// Checks p and H against q (or qkv, whose last dim holds `parts` blocks of H*Dh); returns 1/sqrt(Dh).
float checked_scale(const char* op, float dropout_p, int64_t H, const Tensor& q, int64_t parts,
                    const RaggedRows* ragged) {
  check::fraction(op, "dropout p", dropout_p);
  const int64_t rank = ragged ? 2 : 3, width = q.dim() == rank ? q.size(rank - 1) : 0;
  if (H <= 0 || width == 0 || width % (parts * H) != 0)
    fail(op, std::string("q must be ") + (ragged ? "[N," : "[B,T,") + (parts == 3 ? "3*" : "") +
                 "H*Dh] with H > 0, got " + to_string(q.shape()) + " and H=" + std::to_string(H));
  return 1.0f / std::sqrt(static_cast<float>(width / parts / H));
}

// The dropout mask on the [B,H,T,S] weights (T, S the longest sequences when ragged), drawn before the
// kernel runs as nn's dropout would draw it; undefined when there is no dropout.
Tensor attention_dropout_mask(const Tensor& q, const Tensor& k, int64_t H, float p, bool training,
                              const RaggedRows* ragged, Generator& gen) {
  if (!training || p == 0) return Tensor();
  if (ragged)
    return kernels::dropout_mask({ragged->batch(), H, ragged->longest_query(), ragged->longest_key()}, p,
                                 gen);
  return kernels::dropout_mask({q.size(0), H, q.size(1), k.size(1)}, p, gen);
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
  const float scale = checked_scale("multi_head_attention", dropout_p, H, q, 1, ragged);
  if (k.dim() != q.dim())
    fail("multi_head_attention",
         "q " + to_string(q.shape()) + " and k " + to_string(k.shape()) + " differ in rank");
  const Tensor mask = attention_dropout_mask(q, k, H, dropout_p, training, ragged, gen);
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
  const float scale = checked_scale("multi_head_self_attention", dropout_p, H, qkv, 3, ragged);
  const Tensor mask = attention_dropout_mask(qkv, qkv, H, dropout_p, training, ragged, gen);
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
