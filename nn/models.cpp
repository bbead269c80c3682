// Whole models (see models.h).
#include "nn/models.h"

#include <cmath>

#include "tensor/checks.h"

namespace qkv::nn {

void validate(const TransformerConfig& c) {
  check::positive("TransformerConfig", "vocab_size", c.vocab_size);
  check::positive("TransformerConfig", "num_blks", c.num_blks);
  check::positive("TransformerConfig", "max_len", c.max_len);
  validate(c.block, "TransformerConfig");
}

static void check_ids(const char* op, const Tensor& ids) {
  if (ids.dim() != 2) fail(op, "token ids must be [B,T], got " + to_string(ids.shape()));
}

// Token vectors scaled by sqrt(D), as d2l and "Attention Is All You Need" do: [B,T] -> [B,T,D]. With
// Embedding's N(0, 1) start the tokens then outweigh the positional encoding's entries (size ~1) by about
// sqrt(D); the factor only evens them out when embeddings start at 1/sqrt(D) (docs/07 says more).
static Tensor scaled_embedding(const Embedding& emb, const Tensor& ids) {
  return emb.forward(ids) * std::sqrt(float(emb.weight.size(1)));
}

TransformerEncoder::TransformerEncoder(const TransformerConfig& c) {
  validate(c);
  embedding = register_module("embedding", std::make_shared<Embedding>(c.vocab_size, c.block.num_hiddens));
  pos_encoding = register_module(
      "pos_encoding", std::make_shared<PositionalEncoding>(c.block.num_hiddens, c.block.dropout, c.max_len));
  for (int64_t i = 0; i < c.num_blks; ++i)
    blocks.push_back(
        register_module("blocks." + std::to_string(i), std::make_shared<TransformerEncoderBlock>(c.block)));
  if (c.block.norm_first) ln_f = register_module("ln_f", std::make_shared<LayerNorm>(c.block.num_hiddens));
}

// The blocks, then the final norm (pre-norm): x [B,S,D], or [N,D] rows of a ragged batch.
static Tensor encode(const TransformerEncoder& e, Tensor x, const Mask& mask) {
  for (auto& block : e.blocks) x = block->forward(x, mask);
  return e.ln_f ? e.ln_f->forward(x) : x;
}

Tensor TransformerEncoder::forward(const Tensor& src, const Mask& mask) {
  check_ids("TransformerEncoder", src);
  return encode(*this, pos_encoding->forward(scaled_embedding(*embedding, src)), mask);  // [B,S,D]
}

Tensor TransformerEncoder::forward(const RaggedBatch& src) {
  const Tensor x = pos_encoding->forward(scaled_embedding(*embedding, src.ids), src.positions);  // [N,D]
  return encode(*this, x, Mask::ragged(src.splits, src.splits));
}

TransformerDecoder::TransformerDecoder(const TransformerConfig& c) {
  validate(c);
  embedding = register_module("embedding", std::make_shared<Embedding>(c.vocab_size, c.block.num_hiddens));
  pos_encoding = register_module(
      "pos_encoding", std::make_shared<PositionalEncoding>(c.block.num_hiddens, c.block.dropout, c.max_len));
  for (int64_t i = 0; i < c.num_blks; ++i)
    blocks.push_back(
        register_module("blocks." + std::to_string(i), std::make_shared<TransformerDecoderBlock>(c.block)));

  if (c.block.norm_first) ln_f = register_module("ln_f", std::make_shared<LayerNorm>(c.block.num_hiddens));
  dense = register_module("dense", std::make_shared<Linear>(c.block.num_hiddens, c.vocab_size));
}

// The blocks, the final norm (pre-norm) and the output layer: x [B,T,D] -> [B,T,V], or ragged [N,D] -> [N,V].
static Tensor decode(const TransformerDecoder& d, Tensor x, const Tensor& enc_outputs, const Mask& enc_mask,
                     const Mask& self_mask) {
  for (auto& block : d.blocks) x = block->forward(x, enc_outputs, enc_mask, self_mask);
  return d.dense->forward(d.ln_f ? d.ln_f->forward(x) : x);
}

Tensor TransformerDecoder::forward(const Tensor& tgt, const Tensor& enc_outputs, const Mask& enc_mask) {
  check_ids("TransformerDecoder", tgt);
  return decode(*this, pos_encoding->forward(scaled_embedding(*embedding, tgt)), enc_outputs, enc_mask,
                Mask::causal());
}

Tensor TransformerDecoder::forward(const RaggedBatch& tgt, const Tensor& enc_outputs,
                                   const std::vector<int64_t>& src_splits) {
  const Tensor x = pos_encoding->forward(scaled_embedding(*embedding, tgt.ids), tgt.positions);  // [N,D]
  return decode(*this, x, enc_outputs, Mask::ragged(tgt.splits, src_splits),
                Mask::ragged(tgt.splits, tgt.splits) & Mask::causal());
}

EncoderDecoder::EncoderDecoder(const TransformerConfig& c) : config(c) {
  validate(c);
  encoder = register_module("encoder", std::make_shared<TransformerEncoder>(c));
  decoder = register_module("decoder", std::make_shared<TransformerDecoder>(c));
}

Tensor EncoderDecoder::forward(const Tensor& src, const Tensor& src_valid_lens, const Tensor& tgt_in) {
  // The source's padding is masked in the encoder's self-attention and in the decoder's cross-attention.
  const Mask src_mask = Mask::from_valid_lens(src_valid_lens);
  const Tensor memory = encoder->forward(src, src_mask);  // [B,S,D]
  return decoder->forward(tgt_in, memory, src_mask);      // [B,T,V]
}

Tensor EncoderDecoder::forward(const RaggedBatch& src, const RaggedBatch& tgt_in) {
  if (src.batch_size() != tgt_in.batch_size())
    fail("EncoderDecoder", "source and target batches differ: " + std::to_string(src.batch_size()) + " and " +
                               std::to_string(tgt_in.batch_size()) + " sequences");
  return decoder->forward(tgt_in, encoder->forward(src), src.splits);  // [N,V]
}

GPT::GPT(const TransformerConfig& c) : config(c) {
  validate(c);
  BlockConfig block = c.block;
  block.norm_first = true;
  tok_emb = register_module("tok_emb", std::make_shared<Embedding>(c.vocab_size, block.num_hiddens));
  pos_emb = register_module(
      "pos_emb", std::make_shared<LearnedPositionalEncoding>(block.num_hiddens, block.dropout, c.max_len));
  for (int64_t i = 0; i < c.num_blks; ++i)
    blocks.push_back(
        register_module("blocks." + std::to_string(i), std::make_shared<TransformerEncoderBlock>(block)));
  ln_f = register_module("ln_f", std::make_shared<LayerNorm>(block.num_hiddens));
  head = register_module("head", std::make_shared<Linear>(block.num_hiddens, c.vocab_size));
}

Tensor GPT::forward(const Tensor& ids) {
  check_ids("GPT", ids);
  Tensor x = pos_emb->forward(tok_emb->forward(ids));  // [B,T,D]
  for (auto& block : blocks) x = block->forward(x, Mask::causal());
  return head->forward(ln_f->forward(x));  // [B,T,V]
}

}  // namespace qkv::nn
