// Multi-head attention (d2l's MultiHeadAttention; PyTorch's nn.MultiheadAttention with batch_first=True):
// project queries, keys and values to num_hiddens (PyTorch: embed_dim), split that width into H heads of
// Dh = num_hiddens / H, run scaled dot-product attention in every head at once, join the heads and
// project back. Self-attention passes the same X three times; cross-attention passes the decoder's
// states as queries and the encoder's as keys and values; causal self-attention adds Mask::causal().
// SelfAttention is the single-head case with its own output projection, the simplest of them.
#pragma once
#include "nn/attention.h"
#include "nn/kv_cache.h"

namespace qkv::nn {

class MultiHeadAttention : public Module {
 public:
  // d2l's signature: widths of keys, queries and values may differ (cross-attention between models).
  MultiHeadAttention(int64_t key_size, int64_t query_size, int64_t value_size, int64_t num_hiddens,
                     int64_t num_heads, float dropout = 0, bool bias = false);
  // All widths equal to num_hiddens.
  MultiHeadAttention(int64_t num_hiddens, int64_t num_heads, float dropout = 0, bool bias = false);

  // queries [B,T,query_size], keys [B,S,key_size], values [B,S,value_size] -> [B,T,num_hiddens].
  // With a Mask::ragged (nn/ragged.h): queries [Nq,query_size], keys and values [Nk,...] -> [Nq,num_hiddens].
  Tensor forward(const Tensor& queries, const Tensor& keys, const Tensor& values, const Mask& mask = {});
  // Causal self-attention of new tokens x [B,T,D] over everything `layer` of the cache holds and
  // themselves (nn/kv_cache.h): their keys and values are appended, then -> [B,T,num_hiddens]. The same
  // bits, row for row, as forward(x, x, x, Mask::causal()) over the whole sequence. Inference only.
  Tensor forward_cached(const Tensor& x, KVCache& cache, int64_t layer, const CacheStep& step);
  // Cross-attention of new decoder states queries [B,T,query_size] over the encoder's output memory
  // [B,S,key_size]: memory's keys and values are projected at the first step and kept in `layer` of the
  // cache while the same memory tensor comes back (KVCache::cross), only the queries are new. The same bits
  // as forward(queries, memory, memory, mask). Inference only.
  Tensor forward_cross_cached(const Tensor& queries, const Tensor& memory, const Mask& mask, KVCache& cache,
                              int64_t layer);

  std::shared_ptr<Linear> W_q, W_k, W_v, W_o;
  Tensor attention_weights;  // [B,H,T,S] from the last forward, one map per head
  // PyTorch's need_weights: false leaves attention_weights undefined, so training does not pay for the
  // maps and the flash kernel may run (kernels::choose_attention_kernel). Pictures and explorers keep it.
  bool need_weights = true;
  int64_t num_heads, num_hiddens;
  // Rotary positions (autograd's rope) on the projected queries and keys when > 0 (BlockConfig::rope sets
  // it on self-attention); forward turns row t as position t. rotate() is that turn at pos_offset + t,
  // for a key/value cache; x [B,T,num_hiddens], returned as is when rope_base is 0.
  float rope_base = 0;
  Tensor rotate(const Tensor& x, int64_t pos_offset) const;

 private:
  // queries projected, attended over projected keys k and values v [B,S,D], then W_o: [B,T,num_hiddens]
  Tensor attend(const Tensor& queries, const Tensor& k, const Tensor& v, const Mask& mask);
  AttentionOptions options(const Mask& mask, const Tensor& q, const Tensor& k);  // for the kernel
  float dropout_;
};

// The reshapes between the projections' layout and one matrix per head (docs/06), for the composed form
// of multi-head attention that MultiHeadAttention computes fused (autograd's multi_head_attention):
Tensor split_heads(const Tensor& x, int64_t H);  // [B,T,H*Dh] -> [B,H,T,Dh] (a copy)
Tensor merge_heads(const Tensor& x);             // [B,H,T,Dh] -> [B,T,H*Dh] (a copy)

// Single-head self-attention: Q, K, V = X W_q, X W_k, X W_v of width d_head, then W_o back to d_model.
class SelfAttention : public Module {
 public:
  SelfAttention(int64_t d_model, int64_t d_head, float dropout = 0);
  Tensor forward(const Tensor& x, const Mask& mask = {});  // [B,T,d_model] -> [B,T,d_model]
  std::shared_ptr<Linear> W_q, W_k, W_v, W_o;
  Tensor attention_weights;  // [B,T,T]

 private:
  float dropout_;
};

}  // namespace qkv::nn
