// The backward engine: known gradients worked by hand, accumulation, no_grad, detach, graph freeing,
// in-place detection, deep graphs, and every bad-input error.
#include <cmath>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "helpers.h"

using namespace qkv;
using Catch::Contains;

TEST_CASE("autograd: gradients of a small expression match the hand-worked values") {
  // f(a, b) = sum(a * b + exp(a)),  df/da = b + exp(a),  df/db = a
  Tensor a = tensor({0.0f, 1.0f}).set_requires_grad();
  Tensor b = tensor({2.0f, -3.0f}).set_requires_grad();
  Tensor f = sum(a * b + exp(a));
  CHECK(f.item() == Catch::Approx(0 * 2 + 1 * -3 + std::exp(0.0f) + std::exp(1.0f)));
  f.backward();
  CHECK_CLOSE(a.grad(), tensor({2.0f + 1.0f, -3.0f + std::exp(1.0f)}));
  CHECK_CLOSE(b.grad(), tensor({0.0f, 1.0f}));
}

TEST_CASE("autograd: micrograd's example expression") {
  // a = -4, b = 2; c = a + b; d = a * b + b^3; e = c - d; g = e^2 / 2  -> dg/da = e * (1 - b), dg/db = e * (1 - a - 3b^2)
  Tensor a = scalar(-4).set_requires_grad();
  Tensor b = scalar(2).set_requires_grad();
  Tensor c = a + b;
  Tensor d = a * b + pow(b, 3);
  Tensor e = c - d;
  Tensor g = pow(e, 2) / 2.0f;
  g.backward();
  const float ev = (-4 + 2) - (-8 + 8);  // -2
  CHECK(g.item() == Catch::Approx(ev * ev / 2));
  CHECK(a.grad().item() == Catch::Approx(ev * (1 - 2)));
  CHECK(b.grad().item() == Catch::Approx(ev * (1 - (-4) - 3 * 4)));
}

TEST_CASE("autograd: a value used twice gets both gradients summed") {
  Tensor x = scalar(3).set_requires_grad();
  Tensor y = x * x + x;  // dy/dx = 2x + 1
  y.backward();
  CHECK(x.grad().item() == Catch::Approx(7));
}

TEST_CASE("autograd: gradients accumulate across backward calls until zero_grad") {
  Tensor x = tensor({1.0f, 2.0f}).set_requires_grad();
  sum(x * 3.0f).backward();
  sum(x * 3.0f).backward();
  CHECK_CLOSE(x.grad(), tensor({6.0f, 6.0f}));
  x.zero_grad();
  CHECK_FALSE(x.grad().defined());
  sum(x).backward();
  CHECK_CLOSE(x.grad(), tensor({1.0f, 1.0f}));
}

TEST_CASE("autograd: a leaf's first gradient is its own, even when backward shared it") {
  // add's backward hands one gradient tensor to both inputs: each leaf must get a gradient of its own,
  // or adding into one would change the other.
  Tensor a = tensor({1.0f, 2.0f}).set_requires_grad();
  Tensor b = tensor({3.0f, 4.0f}).set_requires_grad();
  Tensor out = a + b;
  Tensor grad_output = tensor({1.0f, 1.0f});
  out.backward(grad_output);
  CHECK_FALSE(a.grad().shares_storage_with(b.grad()));
  CHECK_FALSE(a.grad().shares_storage_with(grad_output));
  sum(a * 5.0f).backward();  // adds into a's gradient only
  CHECK_CLOSE(a.grad(), tensor({6.0f, 6.0f}));
  CHECK_CLOSE(b.grad(), tensor({1.0f, 1.0f}));
  CHECK_CLOSE(grad_output, tensor({1.0f, 1.0f}));
}

TEST_CASE("tensor: is_sole_owner sees copies, views and detached handles") {
  // What decides whether backward may take a gradient over instead of copying it.
  Tensor t = tensor({1.0f, 2.0f});
  CHECK(t.is_sole_owner());
  {
    const Tensor copy = t;  // the same tensor
    CHECK_FALSE(t.is_sole_owner());
  }
  CHECK(t.is_sole_owner());
  {
    const Tensor view = t.view({2, 1});  // another tensor on the same data
    CHECK_FALSE(t.is_sole_owner());
  }
  {
    const Tensor detached = t.detach();
    CHECK_FALSE(t.is_sole_owner());
  }
  CHECK(t.clone().is_sole_owner());
  CHECK_FALSE(Tensor().is_sole_owner());
}

TEST_CASE("autograd: broadcast operands get gradients of their own shape") {
  Tensor x = ones({2, 3, 4}).set_requires_grad();
  Tensor bias = zeros({4}).set_requires_grad();
  Tensor scale = ones({3, 1}).set_requires_grad();
  sum((x + bias) * scale).backward();
  CHECK(bias.grad().shape() == Shape{4});
  CHECK_CLOSE(bias.grad(), full({4}, 6));      // 2*3 positions each
  CHECK_CLOSE(scale.grad(), full({3, 1}, 8));  // 2*4 ones each
}

