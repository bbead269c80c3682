// gradcheck on every differentiable op of autograd/ops.h, with broadcast shapes, negative dims,
// repeated indices, large logits and the other awkward cases the ops must get right.
#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "helpers.h"

using namespace qkv;
using Inputs = std::vector<Tensor>;

namespace {

Tensor param(const Shape& shape, float lo = -1, float hi = 1, uint64_t seed = 7) {
  Generator gen(seed);
  return uniform(shape, lo, hi, gen).set_requires_grad();
}

// Values kept away from 0 (for log, sqrt, div, relu's kink) by using [lo, hi] with lo > 0.
Tensor positive(const Shape& shape, uint64_t seed = 3) { return param(shape, 0.5f, 2.0f, seed); }

}  // namespace

TEST_CASE("gradients: arithmetic with broadcasting") {
  Tensor a = param({2, 3, 4}), b = param({3, 1}, -1, 1, 9), c = positive({4});
  REQUIRE_NOTHROW(gradcheck([](const Inputs& x) { return x[0] + x[1]; }, {a, b}));
  REQUIRE_NOTHROW(gradcheck([](const Inputs& x) { return x[0] - x[1]; }, {a, b}));
  REQUIRE_NOTHROW(gradcheck([](const Inputs& x) { return x[0] * x[1]; }, {a, b}));
  REQUIRE_NOTHROW(gradcheck([](const Inputs& x) { return x[0] / x[1]; }, {a, c}));
  REQUIRE_NOTHROW(gradcheck([](const Inputs& x) { return x[0] * x[0]; }, {a}));  // same tensor twice
  REQUIRE_NOTHROW(gradcheck([](const Inputs& x) { return 2.0f - x[0] * 3.0f + 1.0f; }, {a}));
  REQUIRE_NOTHROW(gradcheck([](const Inputs& x) { return 1.5f * (-x[0]) / 4.0f; }, {a}));
  Tensor s = scalar(0.7f).set_requires_grad();  // 0-d broadcasts against anything
  REQUIRE_NOTHROW(gradcheck([](const Inputs& x) { return x[0] * x[1]; }, {a, s}));
}

TEST_CASE("gradients: unary functions") {
  Tensor x = param({3, 5}), p = positive({3, 5});
  REQUIRE_NOTHROW(gradcheck([](const Inputs& v) { return exp(v[0]); }, {x}));
  REQUIRE_NOTHROW(gradcheck([](const Inputs& v) { return log(v[0]); }, {p}));
  REQUIRE_NOTHROW(gradcheck([](const Inputs& v) { return sqrt(v[0]); }, {p}));
  REQUIRE_NOTHROW(gradcheck([](const Inputs& v) { return pow(v[0], 3); }, {x}));
  REQUIRE_NOTHROW(gradcheck([](const Inputs& v) { return pow(v[0], -0.5f); }, {p}));
  REQUIRE_NOTHROW(gradcheck([](const Inputs& v) { return tanh(v[0]); }, {x}));
  REQUIRE_NOTHROW(gradcheck([](const Inputs& v) { return sigmoid(v[0]); }, {x}));
  REQUIRE_NOTHROW(gradcheck([](const Inputs& v) { return gelu(v[0]); }, {x}));
  CHECK(qkv::testing::bitwise_equal(gelu(x), kernels::gelu(x)));  // the op composes x * normal_cdf(x)
  // relu away from its kink at 0 (the difference quotient straddling 0 would be meaningless)
  Tensor away = tensor({-1.0f, -0.3f, 0.2f, 1.5f}).set_requires_grad();
  REQUIRE_NOTHROW(gradcheck([](const Inputs& v) { return relu(v[0]); }, {away}));
}

TEST_CASE("gradients: reductions along negative and positive dims, with and without keepdim") {
  Tensor x = param({2, 3, 4});
  REQUIRE_NOTHROW(gradcheck([](const Inputs& v) { return sum(v[0]); }, {x}));
  REQUIRE_NOTHROW(gradcheck([](const Inputs& v) { return mean(v[0]); }, {x}));
  for (int64_t dim : {0, 1, -1}) {
    for (bool keep : {false, true}) {
      REQUIRE_NOTHROW(gradcheck([=](const Inputs& v) { return sum(v[0], dim, keep); }, {x}));
      REQUIRE_NOTHROW(gradcheck([=](const Inputs& v) { return mean(v[0], dim, keep); }, {x}));
      REQUIRE_NOTHROW(gradcheck([=](const Inputs& v) { return max(v[0], dim, keep); }, {x}));
    }
  }
}

TEST_CASE("gradients: max with ties sends the gradient to the first maximum only") {
  Tensor x = tensor({1.0f, 3.0f, 3.0f, 2.0f}, {1, 4}).set_requires_grad();
  sum(max(x, -1)).backward();
  CHECK_CLOSE(x.grad(), tensor({0.0f, 1.0f, 0.0f, 0.0f}, {1, 4}));
}

