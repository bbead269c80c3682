// Transformer blocks and models: gradcheck of each block, model shapes, causality of the decoder-only
// model and of the encoder-decoder's decoder, and padding invariance of the encoder.
#include "autograd/gradcheck.h"
#include "helpers.h"
#include "nn/models.h"

using namespace qkv;
using namespace qkv::nn;
using Catch::Contains;
using Inputs = std::vector<Tensor>;

namespace {
BlockConfig tiny_block(bool norm_first) {
  BlockConfig b;
  b.num_hiddens = 8;
  b.ffn_num_hiddens = 12;
  b.num_heads = 2;
  b.dropout = 0.0f;
  b.norm_first = norm_first;
  return b;
}
TransformerConfig tiny_model() { return TransformerConfig{7, tiny_block(false), 1, 16}; }
}  // namespace

TEST_CASE("transformer: gradcheck of encoder and decoder blocks, post-norm and pre-norm") {
  manual_seed(0);
  for (bool norm_first : {false, true}) {
    INFO("norm_first=" << norm_first);
    TransformerEncoderBlock enc(tiny_block(norm_first));
    Tensor x = randn({2, 4, 8}).set_requires_grad();
    const Mask mask = Mask::from_valid_lens(tensor({4, 2}));
    REQUIRE_NOTHROW(gradcheck([&](const Inputs& v) { return enc.forward(v[0], mask); }, {x}));
    TransformerDecoderBlock dec(tiny_block(norm_first));
    Tensor y = randn({2, 3, 8}).set_requires_grad();
    REQUIRE_NOTHROW(gradcheck([&](const Inputs& v) { return dec.forward(v[0], v[1], mask); }, {y, x}));
  }
}

TEST_CASE("transformer: gradcheck of a whole encoder-decoder through its parameters") {
  manual_seed(1);
  EncoderDecoder model(tiny_model());
  const Tensor src = tensor({3, 4, 5, 0, 6, 3, 0, 0}, {2, 4}), lens = tensor({3, 2});
  const Tensor tgt_in = tensor({1, 5, 4, 1, 3, 6}, {2, 3});
  // the parameters of the decoder's last layers and the encoder's embedding (all of them is slow)
  std::vector<Tensor> some = {model.decoder->dense->weight, model.encoder->embedding->weight,
                              model.decoder->blocks[0]->attention2->W_k->weight};
  REQUIRE_NOTHROW(gradcheck([&](const Inputs&) { return model.forward(src, lens, tgt_in); }, some));
}

TEST_CASE("transformer: model shapes and named errors") {
  manual_seed(2);
  EncoderDecoder model(tiny_model());
  const Tensor logits = model.forward(zeros({3, 5}), tensor({5, 2, 1}), zeros({3, 4}));
  CHECK(logits.shape() == Shape{3, 4, 7});
  GPT gpt(TransformerConfig{11, tiny_block(true), 2, 6});
  CHECK(gpt.forward(zeros({2, 6})).shape() == Shape{2, 6, 11});
  CHECK_THAT(ERROR_OF(gpt.forward(zeros({2, 7}))), Contains("max_len=6") && Contains("[2,7,8]"));
  CHECK_THAT(ERROR_OF(gpt.forward(zeros({2, 3, 1}))), Contains("GPT") && Contains("[2,3,1]"));
  CHECK_THAT(ERROR_OF(gpt.forward(full({1, 2}, 11))), Contains("index_select") && Contains("11"));
}

TEST_CASE("transformer: GPT's FFN is GELU and the encoder-decoder's ReLU unless the config chooses") {
  manual_seed(3);
  const TransformerConfig unset{11, tiny_block(true), 1, 6};
  REQUIRE(!unset.block.activation);
  GPT gpt(unset);
  EncoderDecoder seq2seq(unset);
  CHECK(gpt.config.block.activation == Activation::gelu);  // stored filled in, as checkpoints write it
  CHECK(seq2seq.config.block.activation == Activation::relu);
  // The FFN really computes GELU: on an input with negative pre-activations the two differ.
  const PositionWiseFFN& ffn = *gpt.blocks[0]->ffn;
  CHECK(ffn.activation() == Activation::gelu);
  CHECK(seq2seq.decoder->blocks[0]->ffn->activation() == Activation::relu);
  const Tensor x = randn({1, 3, 8}), h = ffn.dense1->forward(x);
  CHECK(testing::bitwise_equal(ffn.forward(x), ffn.dense2->forward(gelu(h))));
  CHECK(!testing::bitwise_equal(ffn.forward(x), ffn.dense2->forward(relu(h))));
  TransformerConfig chosen = unset;
  chosen.block.activation = Activation::relu;
  CHECK(GPT(chosen).blocks[0]->ffn->activation() == Activation::relu);
}

TEST_CASE("transformer: the decoders are causal, the encoder ignores padding") {
  manual_seed(3);
  GPT gpt(TransformerConfig{11, tiny_block(true), 2, 6});
  gpt.eval();
  const Tensor a = tensor({1, 2, 3, 4, 5, 6}, {1, 6}), b = tensor({1, 2, 3, 4, 9, 10}, {1, 6});
  CHECK(testing::bitwise_equal(narrow(gpt.forward(a), 1, 0, 4), narrow(gpt.forward(b), 1, 0, 4)));

  EncoderDecoder model(tiny_model());
  model.eval();
  const Tensor src = tensor({3, 4, 5, 0, 0}, {1, 5}), src_other_pad = tensor({3, 4, 5, 6, 2}, {1, 5});
  const Tensor lens = tensor({3});
  const Tensor t1 = tensor({1, 4, 5, 6}, {1, 4}), t2 = tensor({1, 4, 2, 2}, {1, 4});
  const Tensor out = model.forward(src, lens, t1);
  CHECK(testing::bitwise_equal(out, model.forward(src_other_pad, lens, t1)));  // padding ignored
  CHECK(testing::bitwise_equal(narrow(out, 1, 0, 2), narrow(model.forward(src, lens, t2), 1, 0, 2)));
}
