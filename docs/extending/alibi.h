// ALiBi (Press et al., "Train Short, Test Long", 2022): attention with linear biases, the worked example
// of docs/10-extending.md. Instead of adding a positional encoding to the inputs, every head h adds
// -m_h * distance(query, key) to its scores before the masked softmax, so far-away keys lose weight
// linearly and no table of positions limits the length.
//   alibi_slopes(H)           m_h = 2^(-8h/H), h = 1..H
//   alibi_bias(scores, m)     a new differentiable op, forward and backward written out (docs step 1)
//   ALiBiSelfAttention        a new layer: multi-head self-attention with the bias (docs step 2)
// Header-only on purpose: the library globs only tensor/ autograd/ nn/, and tests/test_docs_extending.cpp
// includes this file, so the chapter's code is compiled and tested with the rest.
#pragma once
#include <cmath>
#include <memory>

#include "nn/attention.h"
#include "tensor/shape_ops.h"

namespace qkv::docs {

// m_h = 2^(-8h/H) for h = 1..H: with H = 8 the slopes are 1/2, 1/4, ..., 1/256. [H]
inline Tensor alibi_slopes(int64_t H) {
  if (H <= 0) fail("alibi_slopes", "need at least one head, got " + std::to_string(H));
  Tensor m({H});
  for (int64_t h = 1; h <= H; ++h) m.set({h - 1}, std::exp2(-8.0f * float(h) / float(H)));
  return m;
}

// distance[i, j] = |(i + S - T) - j|: how far key j lies from query i, with the queries aligned to the
// last T of the S keys (as Mask::causal). Under a causal mask this is the paper's i - j. [T,S]
inline Tensor alibi_distances(int64_t T, int64_t S) {
  Tensor d({T, S});
  for (int64_t i = 0; i < T; ++i)
    for (int64_t j = 0; j < S; ++j) d.set({i, j}, std::fabs(float(i + S - T - j)));
  return d;
}

// scores [B,H,T,S], slopes [H] -> scores - slopes[h] * distance[i, j], [B,H,T,S].
// The slopes may require grad (a learned-slope variant); the distances are constants.
inline Tensor alibi_bias(const Tensor& scores, const Tensor& slopes) {
  if (scores.dim() != 4 || slopes.dim() != 1 || slopes.size(0) != scores.size(1))
    fail("alibi_bias", "expected scores [B,H,T,S] and slopes [H], got " + to_string(scores.shape()) +
                           " and " + to_string(slopes.shape()));
  const int64_t H = scores.size(1);
  const Tensor distance = alibi_distances(scores.size(2), scores.size(3));  // [T,S]
  const Tensor m = kernels::reshape(slopes, {H, 1, 1});                     // [H,1,1]
  // forward: [B,H,T,S] - [H,1,1] * [T,S], broadcast to [B,H,T,S]
  Tensor out = kernels::sub(scores, kernels::mul(m, distance));
  return record("alibi_bias", out, {scores, slopes}, {distance}, [H](const Tensor& g, auto& ctx) {
    // d out / d scores = 1;  d out / d m_h = -distance[i, j], summed over b, i, j
    Tensor dslopes;
    if (ctx.needs_grad[1])
      dslopes =
          kernels::reshape(kernels::neg(kernels::sum_to(kernels::mul(g, ctx.saved[0]), {H, 1, 1})), {H});
    return std::vector<Tensor>{g, dslopes};
  });
}

// Causal multi-head self-attention with ALiBi and no positional encoding: x [B,T,D] -> [B,T,D].
// The same projections as nn::MultiHeadAttention; only the scores change.
class ALiBiSelfAttention : public nn::Module {
 public:
  ALiBiSelfAttention(int64_t num_hiddens, int64_t num_heads)
      : num_heads(num_heads), slopes(alibi_slopes(num_heads)) {
    if (num_heads <= 0 || num_hiddens % num_heads != 0)
      fail("ALiBiSelfAttention", "num_hiddens (" + std::to_string(num_hiddens) +
                                     ") must be a multiple of num_heads (" + std::to_string(num_heads) + ")");
    W_q = register_module("W_q", std::make_shared<nn::Linear>(num_hiddens, num_hiddens, false));
    W_k = register_module("W_k", std::make_shared<nn::Linear>(num_hiddens, num_hiddens, false));
    W_v = register_module("W_v", std::make_shared<nn::Linear>(num_hiddens, num_hiddens, false));
    W_o = register_module("W_o", std::make_shared<nn::Linear>(num_hiddens, num_hiddens, false));
  }

  Tensor forward(const Tensor& x, const nn::Mask& mask = nn::Mask::causal()) {
    if (x.dim() != 3) fail("ALiBiSelfAttention", "expected x [B,T,D], got " + to_string(x.shape()));
    const int64_t B = x.size(0), T = x.size(1), D = x.size(2), H = num_heads, Dh = D / H;
    // [B,T,D] -> [B,T,H,Dh] -> [B,H,T,Dh]
    auto split = [&](const Tensor& y) { return permute(reshape(y, {B, T, H, Dh}), {0, 2, 1, 3}); };
    const Tensor q = split(W_q->forward(x)), k = split(W_k->forward(x)), v = split(W_v->forward(x));
    // scores [B,H,T,T] = Q K^T / sqrt(Dh), minus m_h * |i - j|, then the masked softmax
    const Tensor scores = alibi_bias(matmul(q, k, false, true) * (1.0f / std::sqrt(float(Dh))), slopes);
    const Tensor weights = nn::masked_softmax(scores, mask);
    attention_weights = weights.detach();
    // [B,H,T,T] @ [B,H,T,Dh] -> [B,H,T,Dh] -> [B,T,H,Dh] -> [B,T,D]
    const Tensor out = reshape(permute(matmul(weights, v), {0, 2, 1, 3}), {B, T, D});
    return W_o->forward(out);
  }

  int64_t num_heads;
  Tensor slopes;  // [H], fixed (not registered as a parameter, so not trained or checkpointed)
  std::shared_ptr<nn::Linear> W_q, W_k, W_v, W_o;
  Tensor attention_weights;  // [B,H,T,T] from the last forward
};

}  // namespace qkv::docs
