// The modern block options of issue 15 in the layers and models: RMSNorm and SwiGLU sublayers, rotary
// positions inside attention, biases left out, GPT's tied embedding and GPT-2 init, and all of them in
// checkpoint metadata. Each against its formula composed from primitives, with gradcheck.
#include <cmath>

#include "autograd/gradcheck.h"
#include "helpers.h"
#include "nn/io/checkpoint_metadata.h"

using namespace qkv;
using namespace qkv::nn;
using Catch::Contains;
using Inputs = std::vector<Tensor>;

namespace {

TransformerConfig llama_config() {
  TransformerConfig c;
  c.vocab_size = 7;
  c.block = BlockConfig{8, 12, 2, 0.0f};
  c.block.norm = Norm::rms_norm;
  c.block.ffn = Ffn::swiglu;
  c.block.rope = true;
  c.block.bias = c.block.ffn_bias = c.block.norm_bias = false;
  c.num_blks = 2;
  c.max_len = 6;
  c.tie_embeddings = true;
  return c;
}

bool has_name(const Module& m, const std::string& name) {
  for (const auto& [n, t] : m.named_parameters())
    if (n == name) return true;
  return false;
}

}  // namespace

TEST_CASE("block options: an RMSNorm sublayer equals x / sqrt(mean(x^2) + eps) times gamma, saved as ln") {
  manual_seed(10);
  AddNorm addnorm(6, 0.0f, Norm::rms_norm);
  REQUIRE(addnorm.rms);
  CHECK_FALSE(addnorm.ln);
  CHECK(has_name(addnorm, "ln.weight"));
  CHECK_FALSE(has_name(addnorm, "ln.bias"));
  const Tensor x = randn({2, 3, 6}).set_requires_grad();
  addnorm.rms->weight.mutable_data()[1] = 2.5f;
  const Tensor ref = x * div(1.0f, sqrt(mean(x * x, -1, true) + 1e-5f)) * addnorm.rms->weight;
  CHECK_CLOSE(addnorm.norm(x).detach(), ref.detach());
  REQUIRE_NOTHROW(gradcheck([&](const Inputs& v) { return addnorm.norm(v[0]); }, {x, addnorm.rms->weight}));
  // LayerNorm without bias: gamma only
  LayerNorm ln(6, 1e-5f, false);
  CHECK_FALSE(ln.bias.defined());
  CHECK_CLOSE(ln.forward(x).detach(), layer_norm(x, ln.weight, Tensor()).detach());
  CHECK_THAT(ERROR_OF(RMSNorm(6).forward(ones({2, 5}))), Contains("RMSNorm") && Contains("[2,5]"));
  CHECK_THAT(ERROR_OF(RMSNorm(0)), Contains("RMSNorm") && Contains("normalized_shape"));
}

TEST_CASE("block options: a SwiGLU feed-forward equals W2 (silu(W1 x) times W3 x) from primitives") {
  manual_seed(11);
  PositionWiseFFN ffn(4, 6, 4, Activation::relu, Ffn::swiglu, /*bias=*/false);
  REQUIRE(ffn.dense3);
  CHECK(ffn.parameters().size() == 3);  // three matrices, no biases
  const Tensor x = randn({2, 3, 4}).set_requires_grad();
  const Tensor a = matmul(x, ffn.dense1->weight, false, true), b = matmul(x, ffn.dense3->weight, false, true);
  const Tensor ref = matmul(a * sigmoid(a) * b, ffn.dense2->weight, false, true);
  CHECK_CLOSE(ffn.forward(x).detach(), ref.detach());
  REQUIRE_NOTHROW(gradcheck([&](const Inputs& v) { return ffn.forward(v[0]); }, {x}));
  REQUIRE_NOTHROW(gradcheck([&](const Inputs&) { return ffn.forward(x.detach()); }, ffn.parameters()));
}

TEST_CASE("block options: attention with rotary positions turns the projected queries and keys") {
  manual_seed(12);
  MultiHeadAttention mha(8, 2, 0.0f, false);
  mha.rope_base = 10000;
  const Tensor x = randn({2, 5, 8}).set_requires_grad();
  const Mask causal = Mask::causal();
  const Tensor got = mha.forward(x, x, x, causal);
  // the same from the ops: rope on W_q x and W_k x, then attention of every head, then W_o
  const Tensor q = rope(matmul(x, mha.W_q->weight, false, true), 2);
  const Tensor k = rope(matmul(x, mha.W_k->weight, false, true), 2);
  const Tensor v = matmul(x, mha.W_v->weight, false, true);
  const Tensor out = multi_head_attention(q, k, v, 2, causal.keep(2, 5, 5), 0.0f, false);
  CHECK_CLOSE(got.detach(), matmul(out, mha.W_o->weight, false, true).detach());
  // rotate() is that turn at an offset, and nothing without rope_base
  CHECK(testing::bitwise_equal(mha.rotate(v, 3).detach(), rope(v, 2, 3).detach()));
  MultiHeadAttention plain(8, 2);
  CHECK(plain.rotate(v, 3).impl() == v.impl());
  REQUIRE_NOTHROW(gradcheck([&](const Inputs& in) { return mha.forward(in[0], in[0], in[0], causal); }, {x}));
  // positions enter only through rope: without them, shifting the sequence would not change a thing
  const Tensor rows = slice(mha.forward(x, x, x), 1, 0, 1).detach();
  CHECK_FALSE(testing::allclose(rows, slice(plain.forward(x, x, x), 1, 0, 1).detach()));
}