TEST_CASE("gradients: matmul with every transpose flag and broadcast batches") {
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      Tensor a = param(ta ? Shape{2, 1, 4, 3} : Shape{2, 1, 3, 4});
      Tensor b = param(tb ? Shape{3, 5, 4} : Shape{3, 4, 5}, -1, 1, 11);
      INFO("trans_a=" << ta << " trans_b=" << tb);
      REQUIRE_NOTHROW(gradcheck([=](const Inputs& v) { return matmul(v[0], v[1], ta, tb); }, {a, b}));
    }
  }
  Tensor x = param({2, 3, 4}), w = param({4, 5}, -1, 1, 5);  // [B,T,D] @ [D,D']: a Linear layer
  REQUIRE_NOTHROW(gradcheck([](const Inputs& v) { return matmul(v[0], v[1]); }, {x, w}));
}

TEST_CASE("linear: the bias added inside the GEMM equals matmul + bias, and its gradients check") {
  // K = in <= 256: one pass over k, so bias + sum and sum + bias are the same float additions
  Tensor x = param({2, 3, 7}), w = param({5, 7}, -1, 1, 5), b = param({5}, -1, 1, 9);
  CHECK(qkv::testing::bitwise_equal(linear(x, w, b), matmul(x, w, false, true) + b));
  CHECK(qkv::testing::bitwise_equal(linear(x, w), matmul(x, w, false, true)));
  // K = 300 > 256: the GEMM adds the bias before the second slice of k, so only close
  Tensor x2 = param({4, 300}), w2 = param({6, 300}, -1, 1, 5), b2 = param({6}, -1, 1, 9);
  CHECK(qkv::testing::allclose(linear(x2, w2, b2), matmul(x2, w2, false, true) + b2));
  REQUIRE_NOTHROW(gradcheck([](const Inputs& v) { return linear(v[0], v[1], v[2]); }, {x, w, b}));
  REQUIRE_NOTHROW(gradcheck([](const Inputs& v) { return linear(v[0], v[1]); }, {x, w}));
  // in = 0: an empty sum, so every row is the bias
  CHECK(qkv::testing::bitwise_equal(linear(zeros({3, 0}), zeros({5, 0}), b), stack({b, b, b}, 0)));
  CHECK_THAT(qkv::testing::error_of([&] { linear(x, w, param({4})); }),
             Catch::Contains("linear") && Catch::Contains("bias [4]") && Catch::Contains("weight [5,7]"));
  CHECK_THAT(qkv::testing::error_of([&] {
               linear(x, param({5, 6}));
             }),
             Catch::Contains("linear") && Catch::Contains("x [2,3,7]"));
}

TEST_CASE("gradients: softmax and log_softmax, including large logits") {
  Tensor x = param({2, 3, 4});
  for (int64_t dim : {-1, 1, 0}) {
    REQUIRE_NOTHROW(gradcheck([=](const Inputs& v) { return softmax(v[0], dim); }, {x}));
    REQUIRE_NOTHROW(gradcheck([=](const Inputs& v) { return log_softmax(v[0], dim); }, {x}));
  }
  // Logits around 1e4: a naive exp would overflow; the shifted form keeps the gradient exact.
  Tensor big = (param({2, 5}) + 1e4f).detach().set_requires_grad();
  GradcheckOptions coarse;
  coarse.eps = 1e-2f;  // 1e4 has a float spacing of ~1e-3
  coarse.atol = 5e-3;
  REQUIRE_NOTHROW(gradcheck([](const Inputs& v) { return softmax(v[0], -1); }, {big}, coarse));
  REQUIRE_NOTHROW(gradcheck([](const Inputs& v) { return log_softmax(v[0], -1); }, {big}, coarse));
}

TEST_CASE("gradients: shape ops") {
  Tensor x = param({2, 3, 4});
  REQUIRE_NOTHROW(gradcheck([](const Inputs& v) { return reshape(v[0], {4, -1}); }, {x}));
  REQUIRE_NOTHROW(gradcheck([](const Inputs& v) { return unsqueeze(v[0], 1); }, {x}));
  REQUIRE_NOTHROW(gradcheck([](const Inputs& v) { return squeeze(unsqueeze(v[0], -1), -1); }, {x}));
  REQUIRE_NOTHROW(gradcheck([](const Inputs& v) { return permute(v[0], {2, 0, 1}); }, {x}));
  REQUIRE_NOTHROW(gradcheck([](const Inputs& v) { return transpose(v[0], -1, 0); }, {x}));
  REQUIRE_NOTHROW(gradcheck([](const Inputs& v) { return slice(v[0], 2, 1, 4, 2); }, {x}));
  REQUIRE_NOTHROW(gradcheck([](const Inputs& v) { return slice(v[0], -2, -2, 100); }, {x}));
  REQUIRE_NOTHROW(gradcheck([](const Inputs& v) { return narrow(v[0], 1, 1, 2); }, {x}));
  Tensor y = param({2, 1, 4}, -1, 1, 8);
  REQUIRE_NOTHROW(gradcheck([](const Inputs& v) { return concat({v[0], v[1], v[0]}, 1); }, {x, y}));
  Tensor z = param({2, 3, 4}, -1, 1, 9);
  REQUIRE_NOTHROW(gradcheck([](const Inputs& v) { return stack({v[0], v[1]}, -1); }, {x, z}));
}

