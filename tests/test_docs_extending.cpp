// docs/10-extending.md, compiled: the ALiBi op and layer of docs/extending/alibi.h, gradchecked, checked
// against numbers worked by hand, and trained in a small causal model.
#include <cmath>

#include "autograd/gradcheck.h"
#include "docs/extending/alibi.h"
#include "helpers.h"
#include "nn/optim.h"
#include "nn/transformer.h"

using namespace qkv;
using namespace qkv::docs;
using Catch::Contains;
using Inputs = std::vector<Tensor>;

TEST_CASE("docs/extending: ALiBi slopes and distances, worked by hand") {
  // H = 4: m_h = 2^(-8h/4) = 2^-2, 2^-4, 2^-6, 2^-8
  CHECK_CLOSE(alibi_slopes(4), tensor({0.25f, 0.0625f, 0.015625f, 0.00390625f}));
  // T = S = 3: |i - j|
  CHECK_CLOSE(alibi_distances(3, 3), tensor({0, 1, 2, 1, 0, 1, 2, 1, 0}, {3, 3}));
  // T = 1 query against S = 3 keys (decoding the last position): it sits at position 2
  CHECK_CLOSE(alibi_distances(1, 3), tensor({2, 1, 0}, {1, 3}));
  CHECK_THAT(ERROR_OF(alibi_bias(zeros({1, 3, 2, 2}), alibi_slopes(4))),
             Contains("alibi_bias") && Contains("[1,3,2,2]") && Contains("[4]"));
}

TEST_CASE("docs/extending: ALiBi weights of a query with equal scores, worked by hand") {
  // All scores 0, so the bias alone decides. Query 2 of head 0 (m = 1/4) sees keys at distance 2, 1, 0:
  // softmax([-0.5, -0.25, 0]) = [0.254275, 0.326496, 0.419229].
  const Tensor scores = zeros({1, 4, 3, 3});
  const Tensor w = nn::masked_softmax(alibi_bias(scores, alibi_slopes(4)), nn::Mask::causal());
  CHECK(w.at({0, 0, 2, 0}) == Catch::Approx(0.254275).epsilon(1e-5));
  CHECK(w.at({0, 0, 2, 1}) == Catch::Approx(0.326496).epsilon(1e-5));
  CHECK(w.at({0, 0, 2, 2}) == Catch::Approx(0.419229).epsilon(1e-5));
  // Head 3 (m = 1/256) barely prefers near keys: [0.332032, 0.333332, 0.334636].
  CHECK(w.at({0, 3, 2, 0}) == Catch::Approx(0.332032).epsilon(1e-5));
  CHECK(w.at({0, 3, 2, 2}) == Catch::Approx(0.334636).epsilon(1e-5));
  // The causal mask still gives the future exactly zero.
  CHECK(w.at({0, 0, 0, 1}) == 0.0f);
}

TEST_CASE("docs/extending: gradcheck of the alibi_bias op and of the ALiBi layer") {
  manual_seed(7);
  Tensor scores = randn({2, 3, 4, 5}).set_requires_grad();
  Tensor slopes = alibi_slopes(3).set_requires_grad();  // learned slopes: both inputs get a gradient
  REQUIRE_NOTHROW(gradcheck([](const Inputs& x) { return alibi_bias(x[0], x[1]); }, {scores, slopes}));

  ALiBiSelfAttention attention(8, 2);
  Tensor x = randn({2, 5, 8}).set_requires_grad();
  REQUIRE_NOTHROW(gradcheck([&](const Inputs& v) { return attention.forward(v[0]); }, {x}));
  REQUIRE_NOTHROW(
      gradcheck([&](const Inputs&) { return attention.forward(x.detach()); }, attention.parameters()));
  CHECK(attention.attention_weights.shape() == Shape{2, 2, 5, 5});
}

// A small causal language model with ALiBi instead of a positional encoding:
// embedding -> pre-norm ALiBi attention and FFN, each with a residual -> LayerNorm -> head.
class TinyALiBiLM : public nn::Module {
 public:
  TinyALiBiLM(int64_t V, int64_t D, int64_t H) {
    emb = register_module("emb", std::make_shared<nn::Embedding>(V, D));
    ln1 = register_module("ln1", std::make_shared<nn::LayerNorm>(D));
    attention = register_module("attention", std::make_shared<ALiBiSelfAttention>(D, H));
    ln2 = register_module("ln2", std::make_shared<nn::LayerNorm>(D));
    ffn = register_module("ffn", std::make_shared<nn::PositionWiseFFN>(D, 4 * D, D));
    ln_f = register_module("ln_f", std::make_shared<nn::LayerNorm>(D));
    head = register_module("head", std::make_shared<nn::Linear>(D, V));
  }
  Tensor forward(const Tensor& ids) {  // ids [B,T] -> logits [B,T,V]
    Tensor x = emb->forward(ids);
    x = x + attention->forward(ln1->forward(x));
    x = x + ffn->forward(ln2->forward(x));
    return head->forward(ln_f->forward(x));
  }
  std::shared_ptr<nn::Embedding> emb;
  std::shared_ptr<nn::LayerNorm> ln1, ln2, ln_f;
  std::shared_ptr<ALiBiSelfAttention> attention;
  std::shared_ptr<nn::PositionWiseFFN> ffn;
  std::shared_ptr<nn::Linear> head;
};

// Sequences that repeat three random tokens (a b c a b c ...): from position 2 on, the next token is the
// one three back. Returns ids [B,T] and next-token targets [B*T] (-1, ignored, where it is not determined).
static std::pair<Tensor, Tensor> period_three_batch(int64_t B, int64_t T, int64_t V) {
  Tensor ids({B, T}), targets({B * T});
  for (int64_t b = 0; b < B; ++b) {
    const float abc[3] = {float(default_generator().randint(0, V)), float(default_generator().randint(0, V)),
                          float(default_generator().randint(0, V))};
    for (int64_t t = 0; t < T; ++t) {
      ids.set({b, t}, abc[t % 3]);
      targets.set({b * T + t}, t < 2 ? -1.0f : abc[(t + 1) % 3]);
    }
  }
  return {ids, targets};
}

TEST_CASE("docs/extending: a small ALiBi model learns, and runs on sequences longer than it trained on") {
  manual_seed(8);
  const int64_t V = 8;
  TinyALiBiLM model(V, 32, 4);
  nn::Adam opt(model.named_parameters(), 1e-2f);
  auto loss_of = [&](int64_t B, int64_t T) {
    auto [ids, targets] = period_three_batch(B, T, V);
    return cross_entropy(reshape(model.forward(ids), {-1, V}), targets, -1);
  };
  const float first = loss_of(32, 9).item();
  for (int step = 0; step < 300; ++step) {
    const Tensor loss = loss_of(32, 9);
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  NoGrad no_grad;
  const float trained = loss_of(64, 9).item();
  INFO("loss before " << first << ", after " << trained);
  CHECK(trained < 0.5f * first);
  // No table of positions: the same model takes 4x longer sequences, and still does the task.
  const float longer = loss_of(64, 36).item();
  INFO("loss on T = 36: " << longer);
  CHECK(std::isfinite(longer));
  CHECK(longer < first);
}
