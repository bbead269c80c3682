// Attention and masks: every mask kind, gradcheck under each, the course's examples and shapes,
// the properties attention must have, and the two common masking bugs.
#include <cmath>
#include <limits>

#include "autograd/gradcheck.h"
#include "helpers.h"
#include "nn/multi_head_attention.h"

using namespace qkv;
using namespace qkv::nn;
using Catch::Contains;
using Inputs = std::vector<Tensor>;

TEST_CASE("mask: valid_lens, key padding and causal give the expected keep pattern") {
  // 1-D valid_lens [B]: keys s < len
  CHECK_CLOSE(Mask::from_valid_lens(tensor({2, 3})).keep(2, 1, 4), tensor({1, 1, 0, 0, 1, 1, 1, 0}, {2, 1, 4}));
  // 2-D valid_lens [B,T]: one length per query row
  CHECK_CLOSE(Mask::from_valid_lens(tensor({1, 3}, {1, 2})).keep(1, 2, 3), tensor({1, 0, 0, 1, 1, 1}, {1, 2, 3}));
  // key padding: 1 marks padding
  CHECK_CLOSE(Mask::key_padding(tensor({0, 1, 0}, {1, 3})).keep(1, 1, 3), tensor({1, 0, 1}, {1, 1, 3}));
  // causal, square
  CHECK_CLOSE(Mask::causal().keep(1, 3, 3), tensor({1, 0, 0, 1, 1, 0, 1, 1, 1}, {1, 3, 3}));
  // causal with T=2 < S=4 is bottom-right aligned: the last query sees every key
  CHECK_CLOSE(Mask::causal().keep(1, 2, 4), tensor({1, 1, 1, 0, 1, 1, 1, 1}, {1, 2, 4}));
  // combined: causal & valid_lens
  const Mask both = Mask::causal() & Mask::from_valid_lens(tensor({2}));
  CHECK_CLOSE(both.keep(1, 3, 3), tensor({1, 0, 0, 1, 1, 0, 1, 1, 0}, {1, 3, 3}));
}

TEST_CASE("mask: bad inputs are named errors") {
  CHECK_THAT(ERROR_OF(Mask::from_valid_lens(tensor({1.5f}))), Contains("valid_lens") && Contains("whole"));
  CHECK_THAT(ERROR_OF(Mask::from_valid_lens(zeros({1, 2, 3}))), Contains("[1,2,3]"));
  CHECK_THAT(ERROR_OF(Mask::key_padding(zeros({4}))), Contains("key_is_padding") && Contains("[4]"));
  CHECK_THAT(ERROR_OF(Mask::from_valid_lens(tensor({2, 3})).keep(3, 1, 4)), Contains("valid_lens") && Contains("[2]"));
  CHECK_THAT(ERROR_OF(Mask::key_padding(zeros({2, 5})).keep(2, 1, 4)), Contains("[2,5]") && Contains("4 keys"));
}

TEST_CASE("masked_softmax: masked keys get exactly zero, a fully masked row gives zeros, never NaN") {
  manual_seed(0);
  const Tensor scores = randn({2, 2, 4});
  const Tensor w = masked_softmax(scores, Mask::from_valid_lens(tensor({2, 0})));
  for (int64_t t = 0; t < 2; ++t) {
    CHECK(w.at({0, t, 2}) == 0.0f);
    CHECK(w.at({0, t, 3}) == 0.0f);
    CHECK(w.at({0, t, 0}) + w.at({0, t, 1}) == Catch::Approx(1));
    for (int64_t s = 0; s < 4; ++s) CHECK(w.at({1, t, s}) == 0.0f);  // valid_len 0: fully masked
  }
  Tensor x = scores.clone().set_requires_grad();
  REQUIRE_NOTHROW(gradcheck(
      [](const Inputs& v) { return masked_softmax(v[0], Mask::from_valid_lens(tensor({3, 0}))); }, {x}));
  sum(masked_softmax(x, Mask::from_valid_lens(tensor({3, 0})))).backward();
  for (int64_t i = 8; i < 16; ++i) CHECK(x.grad().data()[i] == 0.0f);  // zero gradient on the masked row
}

