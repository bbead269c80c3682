// Attention scoring (see attention.h). Composed from differentiable ops, so its gradient comes free.
#include "nn/attention.h"

#include <cmath>
#include <limits>

#include "tensor/checks.h"

namespace qkv::nn {

Tensor masked_softmax(const Tensor& scores, const Mask& mask) {
  if (scores.dim() != 3 && scores.dim() != 4)
    fail("masked_softmax", "scores must be [B,T,S] or [B,H,T,S], got " + to_string(scores.shape()));
  if (mask.empty()) return softmax(scores, -1);
  const int64_t B = scores.size(0), T = scores.size(-2), S = scores.size(-1);
  Tensor keep = mask.keep(B, T, S);                  // [B|1, T|1, S]
  if (scores.dim() == 4) keep = unsqueeze(keep, 1);  // the same mask for every head: [B|1, 1, T|1, S]
  // Masked scores become -inf, so exp gives exactly 0; a row with every key masked gives all zeros.
  const Tensor masked = masked_fill(scores, eq(keep, scalar(0)), -std::numeric_limits<float>::infinity());
  return softmax(masked, -1);
}

static void check_qkv(const char* op, const Tensor& q, const Tensor& k, const Tensor& v) {
  const bool ranks_ok = (q.dim() == 3 || q.dim() == 4) && k.dim() == q.dim() && v.dim() == q.dim();
  if (!ranks_ok || q.size(-1) != k.size(-1) || k.size(-2) != v.size(-2) || q.size(0) != k.size(0) ||
      k.size(0) != v.size(0))
    fail(op, "expected queries [B,(H,)T,d], keys [B,(H,)S,d], values [B,(H,)S,dv], got queries " +
                 to_string(q.shape()) + ", keys " + to_string(k.shape()) + ", values " +
                 to_string(v.shape()));
}

AttentionResult scaled_dot_product_attention(const Tensor& queries, const Tensor& keys, const Tensor& values,
                                             const Mask& mask, float dropout_p, bool training) {
  check_qkv("scaled_dot_product_attention", queries, keys, values);
  const float d = float(queries.size(-1));
  // scores = Q K^T / sqrt(d): [B,(H,)T,d] @ [B,(H,)S,d]^T -> [B,(H,)T,S]; the flag transposes K for free
  const Tensor scores = matmul(queries, keys, false, true) * (1.0f / std::sqrt(d));
  AttentionResult r;
  r.weights = masked_softmax(scores, mask);
  // output = dropout(weights) V: [B,(H,)T,S] @ [B,(H,)S,dv] -> [B,(H,)T,dv]
  r.output = matmul(dropout(r.weights, dropout_p, training), values);
  return r;
}

DotProductAttention::DotProductAttention(float dropout)
    : dropout_(check::fraction("DotProductAttention", "dropout", dropout)) {}

Tensor DotProductAttention::forward(const Tensor& queries, const Tensor& keys, const Tensor& values,
                                    const Mask& mask) {
  AttentionResult r = scaled_dot_product_attention(queries, keys, values, mask, dropout_, is_training());
  attention_weights = r.weights.detach();
  return r.output;
}

AdditiveAttention::AdditiveAttention(int64_t key_size, int64_t query_size, int64_t num_hiddens, float dropout)
    : dropout_(check::fraction("AdditiveAttention", "dropout", dropout)) {
  W_k = register_module("W_k", std::make_shared<Linear>(key_size, num_hiddens, /*bias=*/false));
  W_q = register_module("W_q", std::make_shared<Linear>(query_size, num_hiddens, /*bias=*/false));
  w_v = register_module("w_v", std::make_shared<Linear>(num_hiddens, 1, /*bias=*/false));
}

Tensor AdditiveAttention::forward(const Tensor& queries, const Tensor& keys, const Tensor& values,
                                  const Mask& mask) {
  if (queries.dim() != 3 || keys.dim() != 3 || values.dim() != 3 || keys.size(1) != values.size(1))
    fail("AdditiveAttention", "expected queries [B,T,dq], keys [B,S,dk], values [B,S,dv], got " +
                                  to_string(queries.shape()) + ", " + to_string(keys.shape()) + ", " +
                                  to_string(values.shape()));
  const Tensor q = W_q->forward(queries);  // [B,T,h]
  const Tensor k = W_k->forward(keys);     // [B,S,h]
  // Every query against every key by broadcasting: [B,T,1,h] + [B,1,S,h] -> [B,T,S,h]
  const Tensor features = tanh(unsqueeze(q, 2) + unsqueeze(k, 1));
  const Tensor scores = squeeze(w_v->forward(features), -1);  // [B,T,S,1] -> [B,T,S]
  const Tensor weights = masked_softmax(scores, mask);
  attention_weights = weights.detach();
  return matmul(dropout(weights, dropout_, is_training()), values);  // [B,T,S] @ [B,S,dv] -> [B,T,dv]
}

}  // namespace qkv::nn
