// Attention scoring, as the course builds it: a score for every (query, key) pair, a masked softmax
// over the keys, and a weighted sum of the values.
//   scaled dot-product  score(q, k) = q . k / sqrt(d)
//   additive            score(q, k) = w_v^T tanh(W_q q + W_k k)
// Shapes: queries [B,T,dq], keys [B,S,dk], values [B,S,dv] -> output [B,T,dv], weights [B,T,S].
// The dot-product forms also take a head axis: [B,H,T,Dh] etc., weights [B,H,T,S].
#pragma once
#include "nn/layers.h"
#include "nn/mask.h"

namespace qkv::nn {

// d2l's masked_softmax, with -inf where d2l uses -1e6: a masked key gets exactly zero weight, and a fully
// masked row gives zero weights (and zero gradient), where -1e6 would give a uniform row.
// scores [B,T,S] or [B,H,T,S].
Tensor masked_softmax(const Tensor& scores, const Mask& mask);

struct AttentionResult {
  Tensor output;   // [B,(H,)T,dv]
  Tensor weights;  // [B,(H,)T,S], after masking, before dropout
};

// softmax(Q K^T / sqrt(d) + mask) V, with dropout on the weights (only when training).
AttentionResult scaled_dot_product_attention(const Tensor& queries, const Tensor& keys, const Tensor& values,
                                             const Mask& mask = {}, float dropout = 0, bool training = false);

// d2l's DotProductAttention: the function above as a module that keeps the last weights.
class DotProductAttention : public Module {
 public:
  explicit DotProductAttention(float dropout = 0);
  Tensor forward(const Tensor& queries, const Tensor& keys, const Tensor& values, const Mask& mask = {});
  Tensor attention_weights;  // [B,T,S] from the last forward, for pictures

 private:
  float dropout_;
};

// d2l's AdditiveAttention: queries and keys are projected to num_hiddens, added, squashed by tanh and
// scored by w_v. Works for queries and keys of different widths.
class AdditiveAttention : public Module {
 public:
  AdditiveAttention(int64_t key_size, int64_t query_size, int64_t num_hiddens, float dropout = 0);
  Tensor forward(const Tensor& queries, const Tensor& keys, const Tensor& values, const Mask& mask = {});
  std::shared_ptr<Linear> W_k, W_q, w_v;
  Tensor attention_weights;  // [B,T,S]

 private:
  float dropout_;
};

}  // namespace qkv::nn