TEST_CASE("gradients: embedding lookup adds the gradients of repeated indices") {
  Tensor weight = param({5, 3});
  const Tensor ids = tensor({1, 4, 1, 1, 0, 4}, {2, 3});
  REQUIRE_NOTHROW(gradcheck([&](const Inputs& v) { return embedding(v[0], ids); }, {weight}));
  REQUIRE_NOTHROW(gradcheck(
      [&](const Inputs& v) {
        return index_select(v[0], 1, tensor({2, 0, 2}));
      },
      {weight}));
  weight.zero_grad();
  sum(embedding(weight, ids)).backward();
  // Row 1 was read three times, rows 0 once, 4 twice, rows 2 and 3 never.
  CHECK_CLOSE(sum(weight.grad(), 1).detach(), tensor({3.0f, 9.0f, 0.0f, 0.0f, 6.0f}));
}

TEST_CASE("gradients: masked_fill and where") {
  Tensor x = param({2, 4});
  const Tensor fill_where = tensor({0, 1, 0, 1}, {1, 4});  // broadcast over rows
  REQUIRE_NOTHROW(gradcheck([&](const Inputs& v) { return masked_fill(v[0], fill_where, -5.0f); }, {x}));
  Tensor a = param({2, 4}, -1, 1, 4), b = param({4}, -1, 1, 5);
  const Tensor cond = tensor({1, 0, 0, 1, 0, 1, 1, 0}, {2, 4});
  REQUIRE_NOTHROW(gradcheck([&](const Inputs& v) { return where(cond, v[0], v[1]); }, {a, b}));
}

TEST_CASE("gradients: dropout with a fixed mask") {
  Tensor x = param({4, 6});
  // Reseeding inside f gives the same mask on every call, so the difference quotient sees one function.
  auto f = [](const Inputs& v) {
    Generator gen(42);
    return dropout(v[0], 0.3f, /*training=*/true, gen);
  };
  REQUIRE_NOTHROW(gradcheck(f, {x}));
  Tensor y = x.detach();
  CHECK(dropout(y, 0.5f, /*training=*/false).shares_storage_with(y));  // eval: identity
}

TEST_CASE("gradients: layer_norm with and without its affine part") {
  Tensor x = param({2, 3, 5}), gamma = param({5}, 0.5f, 1.5f, 2), beta = param({5}, -1, 1, 3);
  REQUIRE_NOTHROW(gradcheck([](const Inputs& v) { return layer_norm(v[0], v[1], v[2]); }, {x, gamma, beta}));
  REQUIRE_NOTHROW(gradcheck([](const Inputs& v) { return layer_norm(v[0], Tensor(), Tensor()); }, {x}));
}

TEST_CASE("gradients: cross_entropy with ignore_index, smoothing, and an all-ignored batch") {
  Tensor logits = param({4, 5});
  const Tensor targets = tensor({1, 0, 4, 2});
  const Tensor some_ignored = tensor({1, -100, 4, -100});
  REQUIRE_NOTHROW(gradcheck([&](const Inputs& v) { return cross_entropy(v[0], targets); }, {logits}));
  REQUIRE_NOTHROW(gradcheck([&](const Inputs& v) { return cross_entropy(v[0], some_ignored); }, {logits}));
  REQUIRE_NOTHROW(
      gradcheck([&](const Inputs& v) { return cross_entropy(v[0], targets, -100, 0.1f); }, {logits}));
  REQUIRE_NOTHROW(gradcheck(
      [&](const Inputs& v) {
        return cross_entropy(v[0], tensor({0, 0, 0, 0}), 0);
      },
      {logits}));
  logits.zero_grad();
  Tensor loss = cross_entropy(logits, tensor({0, 0, 0, 0}), /*ignore_index=*/0);
  CHECK(loss.item() == 0.0f);
  loss.backward();
  CHECK_CLOSE(logits.grad(), zeros({4, 5}));
}

TEST_CASE("gradients: a two-layer perceptron, composed from the ops") {
  Tensor x = param({3, 4}), w1 = param({4, 6}, -1, 1, 2), b1 = param({6}, -1, 1, 3);
  Tensor w2 = param({6, 2}, -1, 1, 4);
  auto mlp = [](const Inputs& v) { return matmul(tanh(matmul(v[0], v[1]) + v[2]), v[3]); };
  REQUIRE_NOTHROW(gradcheck(mlp, {x, w1, b1, w2}));
}
