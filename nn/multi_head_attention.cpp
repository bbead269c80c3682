// Multi-head and single-head self-attention (see multi_head_attention.h).
#include "nn/multi_head_attention.h"

#include "tensor/checks.h"

namespace qkv::nn {

MultiHeadAttention::MultiHeadAttention(int64_t key_size, int64_t query_size, int64_t value_size,
                                       int64_t num_hiddens_, int64_t num_heads_, float dropout, bool bias)
    : num_heads(check::positive("MultiHeadAttention", "num_heads", num_heads_)),
      num_hiddens(check::positive("MultiHeadAttention", "num_hiddens", num_hiddens_)),
      dropout_(check::fraction("MultiHeadAttention", "dropout", dropout)) {
  check::multiple_of("MultiHeadAttention", "num_hiddens", num_hiddens, "num_heads", num_heads);
  W_q = register_module("W_q", std::make_shared<Linear>(query_size, num_hiddens, bias));
  W_k = register_module("W_k", std::make_shared<Linear>(key_size, num_hiddens, bias));
  W_v = register_module("W_v", std::make_shared<Linear>(value_size, num_hiddens, bias));
  W_o = register_module("W_o", std::make_shared<Linear>(num_hiddens, num_hiddens, bias));
}

MultiHeadAttention::MultiHeadAttention(int64_t num_hiddens, int64_t num_heads, float dropout, bool bias)
    : MultiHeadAttention(num_hiddens, num_hiddens, num_hiddens, num_hiddens, num_heads, dropout, bias) {}

// [B,T,D] -> [B,T,H,Dh] -> [B,H,T,Dh]: each head sees its own Dh-wide slice of every position.
Tensor split_heads(const Tensor& x, int64_t H) {
  const int64_t B = x.size(0), T = x.size(1), D = x.size(2);
  return permute(reshape(x, {B, T, H, D / H}), {0, 2, 1, 3});
}

// [B,H,T,Dh] -> [B,T,H,Dh] -> [B,T,D]: the heads side by side again.
Tensor merge_heads(const Tensor& x) {
  const int64_t B = x.size(0), H = x.size(1), T = x.size(2), Dh = x.size(3);
  return reshape(permute(x, {0, 2, 1, 3}), {B, T, H * Dh});
}

Tensor MultiHeadAttention::forward(const Tensor& queries, const Tensor& keys, const Tensor& values,
                                   const Mask& mask) {
  const kernels::RaggedRows* ragged = mask.ragged_rows();  // a ragged batch: [N,width] rows, no batch dim
  const int64_t rank = ragged ? 2 : 3;
  if (queries.dim() != rank || keys.dim() != rank || values.dim() != rank ||
      (!ragged && (queries.size(0) != keys.size(0) || keys.size(0) != values.size(0))) ||
      keys.size(rank - 2) != values.size(rank - 2))
    fail("MultiHeadAttention",
         std::string(
             ragged ? "expected ragged queries [Nq,query_size], keys [Nk,key_size], values [Nk,value_size]"
                    : "expected queries [B,T,query_size], keys [B,S,key_size], values [B,S,value_size]") +
             ", got " + to_string(queries.shape()) + ", " + to_string(keys.shape()) + ", " +
             to_string(values.shape()));
  if (rope_base > 0 && ragged) fail("MultiHeadAttention", "rotary positions do not take a ragged batch");
  if (queries.impl() == keys.impl() && keys.impl() == values.impl() && rope_base == 0) {
    // Self-attention: the three projections of one x are one GEMM, x @ [W_q; W_k; W_v]^T -> [B,T,3D]
    // (PyTorch's in_proj_weight), and the heads are read from its three column blocks. The same numbers
    // as the three projections below; the backward gets x's gradient from one GEMM instead of three
    // GEMMs and two additions.
    const Tensor w = concat({W_q->weight, W_k->weight, W_v->weight}, 0);  // [3D, query_size]
    const Tensor b = W_q->bias.defined() ? concat({W_q->bias, W_k->bias, W_v->bias}, 0) : Tensor();
    const Tensor qkv = linear(queries, w, b);
    return W_o->forward(multi_head_self_attention(qkv, num_heads, options(mask, queries, queries)));
  }
  // Project: [B,T,query_size] -> [B,T,D]; keys and values likewise with S.
  return attend(queries, rotate(W_k->forward(keys), 0), W_v->forward(values), mask);
}

Tensor MultiHeadAttention::attend(const Tensor& queries, const Tensor& k, const Tensor& v, const Mask& mask) {
  const Tensor q = rotate(W_q->forward(queries), 0);
  // Every head at once, each read in place from its Dh columns of [B,T,D]: the same numbers as
  //   merge_heads(scaled_dot_product_attention(split_heads(q), split_heads(k), split_heads(v), mask).output)
  // without the four copies (tests/test_attention_fused.cpp checks they agree bit for bit). Weights [B,H,T,S].
  const Tensor out = multi_head_attention(q, k, v, num_heads, options(mask, q, k));
  return W_o->forward(out);  // [B,T,D] -> [B,T,D]
}

AttentionOptions MultiHeadAttention::options(const Mask& mask, const Tensor& q, const Tensor& k) {
  // The kernel's options: the [B|1,T|1,S] keep mask (T and S the longest sequences of a ragged batch)
  // without its causal part, which goes as a flag so that no [T,S] mask is built; weights if needed.
  const kernels::RaggedRows* ragged = mask.ragged_rows();
  AttentionOptions o{.causal = mask.is_causal(),
                     .dropout_p = dropout_,
                     .training = is_training(),
                     .weights = need_weights ? &attention_weights : nullptr,
                     .ragged = ragged};
  if (ragged) o.keep = mask.keep(ragged->batch(), ragged->longest_query(), ragged->longest_key(), false);
  else o.keep = mask.keep(q.size(0), q.size(1), k.size(1), false);
  if (!need_weights) attention_weights = Tensor();
  return o;
}

Tensor MultiHeadAttention::forward_cross_cached(const Tensor& queries, const Tensor& memory, const Mask& mask,
                                                KVCache& cache, int64_t layer) {
  if (queries.dim() != 3 || memory.dim() != 3 || queries.size(0) != memory.size(0) || mask.ragged_rows())
    fail("MultiHeadAttention",
         "cached cross-attention expects queries [B,T,query_size] and memory [B,S,key_size] with the same B "
         "(no ragged batch), got " +
             to_string(queries.shape()) + " and " + to_string(memory.shape()));
  // memory's keys and values [B,S,D]: projected at the first step, then taken from the cache
  const auto [k, v] = cache.cross(layer, memory, [&] {
    return std::pair{rotate(W_k->forward(memory), 0), W_v->forward(memory)};
  });
  return attend(queries, k, v, mask);
}

Tensor MultiHeadAttention::rotate(const Tensor& x, int64_t pos_offset) const {
  return rope_base > 0 ? rope(x, num_heads, pos_offset, rope_base) : x;  // [B,T,D] -> [B,T,D]
}

Tensor MultiHeadAttention::forward_cached(const Tensor& x, KVCache& cache, int64_t layer,
                                          const CacheStep& step) {
  if (x.dim() != 3 || x.size(0) != cache.batch() || x.size(1) != step.T || x.size(2) != num_hiddens)
    fail("MultiHeadAttention", "cached self-attention expects new tokens [B,T,D] = [" +
                                   std::to_string(cache.batch()) + "," + std::to_string(step.T) + "," +
                                   std::to_string(num_hiddens) + "], got " + to_string(x.shape()));
  // The joint projection forward uses, on the new tokens only: [B,T,D] -> [B,T,3D] -> q, k, v [B,T,D]
  const Tensor w = concat({W_q->weight, W_k->weight, W_v->weight}, 0);  // [3D, D]
  const Tensor b = W_q->bias.defined() ? concat({W_q->bias, W_k->bias, W_v->bias}, 0) : Tensor();
  const Tensor qkv = linear(x, w, b);
  Tensor q = narrow(qkv, 2, 0, num_hiddens), k = narrow(qkv, 2, num_hiddens, num_hiddens);
  const Tensor v = narrow(qkv, 2, 2 * num_hiddens, num_hiddens);
  if (rope_base > 0) {
    // Rotary positions turn q and k by their positions: new token i of sequence b sits at starts[b] + i
    // (the cached keys were turned when they were new).
    std::vector<Tensor> qs, ks;
    for (int64_t s = 0; s < cache.batch(); ++s) {
      qs.push_back(rotate(narrow(q, 0, s, 1), step.starts[s]));
      ks.push_back(rotate(narrow(k, 0, s, 1), step.starts[s]));
    }
    q = concat(qs, 0);
    k = concat(ks, 0);
  }
  const auto [keys, values] = cache.append(layer, k, v, step);  // [B,S,D] each
  // keep [B,T,S]: bottom-right aligned causal, each sequence its own length. The materialised kernel: its
  // rows have the bits of a full forward's that uses it too (the flash kernel's differ in rounding).
  const AttentionOptions options{.keep = step.keep,
                                 .weights = need_weights ? &attention_weights : nullptr,
                                 .kernel = kernels::AttentionKernel::materialised};
  if (!need_weights) attention_weights = Tensor();
  const Tensor out = multi_head_attention(q, keys, values, num_heads, options);
  return W_o->forward(out);  // [B,T,D] -> [B,T,D]
}

SelfAttention::SelfAttention(int64_t d_model, int64_t d_head, float dropout)
    : dropout_(check::fraction("SelfAttention", "dropout", dropout)) {
  W_q = register_module("W_q", std::make_shared<Linear>(d_model, d_head, false));
  W_k = register_module("W_k", std::make_shared<Linear>(d_model, d_head, false));
  W_v = register_module("W_v", std::make_shared<Linear>(d_model, d_head, false));
  W_o = register_module("W_o", std::make_shared<Linear>(d_head, d_model, false));
}

Tensor SelfAttention::forward(const Tensor& x, const Mask& mask) {
  if (x.dim() != 3) fail("SelfAttention", "expected x [B,T,d_model], got " + to_string(x.shape()));
  // Q, K, V: [B,T,d_model] -> [B,T,d_head]; weights [B,T,T]
  AttentionResult r = scaled_dot_product_attention(W_q->forward(x), W_k->forward(x), W_v->forward(x), mask,
                                                   dropout_, is_training());
  attention_weights = r.weights.detach();
  return W_o->forward(r.output);  // [B,T,d_head] -> [B,T,d_model]
}

}  // namespace qkv::nn