TEST_CASE("attention: the two common masking bugs, and why qkv's masking avoids them") {
  const Tensor scores = tensor({1, 2, 3, 4}, {1, 1, 4});  // one query, four keys; keys 2 and 3 are padding
  const Tensor right = masked_softmax(scores, Mask::from_valid_lens(tensor({2})));
  CHECK(right.at({0, 0, 2}) == 0.0f);
  CHECK(right.at({0, 0, 3}) == 0.0f);
  // Bug 1: filling with a tiny number (-1e-25) instead of -inf: exp(-1e-25 - max) is not 0, so padding
  // still takes weight.
  const Tensor padding = tensor({0, 0, 1, 1}, {1, 1, 4});
  const Tensor tiny = softmax(masked_fill(scores, padding, -1e-25f), -1);
  CHECK(tiny.at({0, 0, 2}) > 0.05f);
  // Bug 2: masking the query axis (rows) instead of the key axis (columns): a [B,T,S] mask built as
  // "query t < len" leaves the padding keys visible to every real query.
  Tensor query_axis = zeros({1, 4, 4});  // T = S = 4, valid_len 2
  for (int64_t t = 2; t < 4; ++t)
    for (int64_t s = 0; s < 4; ++s) query_axis.set({0, t, s}, 1);
  const Tensor sq = tensor({1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4}, {1, 4, 4});
  const Tensor wrong = softmax(masked_fill(sq, query_axis, -INFINITY), -1);
  CHECK(wrong.at({0, 0, 3}) > 0.5f);  // query 0 attends mostly to padding key 3
  const Tensor fixed = masked_softmax(sq, Mask::from_valid_lens(tensor({2})));
  CHECK(fixed.at({0, 0, 3}) == 0.0f);
}

TEST_CASE("attention: scaled dot-product matches the formula worked by hand") {
  // q = [1, 0], keys [1, 0] and [0, 1]: scores [1/sqrt2, 0]
  const Tensor q = tensor({1, 0}, {1, 1, 2}), k = tensor({1, 0, 0, 1}, {1, 2, 2}), v = tensor({10, 20}, {1, 2, 1});
  AttentionResult r = scaled_dot_product_attention(q, k, v);
  const float e = std::exp(1 / std::sqrt(2.0f)), w0 = e / (e + 1);
  CHECK(r.weights.at({0, 0, 0}) == Catch::Approx(w0));
  CHECK(r.output.at({0, 0, 0}) == Catch::Approx(10 * w0 + 20 * (1 - w0)));
  CHECK_THAT(ERROR_OF(scaled_dot_product_attention(q, zeros({1, 2, 3}), v)), Contains("[1,2,3]"));
}

TEST_CASE("attention: gradcheck of dot-product and additive attention under every mask kind") {
  manual_seed(1);
  Tensor q = randn({2, 3, 4}).set_requires_grad(), k = randn({2, 5, 4}).set_requires_grad();
  Tensor v = randn({2, 5, 3}).set_requires_grad();
  const std::vector<std::pair<const char*, Mask>> masks = {
      {"none", Mask()},
      {"valid_lens 1-D", Mask::from_valid_lens(tensor({2, 5}))},
      {"valid_lens 2-D", Mask::from_valid_lens(tensor({1, 2, 3, 5, 0, 4}, {2, 3}))},
      {"key padding", Mask::key_padding(tensor({0, 0, 1, 0, 1, 1, 0, 0, 0, 0}, {2, 5}))},
      {"causal T<S", Mask::causal()},
      {"causal & valid_lens", Mask::causal() & Mask::from_valid_lens(tensor({3, 0}))},
  };
  DotProductAttention dot(0.0f);
  AdditiveAttention additive(4, 4, 6, 0.0f);
  for (const auto& named : masks) {  // not a structured binding: clang before 16 cannot capture one
    const Mask& mask = named.second;
    INFO("mask: " << named.first);
    REQUIRE_NOTHROW(gradcheck([&](const Inputs& x) { return dot.forward(x[0], x[1], x[2], mask); }, {q, k, v}));
    REQUIRE_NOTHROW(gradcheck([&](const Inputs& x) { return additive.forward(x[0], x[1], x[2], mask); }, {q, k, v}));
  }
  REQUIRE_NOTHROW(gradcheck([&](const Inputs&) { return additive.forward(q, k, v); }, additive.parameters()));
}

