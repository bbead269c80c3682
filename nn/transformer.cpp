// Transformer blocks (see transformer.h).
#include "nn/transformer.h"

#include "tensor/checks.h"

namespace qkv::nn {

void validate(const BlockConfig& c, const char* op) {
  check::positive(op, "num_hiddens", c.num_hiddens);
  check::positive(op, "ffn_num_hiddens", c.ffn_num_hiddens);
  check::positive(op, "num_heads", c.num_heads);
  check::multiple_of(op, "num_hiddens", c.num_hiddens, "num_heads", c.num_heads);
  check::fraction(op, "dropout", c.dropout);
  if (c.activation != Activation::relu && c.activation != Activation::gelu)
    fail(op, "activation must be relu or gelu, got " + std::to_string(int(c.activation)));
}

PositionWiseFFN::PositionWiseFFN(int64_t num_inputs, int64_t ffn_num_hiddens, int64_t num_outputs,
                                 Activation activation)
    : activation_(activation) {
  dense1 = register_module("dense1", std::make_shared<Linear>(num_inputs, ffn_num_hiddens));
  dense2 = register_module("dense2", std::make_shared<Linear>(ffn_num_hiddens, num_outputs));
}

Tensor PositionWiseFFN::forward(const Tensor& x) const {
  const Tensor h = dense1->forward(x);                                          // [B,T,in] -> [B,T,F]
  return dense2->forward(activation_ == Activation::relu ? relu(h) : gelu(h));  // -> [B,T,out]
}

AddNorm::AddNorm(int64_t normalized_shape, float p) {
  dropout = register_module("dropout", std::make_shared<Dropout>(p));
  ln = register_module("ln", std::make_shared<LayerNorm>(normalized_shape));
}

Tensor AddNorm::forward(const Tensor& x, const Tensor& y) const {
  return ln->forward(x + dropout->forward(y));
}

// One residual sublayer in either arrangement:
//   post-norm  LayerNorm(x + dropout(f(x)))      pre-norm  x + dropout(f(LayerNorm(x)))
template <class Sublayer>
static Tensor residual(const AddNorm& addnorm, bool norm_first, const Tensor& x, Sublayer f) {
  if (norm_first) return x + addnorm.dropout->forward(f(addnorm.ln->forward(x)));
  return addnorm.forward(x, f(x));
}

static std::shared_ptr<MultiHeadAttention> make_attention(const BlockConfig& c) {
  return std::make_shared<MultiHeadAttention>(c.num_hiddens, c.num_heads, c.dropout, c.bias);
}

TransformerEncoderBlock::TransformerEncoderBlock(const BlockConfig& c) : norm_first_(c.norm_first) {
  validate(c, "TransformerEncoderBlock");
  attention = register_module("attention", make_attention(c));
  addnorm1 = register_module("addnorm1", std::make_shared<AddNorm>(c.num_hiddens, c.dropout));
  ffn = register_module("ffn", std::make_shared<PositionWiseFFN>(c.num_hiddens, c.ffn_num_hiddens,
                                                                 c.num_hiddens, c.activation));
  addnorm2 = register_module("addnorm2", std::make_shared<AddNorm>(c.num_hiddens, c.dropout));
}

Tensor TransformerEncoderBlock::forward(const Tensor& x, const Mask& mask) {
  // self-attention: queries, keys and values are all x [B,S,D]
  const Tensor y =
      residual(*addnorm1, norm_first_, x, [&](const Tensor& h) { return attention->forward(h, h, h, mask); });
  return residual(*addnorm2, norm_first_, y, [&](const Tensor& h) { return ffn->forward(h); });
}

TransformerDecoderBlock::TransformerDecoderBlock(const BlockConfig& c) : norm_first_(c.norm_first) {
  validate(c, "TransformerDecoderBlock");
  attention1 = register_module("attention1", make_attention(c));
  addnorm1 = register_module("addnorm1", std::make_shared<AddNorm>(c.num_hiddens, c.dropout));
  attention2 = register_module("attention2", make_attention(c));
  addnorm2 = register_module("addnorm2", std::make_shared<AddNorm>(c.num_hiddens, c.dropout));
  ffn = register_module("ffn", std::make_shared<PositionWiseFFN>(c.num_hiddens, c.ffn_num_hiddens,
                                                                 c.num_hiddens, c.activation));
  addnorm3 = register_module("addnorm3", std::make_shared<AddNorm>(c.num_hiddens, c.dropout));
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

}  // namespace qkv::nn