TEST_CASE("block options: a LLaMA-style GPT has no position table, no biases, one tied embedding") {
  manual_seed(13);
  const TransformerConfig c = llama_config();
  GPT model(c);
  CHECK_FALSE(model.pos_emb);
  CHECK_FALSE(model.head);
  REQUIRE(model.rms_f);
  for (const auto& [name, p] : model.named_parameters()) {
    INFO(name);
    CHECK(name.find("bias") == std::string::npos);
    CHECK(name.find("pos_emb") == std::string::npos);
  }
  CHECK(has_name(model, "blocks.1.ffn.dense3.weight"));
  CHECK(has_name(model, "ln_f.weight"));
  CHECK(model.blocks[0]->attention->rope_base == 10000.0f);
  const Tensor ids = tensor({0, 3, 6, 1, 2, 5, 5, 4}, {2, 4});
  const Tensor logits = model.forward(ids);
  CHECK(logits.shape() == Shape{2, 4, 7});
  // tied: the logits are the final norm's output times the embedding table's transpose
  Tensor x = model.emb_dropout->forward(model.tok_emb->forward(ids));
  for (auto& block : model.blocks) x = block->forward(x, Mask::causal());
  CHECK_CLOSE(logits.detach(), matmul(model.rms_f->forward(x), model.tok_emb->weight, false, true).detach());
  REQUIRE_NOTHROW(gradcheck([&](const Inputs&) { return model.forward(ids); }, {model.tok_emb->weight}));
  CHECK_THAT(ERROR_OF(model.forward(zeros({1, 7}))), Contains("GPT") && Contains("max_len 6"));
}

TEST_CASE("block options: GPT-2 init draws N(0, 0.02), residual projections 0.02 / sqrt(2 L), biases 0") {
  manual_seed(14);
  TransformerConfig c;
  c.vocab_size = 50;
  c.block = BlockConfig{64, 256, 4, 0.0f};
  c.num_blks = 4;
  c.max_len = 32;
  c.gpt2_init = true;
  GPT model(c);
  auto sd = [](const Tensor& w) {
    double s = 0;
    for (float v : w.to_vector()) s += double(v) * v;
    return std::sqrt(s / double(w.numel()));
  };
  CHECK(std::fabs(sd(model.tok_emb->weight) - 0.02) < 0.002);
  CHECK(std::fabs(sd(model.blocks[0]->ffn->dense1->weight) - 0.02) < 0.002);
  const double residual = 0.02 / std::sqrt(8.0);
  CHECK(std::fabs(sd(model.blocks[2]->attention->W_o->weight) - residual) < 0.1 * residual);
  CHECK(std::fabs(sd(model.blocks[3]->ffn->dense2->weight) - residual) < 0.1 * residual);
  for (float b : model.blocks[1]->ffn->dense1->bias.to_vector()) CHECK(b == 0.0f);
  for (float g : model.ln_f->weight.to_vector()) CHECK(g == 1.0f);
}

TEST_CASE("block options: refused where they cannot apply, each naming the value") {
  TransformerConfig c = llama_config();
  CHECK_THAT(ERROR_OF(EncoderDecoder(c)), Contains("EncoderDecoder") && Contains("GPT's options"));
  c.block = BlockConfig{6, 12, 2, 0.0f};  // head width 3
  c.block.rope = true;
  CHECK_THAT(ERROR_OF(GPT(c)), Contains("rope needs an even head width") && Contains("got 3"));
  c.block = BlockConfig{8, 12, 2, 0.0f};
  c.block.rope = true;
  c.block.rope_base = 1.0f;
  CHECK_THAT(ERROR_OF(GPT(c)), Contains("rope_base must be a finite number > 1"));
  c.block.rope_base = 10000;
  c.block.norm = Norm(7);
  CHECK_THAT(ERROR_OF(GPT(c)), Contains("norm must be layer_norm or rms_norm, got 7"));
  c.block.norm = Norm::layer_norm;
  c.block.ffn = Ffn(5);
  CHECK_THAT(ERROR_OF(GPT(c)), Contains("ffn must be mlp or swiglu, got 5"));
}

TEST_CASE("block options: metadata round trips every option, and a checkpoint from before them loads") {
  const TransformerConfig c = llama_config();
  const auto meta = config_metadata(c);
  CHECK(meta.at("norm") == "rms_norm");
  CHECK(meta.at("ffn") == "swiglu");
  CHECK(meta.at("rope") == "1");
  CHECK(meta.at("tie_embeddings") == "1");
  const TransformerConfig back = config_from_metadata(MetadataReader("x.safetensors", meta));
  CHECK(config_metadata(back) == meta);
  CHECK(back.block.norm == Norm::rms_norm);
  CHECK(back.block.ffn == Ffn::swiglu);
  CHECK(back.block.rope);
  CHECK_FALSE(back.block.ffn_bias);
  CHECK(back.tie_embeddings);
  // an old checkpoint: none of the new keys, the old defaults
  auto old = meta;
  for (const char* key :
       {"norm", "ffn", "rope", "rope_base", "ffn_bias", "norm_bias", "tie_embeddings", "gpt2_init"})
    old.erase(key);
  const TransformerConfig before = config_from_metadata(MetadataReader("old.safetensors", old));
  CHECK(before.block.norm == Norm::layer_norm);
  CHECK(before.block.ffn == Ffn::mlp);
  CHECK_FALSE(before.block.rope);
  CHECK(before.block.ffn_bias);
  CHECK(before.block.norm_bias);
  CHECK_FALSE(before.tie_embeddings);
  auto bad = meta;
  bad["norm"] = "batch_norm";
  CHECK_THAT(ERROR_OF(config_from_metadata(MetadataReader("x.safetensors", bad))),
             Contains("checkpoint x.safetensors: metadata \"norm\" must be one of layer_norm, rms_norm"));
  bad = meta;
  bad["rope"] = "2";
  CHECK_THAT(ERROR_OF(config_from_metadata(MetadataReader("x.safetensors", bad))), Contains("\"rope\""));
}
