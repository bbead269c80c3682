// The PyTorch-shaped API of issue 13, tested as a PyTorch user would reach for it: abs and scalar-first
// arithmetic, cross_entropy on [B,T,V] logits. Reference numbers were computed once with PyTorch 1.13
// (the snippet is beside each).
#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "helpers.h"

using namespace qkv;
using Catch::Contains;
using Inputs = std::vector<Tensor>;

TEST_CASE("pytorch api: abs is differentiable with gradient sign x and 0 at 0") {
  // x = torch.tensor([-2., 0., 3.], requires_grad=True); x.abs().sum().backward(); x.grad -> [-1, 0, 1]
  Tensor x = tensor({-2.0f, 0.0f, 3.0f}).set_requires_grad();
  Tensor y = abs(x);
  CHECK(y.to_vector() == std::vector<float>{2, 0, 3});
  sum(y).backward();
  CHECK(x.grad().to_vector() == std::vector<float>{-1, 0, 1});
  // away from the kink at 0, where a difference quotient straddling 0 would be meaningless
  Tensor away = tensor({-1.5f, -0.4f, 0.3f, 2.0f, -0.7f, 1.1f}, {2, 3}).set_requires_grad();
  REQUIRE_NOTHROW(gradcheck([](const Inputs& v) { return abs(v[0]); }, {away}));
}

TEST_CASE("pytorch api: scalar-first arithmetic 1 / x and 2 - x") {
  // x = torch.tensor([0.5, -2., 4.], requires_grad=True); y = 1.0 / x; y.sum().backward()
  // y -> [2.0, -0.5, 0.25], x.grad -> [-4.0, -0.25, -0.0625]
  Tensor x = tensor({0.5f, -2.0f, 4.0f}).set_requires_grad();
  Tensor y = 1.0f / x;
  CHECK(y.to_vector() == std::vector<float>{2.0f, -0.5f, 0.25f});
  sum(y).backward();
  CHECK(x.grad().to_vector() == std::vector<float>{-4.0f, -0.25f, -0.0625f});
  Generator gen(11);
  Tensor p = uniform({3, 4}, 0.5f, 2.0f, gen).set_requires_grad();  // away from the pole at 0
  REQUIRE_NOTHROW(gradcheck([](const Inputs& v) { return 3.0f / v[0]; }, {p}));
  Tensor small = uniform({3, 4}, 0.25f, 1.0f, gen).set_requires_grad();  // 2 - x^2 stays in [1, 2]
  REQUIRE_NOTHROW(gradcheck([](const Inputs& v) { return 1.0f / (2.0f - v[0] * v[0]); }, {small}));
  REQUIRE_NOTHROW(gradcheck([](const Inputs& v) { return 2.0f - v[0]; }, {p}));
  REQUIRE_NOTHROW(gradcheck([](const Inputs& v) { return 2.0f * v[0] + 1.0f; }, {p}));
  // every element: s / x, not s * (1 / x)
  const Tensor q = uniform({1000}, 0.1f, 10.0f, gen);
  const Tensor r = 3.0f / q;
  for (int64_t i = 0; i < q.numel(); ++i) REQUIRE(r.data()[i] == 3.0f / q.data()[i]);
}

TEST_CASE("pytorch api: cross_entropy takes [B,T,V] logits with [B,T] targets") {
  Generator gen(3);
  const Tensor logits = randn({2, 5, 7}, gen).set_requires_grad();
  const Tensor targets = tensor({0, 6, 3, -100, 2, 1, 1, 5, -100, 4}, {2, 5});
  const Tensor flat_logits = logits.detach().clone().set_requires_grad();
  Tensor loss = cross_entropy(logits, targets, -100, 0.1f);
  Tensor flat = cross_entropy(reshape(flat_logits, {10, 7}), reshape(targets, {10}), -100, 0.1f);
  CHECK(testing::bitwise_equal(loss, flat));  // the same numbers as reshaping to [B*T,V]
  loss.backward();
  flat.backward();
  CHECK(testing::bitwise_equal(logits.grad(), flat_logits.grad()));  // the reshape's backward undoes it
  REQUIRE_NOTHROW(gradcheck([&](const Inputs& v) { return cross_entropy(v[0], targets); }, {logits}));
}

TEST_CASE("pytorch api: cross_entropy names the shapes and says the class dim is last") {
  const Tensor logits = zeros({2, 7, 5});
  // PyTorch's layout [N,C,d1]: the classes in dim 1, so the targets [2,5] match no qkv layout
  CHECK_THAT(ERROR_OF(cross_entropy(logits, zeros({2, 5}))),
             Contains("cross_entropy: needs logits [N,V] with targets [N] or [B,T,V] with [B,T]") &&
                 Contains("class dim last, unlike PyTorch's [N,C,d1]") && Contains("got [2,7,5] and [2,5]"));
  CHECK_THAT(ERROR_OF(cross_entropy(zeros({5}), zeros({5}))), Contains("got [5] and [5]"));
  CHECK_THAT(ERROR_OF(cross_entropy(zeros({2, 3, 4, 5}), zeros({2, 3, 4}))), Contains("got [2,3,4,5]"));
  CHECK_THAT(ERROR_OF(cross_entropy(logits, tensor({0, 1, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {2, 7}))),
             Contains("target 9 at row 2 is not a class in [0, 5)"));
}