TEST_CASE("attention: d2l's additive attention example, queries and keys of different widths") {
  manual_seed(2);
  const Tensor queries = randn({2, 1, 20}), keys = ones({2, 10, 2});
  const Tensor values = reshape(arange(40), {1, 10, 4}) * ones({2, 1, 1});
  AdditiveAttention attention(2, 20, 8, 0.1f);
  attention.eval();
  const Tensor out = attention.forward(queries, keys, values, Mask::from_valid_lens(tensor({2, 6})));
  CHECK(out.shape() == Shape{2, 1, 4});
  // All keys are equal, so the weights are uniform over the valid keys.
  CHECK(attention.attention_weights.at({0, 0, 1}) == Catch::Approx(0.5));
  CHECK(attention.attention_weights.at({1, 0, 5}) == Catch::Approx(1.0 / 6));
  CHECK(attention.attention_weights.at({1, 0, 6}) == 0.0f);
}

TEST_CASE("multi-head attention: the course's shapes") {
  manual_seed(3);
  SECTION("d2l: num_hiddens 100, 5 heads, batch 2, 4 queries, 6 key-value pairs, valid_lens [3, 2]") {
    MultiHeadAttention attention(100, 5, 0.5f);
    attention.eval();
    const Tensor X = ones({2, 4, 100}), Y = ones({2, 6, 100});
    const Tensor out = attention.forward(X, Y, Y, Mask::from_valid_lens(tensor({3, 2})));
    CHECK(out.shape() == Shape{2, 4, 100});
    CHECK(attention.attention_weights.shape() == Shape{2, 5, 4, 6});
    CHECK(attention.attention_weights.at({1, 4, 3, 2}) == 0.0f);  // sequence 1 has 2 valid keys
  }
  SECTION("d2l: self-attention, (2, 4, 100) with valid_lens [3, 2]") {
    MultiHeadAttention attention(100, 5, 0.5f);
    attention.eval();
    const Tensor X = ones({2, 4, 100});
    CHECK(attention.forward(X, X, X, Mask::from_valid_lens(tensor({3, 2}))).shape() == Shape{2, 4, 100});
  }
  SECTION("SelfAttention(100, 80) on (3, 9, 100)") {
    SelfAttention attention(100, 80);
    const Tensor x = randn({3, 9, 100});
    CHECK(attention.forward(x).shape() == Shape{3, 9, 100});
    CHECK(attention.attention_weights.shape() == Shape{3, 9, 9});
  }
  SECTION("width 768 with 64-wide heads and a key mask on (2, 9, 768)") {
    MultiHeadAttention attention(768, 768 / 64);
    const Tensor x = randn({2, 9, 768});
    const Tensor pad = tensor({0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1}, {2, 9});
    CHECK(attention.forward(x, x, x, Mask::key_padding(pad)).shape() == Shape{2, 9, 768});
    CHECK(attention.attention_weights.shape() == Shape{2, 12, 9, 9});
    CHECK(attention.attention_weights.at({1, 11, 0, 5}) == 0.0f);
  }
  SECTION("cross-attention between sequences of lengths 5 and 7, of different widths") {
    MultiHeadAttention attention(/*key_size=*/12, /*query_size=*/16, /*value_size=*/12, 24, 4);
    const Tensor queries = randn({2, 5, 16}), memory = randn({2, 7, 12});
    CHECK(attention.forward(queries, memory, memory).shape() == Shape{2, 5, 24});
    CHECK(attention.attention_weights.shape() == Shape{2, 4, 5, 7});
  }
}

