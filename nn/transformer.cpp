// Transformer blocks (see transformer.h).
#include "nn/transformer.h"

#include <cmath>

#include "tensor/checks.h"

namespace qkv::nn {

void validate(const BlockConfig& c, const char* op) {
  check::positive(op, "num_hiddens", c.num_hiddens);
  check::positive(op, "ffn_num_hiddens", c.ffn_num_hiddens);
  check::positive(op, "num_heads", c.num_heads);
  check::multiple_of(op, "num_hiddens", c.num_hiddens, "num_heads", c.num_heads);
  check::fraction(op, "dropout", c.dropout);
  if (c.norm != Norm::layer_norm && c.norm != Norm::rms_norm)
    fail(op, "norm must be layer_norm or rms_norm, got " + std::to_string(int(c.norm)));
  if (c.ffn != Ffn::mlp && c.ffn != Ffn::swiglu)
    fail(op, "ffn must be mlp or swiglu, got " + std::to_string(int(c.ffn)));
  if (c.rope && (c.num_hiddens / c.num_heads) % 2 != 0)
    fail(op, "rope needs an even head width num_hiddens / num_heads, got " +
                 std::to_string(c.num_hiddens / c.num_heads));
  if (c.rope && !(c.rope_base > 1 && std::isfinite(c.rope_base)))
    fail(op, "rope_base must be a finite number > 1, got " + std::to_string(c.rope_base));
  if (c.activation && *c.activation != Activation::relu && *c.activation != Activation::gelu)
    fail(op, "activation must be relu or gelu, got " + std::to_string(int(*c.activation)));
}

PositionWiseFFN::PositionWiseFFN(int64_t num_inputs, int64_t ffn_num_hiddens, int64_t num_outputs,
                                 Activation activation, Ffn kind, bool bias)
    : activation_(activation) {
  dense1 = register_module("dense1", std::make_shared<Linear>(num_inputs, ffn_num_hiddens, bias));
  dense2 = register_module("dense2", std::make_shared<Linear>(ffn_num_hiddens, num_outputs, bias));
  if (kind == Ffn::swiglu)
    dense3 = register_module("dense3", std::make_shared<Linear>(num_inputs, ffn_num_hiddens, bias));
}

Tensor PositionWiseFFN::forward(const Tensor& x) const {
  const Tensor h = dense1->forward(x);                                          // [B,T,in] -> [B,T,F]
  if (dense3) return dense2->forward(swiglu(h, dense3->forward(x)));            // W2 (silu(W1 x) * W3 x)
  return dense2->forward(activation_ == Activation::relu ? relu(h) : gelu(h));  // -> [B,T,out]
}

AddNorm::AddNorm(int64_t normalized_shape, float p, Norm kind, bool bias) {
  dropout = register_module("dropout", std::make_shared<Dropout>(p));
  if (kind == Norm::rms_norm)
    rms = register_module("ln", std::make_shared<RMSNorm>(normalized_shape));
  else
    ln = register_module("ln", std::make_shared<LayerNorm>(normalized_shape, 1e-5f, bias));
}

Tensor AddNorm::norm(const Tensor& x) const { return rms ? rms->forward(x) : ln->forward(x); }

Tensor AddNorm::forward(const Tensor& x, const Tensor& y) const { return norm(x + dropout->forward(y)); }

// One residual sublayer in either arrangement:
//   post-norm  LayerNorm(x + dropout(f(x)))      pre-norm  x + dropout(f(LayerNorm(x)))
template <class Sublayer>
static Tensor residual(const AddNorm& addnorm, bool norm_first, const Tensor& x, Sublayer f) {
  if (norm_first) return x + addnorm.dropout->forward(f(addnorm.norm(x)));
  return addnorm.forward(x, f(x));
}

// self: rotary positions when the config asks (never on cross-attention: its keys are another sequence).
static std::shared_ptr<MultiHeadAttention> make_attention(const BlockConfig& c, bool self = true) {
  auto attention = std::make_shared<MultiHeadAttention>(c.num_hiddens, c.num_heads, c.dropout, c.bias);
  if (self && c.rope) attention->rope_base = c.rope_base;
  return attention;
}

static std::shared_ptr<AddNorm> make_addnorm(const BlockConfig& c) {
  return std::make_shared<AddNorm>(c.num_hiddens, c.dropout, c.norm, c.norm_bias);
}

static std::shared_ptr<PositionWiseFFN> make_ffn(const BlockConfig& c) {
  return std::make_shared<PositionWiseFFN>(c.num_hiddens, c.ffn_num_hiddens, c.num_hiddens,
                                           c.activation.value_or(Activation::relu), c.ffn, c.ffn_bias);
}

TransformerEncoderBlock::TransformerEncoderBlock(const BlockConfig& c) : norm_first_(c.norm_first) {
  validate(c, "TransformerEncoderBlock");
  attention = register_module("attention", make_attention(c));
  addnorm1 = register_module("addnorm1", make_addnorm(c));
  ffn = register_module("ffn", make_ffn(c));
  addnorm2 = register_module("addnorm2", make_addnorm(c));
}

Tensor TransformerEncoderBlock::forward(const Tensor& x, const Mask& mask) {
  // self-attention: queries, keys and values are all x [B,S,D]
  const Tensor y =
      residual(*addnorm1, norm_first_, x, [&](const Tensor& h) { return attention->forward(h, h, h, mask); });
  return residual(*addnorm2, norm_first_, y, [&](const Tensor& h) { return ffn->forward(h); });
}

Tensor TransformerEncoderBlock::forward_cached(const Tensor& x, KVCache& cache, int64_t layer,
                                               const CacheStep& step) {
  const Tensor y = residual(*addnorm1, norm_first_, x, [&](const Tensor& h) {
    return attention->forward_cached(h, cache, layer, step);
  });
  return residual(*addnorm2, norm_first_, y, [&](const Tensor& h) { return ffn->forward(h); });
}

TransformerDecoderBlock::TransformerDecoderBlock(const BlockConfig& c) : norm_first_(c.norm_first) {
  validate(c, "TransformerDecoderBlock");
  attention1 = register_module("attention1", make_attention(c));
  addnorm1 = register_module("addnorm1", make_addnorm(c));
  attention2 = register_module("attention2", make_attention(c, /*self=*/false));
  addnorm2 = register_module("addnorm2", make_addnorm(c));
  ffn = register_module("ffn", make_ffn(c));
  addnorm3 = register_module("addnorm3", make_addnorm(c));
}

Tensor TransformerDecoderBlock::forward(const Tensor& x, const Tensor& enc_outputs, const Mask& enc_mask,
                                        const Mask& self_mask) {
  // 1. causal self-attention over the target [B,T,D]: position t sees targets <= t
  const Tensor y = residual(*addnorm1, norm_first_, x,
                            [&](const Tensor& h) { return attention1->forward(h, h, h, self_mask); });
  // 2. cross-attention: queries [B,T,D] from the decoder, keys and values [B,S,D] from the encoder
  const Tensor z = residual(*addnorm2, norm_first_, y, [&](const Tensor& h) {
    return attention2->forward(h, enc_outputs, enc_outputs, enc_mask);
  });
  return residual(*addnorm3, norm_first_, z, [&](const Tensor& h) { return ffn->forward(h); });
}

Tensor TransformerDecoderBlock::forward_cached(const Tensor& x, const Tensor& enc_outputs,
                                               const Mask& enc_mask, KVCache& cache, int64_t layer,
                                               const CacheStep& step) {
  const Tensor y = residual(*addnorm1, norm_first_, x, [&](const Tensor& h) {
    return attention1->forward_cached(h, cache, layer, step);
  });
  const Tensor z = residual(*addnorm2, norm_first_, y, [&](const Tensor& h) {
    return attention2->forward_cross_cached(h, enc_outputs, enc_mask, cache, layer);
  });
  return residual(*addnorm3, norm_first_, z, [&](const Tensor& h) { return ffn->forward(h); });
}

}  // namespace qkv::nn
