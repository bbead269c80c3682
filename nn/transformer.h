// Transformer blocks (d2l's chapter, and PyTorch's nn.TransformerEncoderLayer/DecoderLayer):
//   PositionWiseFFN  the same two-layer MLP at every position: dense2(act(dense1(x)))
//   AddNorm          post-norm residual: LayerNorm(x + dropout(y)) (d2l, the original Transformer)
//   encoder block    self-attention, then FFN, each wrapped in a residual with a norm
//   decoder block    causal self-attention, cross-attention over the encoder's output, FFN
// norm_first switches a block to pre-norm, x + dropout(sublayer(LayerNorm(x))), as GPT-2 and
// PyTorch's norm_first=True do: it trains more easily in deep stacks.
#pragma once
#include <optional>

#include "nn/multi_head_attention.h"

namespace qkv::nn {

enum class Activation { relu, gelu };
enum class Norm { layer_norm, rms_norm };  // of every sublayer (GPT-2: LayerNorm; LLaMA: RMSNorm)
enum class Ffn { mlp, swiglu };  // mlp: dense2(act(dense1 x)); swiglu: dense2(silu(dense1 x) * dense3 x)

class PositionWiseFFN : public Module {
 public:
  // kind swiglu ignores activation (its gate is silu) and adds dense3; bias on every layer or none.
  PositionWiseFFN(int64_t num_inputs, int64_t ffn_num_hiddens, int64_t num_outputs,
                  Activation activation = Activation::relu, Ffn kind = Ffn::mlp, bool bias = true);
  Tensor forward(const Tensor& x) const;  // [B,T,in] -> [B,T,out]
  Activation activation() const { return activation_; }
  std::shared_ptr<Linear> dense1, dense2;
  std::shared_ptr<Linear> dense3;  // swiglu only: W3, the "up" projection the gate multiplies

 private:
  Activation activation_;
};

class AddNorm : public Module {
 public:
  AddNorm(int64_t normalized_shape, float dropout, Norm kind = Norm::layer_norm, bool bias = true);
  Tensor forward(const Tensor& x, const Tensor& y) const;  // norm(x + dropout(y))
  Tensor norm(const Tensor& x) const;                      // ln or rms, whichever the block has
  std::shared_ptr<Dropout> dropout;
  std::shared_ptr<LayerNorm> ln;  // Norm::layer_norm (else null)
  std::shared_ptr<RMSNorm> rms;   // Norm::rms_norm (else null), saved under the same name "ln"
};

struct BlockConfig {
  int64_t num_hiddens = 64;       // D (PyTorch: d_model)
  int64_t ffn_num_hiddens = 128;  // PyTorch: dim_feedforward
  int64_t num_heads = 4;          // H (PyTorch: nhead)
  float dropout = 0.1f;
  bool bias = true;                          // on the attention projections
  bool norm_first = false;                   // pre-norm instead of post-norm
  // Of the FFN. Unset: the model's own choice, ReLU in d2l's encoder-decoder (and a bare block), GELU in
  // GPT, as GPT-2 has it. A model stores its config with the choice filled in.
  std::optional<Activation> activation = std::nullopt;
  // The modern options (issue 15); LLaMA's block is norm rms_norm, ffn swiglu, rope, no biases.
  Norm norm = Norm::layer_norm;
  Ffn ffn = Ffn::mlp;
  bool rope = false;        // rotary positions (nn/multi_head_attention.h) on self-attention's q and k
  float rope_base = 10000;  // theta_i = rope_base^(-2i/Dh)
  bool ffn_bias = true;     // on the FFN's layers
  bool norm_bias = true;    // LayerNorm's beta (RMSNorm has none)
};

// Throws "op: <field> must be ..., got ..." unless sizes are >= 1, num_hiddens is a multiple of
// num_heads and dropout is in [0, 1). The blocks' constructors call it.
void validate(const BlockConfig& config, const char* op = "BlockConfig");

class TransformerEncoderBlock : public Module {
 public:
  explicit TransformerEncoderBlock(const BlockConfig& config);
  // x [B,S,D]; mask usually from the source valid_lens (causal for a decoder-only model)
  Tensor forward(const Tensor& x, const Mask& mask = {});
  // Causal, with a key/value cache (nn/kv_cache.h): x [B,T,D] the new tokens -> [B,T,D]
  Tensor forward_cached(const Tensor& x, KVCache& cache, int64_t layer, const CacheStep& step);
  std::shared_ptr<MultiHeadAttention> attention;
  std::shared_ptr<PositionWiseFFN> ffn;
  std::shared_ptr<AddNorm> addnorm1, addnorm2;

 private:
  bool norm_first_;
};

class TransformerDecoderBlock : public Module {
 public:
  explicit TransformerDecoderBlock(const BlockConfig& config);
  // x [B,T,D] the target so far; enc_outputs [B,S,D]; enc_mask says which source keys are real;
  // self_mask is causal (with Mask::ragged for a ragged batch, whose x and enc_outputs are [N,D] rows).
  Tensor forward(const Tensor& x, const Tensor& enc_outputs, const Mask& enc_mask,
                 const Mask& self_mask = Mask::causal());
  // With a key/value cache for the self-attention (nn/kv_cache.h): x [B,T,D] the new target tokens
  Tensor forward_cached(const Tensor& x, const Tensor& enc_outputs, const Mask& enc_mask, KVCache& cache,
                        int64_t layer, const CacheStep& step);
  std::shared_ptr<MultiHeadAttention> attention1;  // masked (causal) self-attention
  std::shared_ptr<MultiHeadAttention>
      attention2;  // cross-attention: queries from x, keys/values from the encoder
  std::shared_ptr<PositionWiseFFN> ffn;
  std::shared_ptr<AddNorm> addnorm1, addnorm2, addnorm3;

 private:
  bool norm_first_;
};

}  // namespace qkv::nn