TEST_CASE("multi-head attention: named errors for bad configurations and shapes") {
  CHECK_THAT(ERROR_OF(MultiHeadAttention(100, 3)), 
             Contains("num_hiddens must be a multiple of num_heads (3), got 100"));
  MultiHeadAttention attention(8, 2);
  CHECK_THAT(ERROR_OF(attention.forward(ones({2, 3, 8}), ones({2, 4, 8}), ones({2, 5, 8}))),
             Contains("MultiHeadAttention") && Contains("[2,4,8]") && Contains("[2,5,8]"));
  CHECK_THAT(ERROR_OF(attention.forward(ones({2, 3, 7}), ones({2, 4, 8}), ones({2, 4, 8}))),
             Contains("Linear") && Contains("[2,3,7]"));
}

TEST_CASE("multi-head attention: gradcheck for self-, cross- and causal attention") {
  manual_seed(4);
  MultiHeadAttention attention(6, 5, 8, 8, 2, 0.0f, /*bias=*/true);
  Tensor x = randn({2, 3, 5}).set_requires_grad();
  const Tensor memory = randn({2, 4, 6}), values = randn({2, 4, 8});
  REQUIRE_NOTHROW(gradcheck(
      [&](const Inputs& v) { return attention.forward(v[0], memory, values, Mask::from_valid_lens(tensor({4, 1}))); },
      {x}));
  REQUIRE_NOTHROW(gradcheck([&](const Inputs&) { return attention.forward(x.detach(), memory, values); },
                            attention.parameters()));
  MultiHeadAttention self(6, 3, 0.0f, true);
  Tensor y = randn({2, 4, 6}).set_requires_grad();
  REQUIRE_NOTHROW(gradcheck([&](const Inputs& v) { return self.forward(v[0], v[0], v[0], Mask::causal()); }, {y}));
  SelfAttention single(6, 4);
  REQUIRE_NOTHROW(gradcheck([&](const Inputs& v) { return single.forward(v[0], Mask::causal()); }, {y}));
}

TEST_CASE("attention properties: causal outputs ignore the future, outputs ignore padded keys") {
  manual_seed(5);
  MultiHeadAttention attention(16, 4);
  attention.eval();
  Tensor x = randn({1, 6, 16});
  const Tensor before = attention.forward(x, x, x, Mask::causal());
  Tensor changed = x.clone();
  for (int64_t d = 0; d < 16; ++d) changed.set({0, 5, d}, 100.0f + d);  // change the last token only
  const Tensor after = attention.forward(changed, changed, changed, Mask::causal());
  CHECK(testing::bitwise_equal(narrow(before, 1, 0, 5), narrow(after, 1, 0, 5)));
  CHECK_FALSE(testing::bitwise_equal(narrow(before, 1, 5, 1), narrow(after, 1, 5, 1)));

  // Padded keys (beyond valid_lens) can hold anything: the outputs do not move by a single bit.
  const Tensor q = randn({2, 3, 16});
  Tensor kv = randn({2, 5, 16});
  const Mask mask = Mask::from_valid_lens(tensor({3, 4}));
  const Tensor ref = attention.forward(q, kv, kv, mask);
  Tensor kv2 = kv.clone();
  for (int64_t d = 0; d < 16; ++d) {
    kv2.set({0, 3, d}, -50.0f);
    kv2.set({0, 4, d}, 1e6f);
    kv2.set({1, 4, d}, 3.0f);
  }
  CHECK(testing::bitwise_equal(ref, attention.forward(q, kv2, kv2, mask)));
}

TEST_CASE("attention properties: self-attention without positions is permutation-equivariant") {
  manual_seed(6);
  MultiHeadAttention attention(12, 3);
  const Tensor x = randn({2, 5, 12});
  const Tensor perm = tensor({3, 0, 4, 1, 2});
  const Tensor out = attention.forward(x, x, x);
  const Tensor xp = index_select(x, 1, perm);
  CHECK_CLOSE(attention.forward(xp, xp, xp).detach(), index_select(out, 1, perm).detach(), 1e-5f, 1e-4f);
}
