// nn basics: Module bookkeeping, Linear, Embedding, LayerNorm, Dropout, positional encodings.
#include <cmath>

#include "autograd/gradcheck.h"
#include "helpers.h"
#include "nn/models.h"

using namespace qkv;
using namespace qkv::nn;
using Catch::Contains;
using Inputs = std::vector<Tensor>;

TEST_CASE("module: parameters are registered under dotted paths and counted") {
  manual_seed(0);
  TransformerConfig c;
  c.vocab_size = 7;
  c.block.num_hiddens = 8;
  c.block.ffn_num_hiddens = 16;
  c.block.num_heads = 2;
  EncoderDecoder model(c);
  const auto named = model.named_parameters();
  auto has = [&](const std::string& name) {
    for (auto& [n, t] : named)
      if (n == name) return true;
    return false;
  };
  CHECK(has("encoder.embedding.weight"));
  CHECK(has("encoder.blocks.0.attention.W_q.weight"));
  CHECK(has("encoder.blocks.1.addnorm2.ln.bias"));
  CHECK(has("decoder.blocks.1.attention2.W_o.bias"));
  CHECK(has("decoder.dense.weight"));
  int64_t total = 0;
  for (auto& [n, t] : named) {
    CHECK(t.requires_grad());
    total += t.numel();
  }
  CHECK(model.num_parameters() == total);
}

TEST_CASE("module: train() and eval() reach every child") {
  GPT model(TransformerConfig{11, BlockConfig{8, 16, 2, 0.1f}, 2, 6});
  model.eval();
  CHECK_FALSE(model.blocks[1]->attention->is_training());
  CHECK_FALSE(model.pos_emb->is_training());
  model.train();
  CHECK(model.blocks[0]->ffn->is_training());
}

TEST_CASE("linear: y = x W^T + b with PyTorch's layout and init bounds") {
  manual_seed(1);
  Linear lin(4, 3);
  CHECK(lin.weight.shape() == Shape{3, 4});
  CHECK(lin.bias.shape() == Shape{3});
  for (float w : lin.weight.to_vector()) CHECK(std::fabs(w) <= 0.5f);  // 1/sqrt(4)
  const Tensor x = tensor({1, 2, 3, 4}, {1, 4});
  Tensor expected({1, 3});
  for (int64_t o = 0; o < 3; ++o) {
    float s = lin.bias.at({o});
    for (int64_t i = 0; i < 4; ++i) s += x.at({0, i}) * lin.weight.at({o, i});
    expected.set({0, o}, s);
  }
  CHECK_CLOSE(lin.forward(x).detach(), expected);
  CHECK_THAT(ERROR_OF(lin.forward(ones({2, 5}))), Contains("Linear") && Contains("[2,5]"));
  Linear no_bias(4, 3, false);
  CHECK(no_bias.parameters().size() == 1);
}

TEST_CASE("layers: gradcheck of Linear, Embedding, LayerNorm, FFN and AddNorm through their parameters") {
  manual_seed(2);
  const Tensor x = randn({2, 3, 4});
  Linear lin(4, 5);
  REQUIRE_NOTHROW(gradcheck([&](const Inputs&) { return lin.forward(x); }, lin.parameters()));
  Tensor xg = x.clone().set_requires_grad();
  REQUIRE_NOTHROW(gradcheck([&](const Inputs& v) { return lin.forward(v[0]); }, {xg}));
  Embedding emb(6, 3);
  const Tensor ids = tensor({0, 5, 5, 2}, {2, 2});
  REQUIRE_NOTHROW(gradcheck([&](const Inputs&) { return emb.forward(ids); }, emb.parameters()));
  LayerNorm ln(4);
  REQUIRE_NOTHROW(gradcheck([&](const Inputs& v) { return ln.forward(v[0]); }, {xg, ln.weight, ln.bias}));
  PositionWiseFFN ffn(4, 6, 4, Activation::gelu);
  REQUIRE_NOTHROW(gradcheck([&](const Inputs&) { return ffn.forward(x); }, ffn.parameters()));
  AddNorm addnorm(4, 0.0f);
  const Tensor y = randn({2, 3, 4});
  REQUIRE_NOTHROW(gradcheck([&](const Inputs& v) { return addnorm.forward(v[0], y); }, {xg}));
}

TEST_CASE("dropout: identity in eval, keeps the mean in training, zeroes about p of the entries") {
  manual_seed(3);
  Dropout drop(0.25f);
  const Tensor x = ones({200, 500});
  drop.eval();
  CHECK(qkv::testing::bitwise_equal(drop.forward(x), x));
  drop.train();
  const Tensor y = drop.forward(x);
  int64_t zeros_seen = 0, others = 0;
  double total = 0;
  for (float v : y.to_vector()) {
    zeros_seen += v == 0;
    others += v != 0 && v != 1 / 0.75f;
    total += v;
  }
  CHECK(others == 0);  // every entry is 0 or 1/(1-p)
  CHECK(double(zeros_seen) / y.numel() == Catch::Approx(0.25).margin(0.01));
  CHECK(total / y.numel() == Catch::Approx(1.0).margin(0.01));
  CHECK_THAT(ERROR_OF(Dropout(1.0f)), Contains("Dropout: p must be in [0, 1), got 1"));
  Tensor xg = randn({3, 4}).set_requires_grad();
  REQUIRE_NOTHROW(gradcheck(
      [&](const Inputs& v) {
        manual_seed(9);  // the same mask on every call
        return drop.forward(v[0]);
      },
      {xg}));
}

TEST_CASE("positional encoding: the sinusoidal table has the course's values") {
  const Tensor P = sinusoidal_table(60, 32);
  CHECK(P.shape() == Shape{60, 32});
  for (int64_t j = 0; j < 32; ++j) CHECK(P.at({0, j}) == (j % 2 == 0 ? 0.0f : 1.0f));  // sin 0, cos 0
  CHECK(P.at({1, 0}) == Catch::Approx(std::sin(1.0)).epsilon(1e-6));
  CHECK(P.at({1, 1}) == Catch::Approx(std::cos(1.0)).epsilon(1e-6));
  // column 6 has frequency 1 / 10000^(6/32)
  CHECK(P.at({10, 6}) == Catch::Approx(std::sin(10 / std::pow(10000.0, 6.0 / 32))).epsilon(1e-6));
  CHECK(P.at({59, 7}) == Catch::Approx(std::cos(59 / std::pow(10000.0, 6.0 / 32))).epsilon(1e-6));
  PositionalEncoding pe(32, 0.0f);
  CHECK(pe.P.shape() == Shape{1000, 32});  // d2l's default max_len
  const Tensor x = zeros({1, 60, 32});
  CHECK_CLOSE(reshape(pe.forward(x), {60, 32}).detach(), P);
  CHECK_THAT(ERROR_OF(pe.forward(zeros({1, 1001, 32}))), Contains("max_len=1000") && Contains("[1,1001,32]"));
}

TEST_CASE("positional encoding: gradients flow through both kinds") {
  manual_seed(4);
  Tensor x = randn({2, 5, 6}).set_requires_grad();
  PositionalEncoding pe(6, 0.0f, 10);
  REQUIRE_NOTHROW(gradcheck([&](const Inputs& v) { return pe.forward(v[0]); }, {x}));
  LearnedPositionalEncoding learned(6, 0.0f, 8);
  REQUIRE_NOTHROW(gradcheck([&](const Inputs&) { return learned.forward(x.detach()); }, learned.parameters()));
}
