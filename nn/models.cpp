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

// What only GPT builds: refused by the encoder-decoder, which has sinusoidal positions and its own head.
static void refuse_gpt_only(const TransformerConfig& c, const char* op) {
  if (c.block.rope || c.tie_embeddings || c.gpt2_init)
    fail(op, "rope, tie_embeddings and gpt2_init are GPT's options, got rope " +
                 std::to_string(c.block.rope) + ", tie_embeddings " + std::to_string(c.tie_embeddings) +
                 ", gpt2_init " + std::to_string(c.gpt2_init));
}

// GPT-2's init (nanoGPT's _init_weights): matrices ~ N(0, 0.02), the projections that add into the
// residual stream ~ N(0, 0.02 / sqrt(2 L)) so the sum of 2 L of them keeps its size, biases 0; norms keep 1.
static void gpt2_init(Module& model, int64_t num_blks) {
  const auto ends_with = [](const std::string& s, const std::string& end) {
    return s.size() >= end.size() && s.compare(s.size() - end.size(), end.size(), end) == 0;
  };
  for (auto& [name, p] : model.named_parameters()) {
    float* w = p.mutable_data();
    if (p.dim() < 2) {
      if (ends_with(name, ".bias"))  // LayerNorm's beta starts at 0 already
        for (int64_t i = 0; i < p.numel(); ++i) w[i] = 0;
      continue;
    }
    const bool residual = ends_with(name, "attention.W_o.weight") || ends_with(name, "ffn.dense2.weight");
    const float sd = residual ? 0.02f / std::sqrt(2.0f * float(num_blks)) : 0.02f;
    const Tensor z = randn(p.shape());
    for (int64_t i = 0; i < p.numel(); ++i) w[i] = sd * z.data()[i];
  }
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

// The config with the block's activation filled in: ReLU unless chosen (d2l's encoder-decoder).
static TransformerConfig with_activation(TransformerConfig c, Activation unset) {
  if (!c.block.activation) c.block.activation = unset;
  return c;
}

EncoderDecoder::EncoderDecoder(const TransformerConfig& c) : config(with_activation(c, Activation::relu)) {
  validate(c);
  refuse_gpt_only(c, "EncoderDecoder");
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

// GELU unless chosen, as GPT-2 (and docs/08) have it.
GPT::GPT(const TransformerConfig& c) : config(with_activation(c, Activation::gelu)) {
  validate(c);
  BlockConfig block = config.block;
  block.norm_first = true;
  tok_emb = register_module("tok_emb", std::make_shared<Embedding>(c.vocab_size, block.num_hiddens));
  if (block.rope)
    emb_dropout = register_module("emb_dropout", std::make_shared<Dropout>(block.dropout));
  else
    pos_emb = register_module(
        "pos_emb", std::make_shared<LearnedPositionalEncoding>(block.num_hiddens, block.dropout, c.max_len));
  for (int64_t i = 0; i < c.num_blks; ++i)
    blocks.push_back(
        register_module("blocks." + std::to_string(i), std::make_shared<TransformerEncoderBlock>(block)));
  if (block.norm == Norm::rms_norm)
    rms_f = register_module("ln_f", std::make_shared<RMSNorm>(block.num_hiddens));
  else
    ln_f = register_module("ln_f", std::make_shared<LayerNorm>(block.num_hiddens, 1e-5f, block.norm_bias));
  if (!c.tie_embeddings)
    head = register_module("head", std::make_shared<Linear>(block.num_hiddens, c.vocab_size, block.ffn_bias));
  if (c.gpt2_init) gpt2_init(*this, c.num_blks);
}

Tensor GPT::logits(const Tensor& x) const {
  const Tensor h = rms_f ? rms_f->forward(x) : ln_f->forward(x);  // [B,T,D]
  return head ? head->forward(h) : linear(h, tok_emb->weight);    // [B,T,V]
}

Tensor GPT::forward(const Tensor& ids) {
  check_ids("GPT", ids);
  if (!pos_emb && ids.size(1) > config.max_len)
    fail("GPT", "ids of shape " + to_string(ids.shape()) + " are longer than max_len " +
                    std::to_string(config.max_len));
  Tensor x = pos_emb ? pos_emb->forward(tok_emb->forward(ids))
                     : emb_dropout->forward(tok_emb->forward(ids));  // [B,T,D]
  for (auto& block : blocks) x = block->forward(x, Mask::causal());
  return logits(x);  // [B,T,V]
}

}  // namespace qkv::nn
