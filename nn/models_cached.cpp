// The models' forwards with a key/value cache (declared in models.h, the cache in kv_cache.h): the same
// modules as their full forwards in models.cpp, called on the new tokens only, row for row the same
// operations, so the logits come out bitwise equal (tests/test_kv_cache.cpp).
#include <cmath>

#include "nn/models.h"
#include "tensor/checks.h"

namespace qkv::nn {

static void check_new_ids(const char* op, const Tensor& ids, const KVCache& cache) {
  if (ids.dim() != 2 || ids.size(0) != cache.batch() || ids.size(1) < 1)
    fail(op, "new token ids must be [B,T] with B=" + std::to_string(cache.batch()) +
                 " (the cache's batch) and T >= 1, got " + to_string(ids.shape()));
}

// [B,T,D] + the table's rows at each new token's position: rows [B*T,D] as a ragged batch passes them.
template <class Encoding>
static Tensor add_positions(const Encoding& encoding, const Tensor& x, const CacheStep& step) {
  const int64_t B = x.size(0), T = x.size(1), D = x.size(2);
  return reshape(encoding.forward(reshape(x, {B * T, D}), step.positions), {B, T, D});
}

KVCache GPT::make_cache(int64_t batch) const {
  return KVCache(int64_t(blocks.size()), batch, config.max_len, config.block.num_hiddens);
}

Tensor GPT::forward(const Tensor& ids, KVCache& cache, const std::vector<int64_t>& counts) {
  NoGrad no_grad;
  check_new_ids("GPT", ids, cache);
  const CacheStep step = cache.begin_step("GPT", ids.size(1), counts);
  const Tensor tokens = tok_emb->forward(ids);  // [B,T,D]
  // Learned positions at each token's place; with rotary positions attention turns q and k instead.
  Tensor x = pos_emb ? add_positions(*pos_emb, tokens, step) : emb_dropout->forward(tokens);
  for (size_t l = 0; l < blocks.size(); ++l) x = blocks[l]->forward_cached(x, cache, int64_t(l), step);
  cache.end_step(step);
  return logits(x);  // [B,T,V]
}

KVCache TransformerDecoder::make_cache(int64_t batch) const {
  return KVCache(int64_t(blocks.size()), batch, pos_encoding->P.size(0), embedding->weight.size(1));
}

Tensor TransformerDecoder::forward(const Tensor& tgt, const Tensor& enc_outputs, const Mask& enc_mask,
                                   KVCache& cache, const std::vector<int64_t>& counts) {
  NoGrad no_grad;
  check_new_ids("TransformerDecoder", tgt, cache);
  const CacheStep step = cache.begin_step("TransformerDecoder", tgt.size(1), counts);
  // Token vectors scaled by sqrt(D), as models.cpp's scaled_embedding, then the sinusoids: [B,T,D]
  const Tensor tokens = embedding->forward(tgt) * std::sqrt(float(embedding->weight.size(1)));
  Tensor x = add_positions(*pos_encoding, tokens, step);
  for (size_t l = 0; l < blocks.size(); ++l)
    x = blocks[l]->forward_cached(x, enc_outputs, enc_mask, cache, int64_t(l), step);
  cache.end_step(step);
  return dense->forward(ln_f ? ln_f->forward(x) : x);  // [B,T,V]
}

}  // namespace qkv::nn
