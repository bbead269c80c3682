// The PyTorch-shaped API of issue 13, tested as a PyTorch user would reach for it: abs and scalar-first
// arithmetic, cross_entropy on [B,T,V] logits, optimizers and clipping. Reference numbers were computed once with PyTorch 1.13
// (the snippet is beside each).
#include <cmath>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "helpers.h"
#include "nn/optim.h"

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

// ---- optimizers: hyperparameters in double, as PyTorch's Python floats ----

namespace {

// |a - b| <= rel |b| everywhere: float precision is about 6e-8 relative.
bool close_relative(const std::vector<float>& a, const std::vector<float>& b, double rel) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!(std::fabs(double(a[i]) - b[i]) <= rel * std::fabs(double(b[i])))) return false;
  return true;
}

}  // namespace

TEST_CASE("pytorch api: Adam's moments match PyTorch's to float precision") {
  // p = torch.tensor([1.0, -0.5, 0.25, 2.0], requires_grad=True)
  // opt = torch.optim.Adam([p], lr=0.01, betas=(0.9, 0.999), eps=1e-8)
  // for g in grads: p.grad = torch.tensor(g); opt.step()       (PyTorch 1.13, CPU)
  // With 1 - 0.999f computed in float, exp_avg_sq came out 1.29e-5 relative below these numbers.
  Tensor p = tensor({1.0f, -0.5f, 0.25f, 2.0f}).set_requires_grad();
  nn::Adam adam({{"p", p}}, 0.01, 0.9, 0.999, 1e-8);
  const std::vector<std::vector<float>> grads = {
      {0.5f, -1.0f, 2.0f, 1e-3f}, {0.25f, 0.75f, -1.5f, 3.0f}, {-0.125f, 0.5f, 1.0f, -2.0f}};
  for (const auto& g : grads) {
    p.set_grad(tensor(g));
    adam.step();
  }
  const std::vector<float> exp_avg = {0.05050000175833702f, 0.036500006914138794f, 0.12699998915195465f,
                                      0.07008101046085358f};
  const std::vector<float> exp_avg_sq = {0.0003275627677794546f, 0.0018099385779350996f,
                                         0.007239754311740398f, 0.012991001829504967f};
  const std::vector<float> param = {0.9750415682792664f, -0.4908399283885956f, 0.23609153926372528f,
                                    1.9813145399093628f};
  const NamedTensors state = adam.state();  // step, exp_avg.p, exp_avg_sq.p
  CHECK(close_relative(state[1].second.to_vector(), exp_avg, 1e-6));
  CHECK(close_relative(state[2].second.to_vector(), exp_avg_sq, 1e-6));
  CHECK(close_relative(p.to_vector(), param, 1e-6));
}

TEST_CASE("pytorch api: hyperparameters and schedules keep the double the user wrote") {
  Tensor p = tensor({1.0f}).set_requires_grad();
  nn::SGD sgd({{"p", p}}, 0.1, 0.9);
  CHECK(sgd.lr == 0.1);  // not float(0.1) = 0.100000001490116
  nn::Schedule cosine{nn::Schedule::cosine, 0.1, 0, 100, 0.01};
  CHECK(cosine.lr_at(0) == 0.1);
  CHECK(cosine.lr_at(100) == 0.01);
  CHECK_THAT(ERROR_OF(nn::Adam({{"p", p}}, 1e-3, 0.9, 1 - 1e-12, 1e-8)), Contains("(no error)"));
  CHECK_THAT(ERROR_OF(nn::Adam({{"p", p}}, 1e-3, 0.9, 1.0)),
             Contains("Adam: beta2 must be in [0, 1), got 1"));
  CHECK_THAT(ERROR_OF(nn::SGD({{"p", p}}, 1e300)), Contains("(no error)"));
  CHECK_THAT(ERROR_OF(nn::SGD({{"p", p}}, -0.1)), Contains("Optimizer: lr must be finite and >= 0, got -0.1"));
}

// ---- clip_grad_norm: the optimizers' named parameters, non-finite norms reported ----

TEST_CASE("pytorch api: clip_grad_norm takes named parameters and scales all gradients together") {
  // a.grad = [3], b.grad = [4, 0]: torch.nn.utils.clip_grad_norm_([a, b], 1.0) -> 5, grads * 1 / (5 + 1e-6)
  Tensor a = tensor({1.0f}).set_requires_grad(), b = tensor({1.0f, 1.0f}).set_requires_grad();
  a.set_grad(tensor({3.0f}));
  b.set_grad(tensor({4.0f, 0.0f}));
  nn::SGD sgd({{"a", a}, {"b", b}}, 0.1);
  CHECK(nn::clip_grad_norm(sgd.params(), 1.0) == 5.0f);
  CHECK(a.grad().item() == Catch::Approx(0.6).epsilon(1e-6));
  CHECK(b.grad().to_vector()[0] == Catch::Approx(0.8).epsilon(1e-6));
}

TEST_CASE("pytorch api: clip_grad_norm reports a NaN or inf total norm by name unless told not to") {
  const float nan = std::nanf(""), inf = INFINITY;
  for (const float bad : {nan, inf}) {
    Tensor a = tensor({1.0f}).set_requires_grad(), b = tensor({1.0f, 1.0f}).set_requires_grad();
    a.set_grad(tensor({3.0f}));
    b.set_grad(tensor({4.0f, bad}));
    const NamedTensors params = {{"a", a}, {"b", b}};
    const std::string text = std::isnan(bad) ? "nan" : "inf";
    CHECK_THAT(ERROR_OF(nn::clip_grad_norm(params, 1.0)),
               Contains("clip_grad_norm: the total norm of the gradients is " + text) &&
                   Contains("the gradient of \"b\" holds " + text + " at index 1") &&
                   Contains("error_if_nonfinite = false"));
    CHECK(a.grad().item() == 3.0f);  // nothing scaled
    const float norm = nn::clip_grad_norm(params, 1.0, /*error_if_nonfinite=*/false);
    CHECK(std::isnan(norm) == std::isnan(bad));
    CHECK(a.grad().item() == 3.0f);  // a non-finite norm scales nothing
  }
  CHECK_THAT(ERROR_OF(nn::clip_grad_norm({}, 0.0)),
             Contains("clip_grad_norm: max_norm must be finite and > 0, got 0"));
}