TEST_CASE("autograd: no_grad records nothing and detach cuts the graph") {
  Tensor x = tensor({1.0f, 2.0f}).set_requires_grad();
  {
    NoGrad guard;
    Tensor y = x * 2.0f;
    CHECK_FALSE(y.requires_grad());
    CHECK(y.is_leaf());
  }
  CHECK(is_grad_enabled());
  Tensor d = x.detach();
  CHECK_FALSE(d.requires_grad());
  CHECK(d.shares_storage_with(x));
  Tensor y = x * d;  // d is a constant: dy/dx = d
  sum(y).backward();
  CHECK_CLOSE(x.grad(), tensor({1.0f, 2.0f}));
}

TEST_CASE("autograd: a second backward through a freed graph is a clear error, unless retained") {
  Tensor x = scalar(2).set_requires_grad();
  Tensor y = x * x;
  y.backward(/*retain_graph=*/true);
  y.backward();
  CHECK(x.grad().item() == Catch::Approx(8));
  CHECK_THAT(ERROR_OF(y.backward()),
             Contains("backward") && Contains("already freed") && Contains("retain_graph"));
}

TEST_CASE("autograd: backward on bad input names the problem") {
  Tensor x = tensor({1.0f, 2.0f}).set_requires_grad();
  Tensor y = x * 2.0f;
  CHECK_THAT(ERROR_OF(y.backward()), Contains("backward") && Contains("[2]") && Contains("one-element"));
  CHECK_THAT(ERROR_OF(y.backward(ones({3}))), Contains("grad_output of shape [3]") && Contains("[2]"));
  Tensor c = ones({2});
  CHECK_THAT(ERROR_OF(sum(c).backward()), Contains("does not require grad"));
  CHECK_THAT(ERROR_OF(Tensor().backward()), Contains("undefined"));
  y.backward(ones({2}));  // the right gradient works
  CHECK_CLOSE(x.grad(), tensor({2.0f, 2.0f}));
}

TEST_CASE("autograd: changing a saved tensor in place before backward is detected") {
  Tensor a = tensor({1.0f, 2.0f}).set_requires_grad();
  Tensor b = tensor({3.0f, 4.0f});
  Tensor y = sum(a * b);  // mul saves b for da = b * dy
  b.set({0}, 10.0f);
  CHECK_THAT(ERROR_OF(y.backward()), Contains("mul") && Contains("modified in place"));
}

TEST_CASE("autograd: a graph of 100000 ops neither overflows the stack nor leaks") {
  Tensor x = scalar(1).set_requires_grad();
  Tensor y = x;
  for (int i = 0; i < 100000; ++i) y = y * 1.0f;
  y.backward();
  CHECK(x.grad().item() == 1.0f);
  // And one dropped without backward is freed without recursion (the sanitizer build checks leaks).
  Tensor z = x;
  for (int i = 0; i < 100000; ++i) z = z + 1.0f;
  z = Tensor();
  SUCCEED();
}

TEST_CASE("autograd: set_requires_grad cannot be turned off on a computed tensor") {
  Tensor x = scalar(1).set_requires_grad();
  Tensor y = x * 2.0f;
  CHECK_THAT(ERROR_OF(y.set_requires_grad(false)), Contains("non-leaf"));
}

TEST_CASE("gradcheck: reports the input, the worst index and both values on a wrong backward") {
  // An op with a deliberately wrong derivative: y = x^2 with backward 3x.
  auto wrong_square = [](const std::vector<Tensor>& in) {
    const Tensor& x = in[0];
    return record("wrong_square", kernels::mul(x, x), {x}, {x}, [](const Tensor& g, auto& ctx) {
      return std::vector<Tensor>{kernels::mul(g, kernels::mul_scalar(ctx.saved[0], 3))};
    });
  };
  Tensor x = tensor({0.5f, -1.0f, 2.0f}, {3}).set_requires_grad();
  const std::string msg = ERROR_OF(gradcheck(wrong_square, {x}));
  CHECK_THAT(msg, Contains("gradcheck") && Contains("input 0") && Contains("[3]") &&
                      Contains("worst at index [") && Contains("analytic") && Contains("numeric"));
  // The right one passes, and the input is left as it was.
  auto square = [](const std::vector<Tensor>& in) { return in[0] * in[0]; };
  const GradcheckResult r = gradcheck(square, {x});
  CHECK(r.checked == 3);
  CHECK_CLOSE(x.detach(), tensor({0.5f, -1.0f, 2.0f}));
}
