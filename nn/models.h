// Whole models built from the blocks:
//   TransformerEncoder / TransformerDecoder / EncoderDecoder  d2l's Transformer for sequence to sequence
//       (token embedding scaled by sqrt(D), sinusoidal positions, post-norm blocks by default; with
//       pre-norm blocks each stack ends in a LayerNorm, as PyTorch's nn.Transformer and GPT-2 do)
//   GPT  a decoder-only causal language model (learned positions, pre-norm, GELU, a final LayerNorm)
// Token ids are integer-valued float tensors: src [B,S], tgt [B,T]; logits come out as [B,T,V]. The
// encoder-decoder also takes ragged batches (nn/ragged.h): only real tokens are computed, logits [N,V].
#pragma once
#include <vector>

#include "nn/positional_encoding.h"
#include "nn/ragged.h"
#include "nn/transformer.h"

namespace qkv::nn {

struct TransformerConfig {
  int64_t vocab_size = 13;  // V
  BlockConfig block;        // D, FFN width, H, dropout, norm placement, activation
  int64_t num_blks = 2;     // blocks in each stack (PyTorch: num_encoder_layers / num_decoder_layers)
  int64_t max_len = 1000;   // longest sequence the positional encoding covers
  // GPT only (EncoderDecoder refuses them, and block.rope):
  bool tie_embeddings = false;  // the output layer reads tok_emb's weight (GPT-2; no head of its own)
  bool gpt2_init = false;       // every matrix ~ N(0, 0.02), residual projections (attention W_o, FFN
                                // dense2) ~ N(0, 0.02 / sqrt(2 num_blks)), biases 0 (GPT-2, nanoGPT)
};

// Throws "TransformerConfig: <field> must be ..., got ..." unless every field is usable: sizes >= 1,
// num_hiddens a multiple of num_heads, dropout in [0, 1). Every model's constructor calls it.
void validate(const TransformerConfig& config);

class TransformerEncoder : public Module {
 public:
  explicit TransformerEncoder(const TransformerConfig& config);
  Tensor forward(const Tensor& src, const Mask& mask);  // src [B,S] -> [B,S,D]
  Tensor forward(const RaggedBatch& src);               // ragged src, N tokens -> [N,D]
  std::shared_ptr<Embedding> embedding;
  std::shared_ptr<PositionalEncoding> pos_encoding;
  std::vector<std::shared_ptr<TransformerEncoderBlock>> blocks;
  std::shared_ptr<LayerNorm> ln_f;  // pre-norm only: the blocks leave their sum unnormalised
};

class TransformerDecoder : public Module {
 public:
  explicit TransformerDecoder(const TransformerConfig& config);
  // tgt [B,T], enc_outputs [B,S,D] -> logits [B,T,V]
  Tensor forward(const Tensor& tgt, const Tensor& enc_outputs, const Mask& enc_mask);
  // ragged tgt (N tokens), enc_outputs [Ns,D] of the ragged source split at src_splits -> logits [N,V]
  Tensor forward(const RaggedBatch& tgt, const Tensor& enc_outputs, const std::vector<int64_t>& src_splits);
  // With a key/value cache (nn/kv_cache.h, models_cached.cpp): tgt [B,T] the new target tokens (counts[b]
  // real, the rest padding) -> logits [B,T,V], bitwise those of the forward above over the whole prefix.
  // Runs under NoGrad.
  Tensor forward(const Tensor& tgt, const Tensor& enc_outputs, const Mask& enc_mask, KVCache& cache,
                 const std::vector<int64_t>& counts = {});
  KVCache make_cache(int64_t batch) const;  // empty, for batch sequences of up to max_len tokens
  std::shared_ptr<Embedding> embedding;
  std::shared_ptr<PositionalEncoding> pos_encoding;
  std::vector<std::shared_ptr<TransformerDecoderBlock>> blocks;
  std::shared_ptr<LayerNorm> ln_f;  // pre-norm only
  std::shared_ptr<Linear> dense;    // D -> V
};

class EncoderDecoder : public Module {
 public:
  explicit EncoderDecoder(const TransformerConfig& config);
  // src [B,S] with src_valid_lens [B] (padding after them), tgt_in [B,T] (bos + target shifted right)
  // -> logits [B,T,V]
  Tensor forward(const Tensor& src, const Tensor& src_valid_lens, const Tensor& tgt_in);
  // The same model on ragged batches: each source without its padding, each target only up to where the
  // loss reads it -> logits [N,V] for tgt_in's N tokens. The same numbers for those tokens as the padded
  // forward, for about two thirds of its work on the toy task.
  Tensor forward(const RaggedBatch& src, const RaggedBatch& tgt_in);
  std::shared_ptr<TransformerEncoder> encoder;
  std::shared_ptr<TransformerDecoder> decoder;
  TransformerConfig config;
};

class GPT : public Module {
 public:
  explicit GPT(const TransformerConfig& config);  // uses max_len as the context length
  Tensor forward(const Tensor& ids);              // ids [B,T] -> logits [B,T,V]
  // With a key/value cache (nn/kv_cache.h, models_cached.cpp): ids [B,T] the new tokens of each sequence
  // (counts[b] real, the rest padding) -> logits [B,T,V], bitwise those of forward over the whole prefix.
  // A sequence may not pass max_len tokens (a named error). Runs under NoGrad.
  Tensor forward(const Tensor& ids, KVCache& cache, const std::vector<int64_t>& counts = {});
  KVCache make_cache(int64_t batch) const;  // empty, for batch sequences of up to max_len tokens
  // The last stage of forward: x [B,T,D] from the blocks -> logits [B,T,V] (final norm, output layer).
  Tensor logits(const Tensor& x) const;
  std::shared_ptr<Embedding> tok_emb;
  std::shared_ptr<LearnedPositionalEncoding> pos_emb;  // null with block.rope (positions turn q and k)
  std::shared_ptr<Dropout> emb_dropout;                // block.rope only: what pos_emb's dropout does
  std::vector<std::shared_ptr<TransformerEncoderBlock>> blocks;  // pre-norm, causal
  std::shared_ptr<LayerNorm> ln_f;                               // block.norm layer_norm (else null)
  std::shared_ptr<RMSNorm> rms_f;  // block.norm rms_norm (else null), saved as "ln_f" too
  std::shared_ptr<Linear> head;    // D -> V; null with tie_embeddings (tok_emb's weight serves)
  TransformerConfig config;
};

}  // namespace qkv::nn
