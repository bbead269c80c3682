// Tests for tensor/elementwise.h: hand-worked values, NumPy's broadcasting rules, named errors, and the
// same bits for any thread count. Adding an op? Give it one hand-worked TEST_CASE here.
#include <cmath>
#include <limits>

#include "catch.h"
#include "kernel_checks.h"
#include "tensor/creation.h"
#include "tensor/elementwise.h"
#include "tensor/parallel.h"

using namespace qkv;
using qkv::testing::check_values;

TEST_CASE("elementwise: same-shape arithmetic by hand") {
  const Tensor a = tensor({1, 2, 3, 4}, {2, 2}), b = tensor({4, 3, 2, 1}, {2, 2});
  check_values(kernels::add(a, b), {2, 2}, {5, 5, 5, 5});
  check_values(kernels::sub(a, b), {2, 2}, {-3, -1, 1, 3});
  check_values(kernels::mul(a, b), {2, 2}, {4, 6, 6, 4});
  check_values(kernels::div(a, b), {2, 2}, {0.25f, 2.0f / 3, 1.5f, 4});
  check_values(kernels::maximum(a, b), {2, 2}, {4, 3, 3, 4});
}

TEST_CASE("elementwise: [2,3] + [3] adds the row to every row") {
  const Tensor x = tensor({0, 1, 2, 3, 4, 5}, {2, 3}), row = tensor({10, 20, 30});
  check_values(kernels::add(x, row), {2, 3}, {10, 21, 32, 13, 24, 35});
  check_values(kernels::add(row, x), {2, 3}, {10, 21, 32, 13, 24, 35});
}

TEST_CASE("elementwise: [2,1] + [1,3] gives the outer sum [2,3]") {
  const Tensor col = tensor({1, 2}, {2, 1}), row = tensor({10, 20, 30}, {1, 3});
  check_values(kernels::add(col, row), {2, 3}, {11, 21, 31, 12, 22, 32});
}

TEST_CASE("elementwise: [4,1,3] times [2,1] broadcasts to [4,2,3]") {
  const Tensor a = arange(12).view({4, 1, 3}), b = tensor({1, -1}, {2, 1});
  const Tensor out = kernels::mul(a, b);
  REQUIRE(out.shape() == Shape{4, 2, 3});
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 2; ++j)
      for (int64_t k = 0; k < 3; ++k) CHECK(out.at({i, j, k}) == a.at({i, 0, k}) * b.at({j, 0}));
}

TEST_CASE("elementwise: a 0-d scalar broadcasts against anything") {
  const Tensor s = scalar(2), x = arange(6).view({1, 2, 3});
  check_values(kernels::mul(x, s), {1, 2, 3}, {0, 2, 4, 6, 8, 10});
  check_values(kernels::sub(s, x), {1, 2, 3}, {2, 1, 0, -1, -2, -3});
  check_values(kernels::add(s, s), {}, {4});
}

TEST_CASE("elementwise: a middle broadcast dim ([2,1,2] + [2,3,2]) walks the general path") {
  const Tensor a = tensor({1, 2, 3, 4}, {2, 1, 2}), b = zeros({2, 3, 2});
  check_values(kernels::add(a, b), {2, 3, 2}, {1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4});
  const Tensor c = tensor({100, 200}, {2, 1, 1});
  check_values(kernels::add(c, a), {2, 1, 2}, {101, 102, 203, 204});
}

TEST_CASE("elementwise: shapes that do not broadcast throw a named error") {
  REQUIRE_THROWS_WITH(kernels::add(zeros({2, 3}), zeros({4, 3})),
                      Catch::Contains("add") && Catch::Contains("[2,3]") && Catch::Contains("[4,3]") &&
                          Catch::Contains("cannot be broadcast"));
  REQUIRE_THROWS_WITH(kernels::mul(zeros({2, 3}), zeros({2})),
                      Catch::Contains("mul") && Catch::Contains("[2]"));
  REQUIRE_THROWS_AS(kernels::where(zeros({2}), zeros({3}), zeros({2})), Error);
}

TEST_CASE("elementwise: comparisons give 1 where true and 0 where false") {
  const Tensor a = tensor({1, 2, 3}), b = tensor({2, 2, 2});
  check_values(kernels::eq(a, b), {3}, {0, 1, 0});
  check_values(kernels::ne(a, b), {3}, {1, 0, 1});
  check_values(kernels::lt(a, b), {3}, {1, 0, 0});
  check_values(kernels::le(a, b), {3}, {1, 1, 0});
  check_values(kernels::gt(a, b), {3}, {0, 0, 1});
  check_values(kernels::ge(a, b), {3}, {0, 1, 1});
}

TEST_CASE("elementwise: where picks a or b, broadcasting all three") {
  const Tensor cond = tensor({1, 0, 1}), a = tensor({1, 2}, {2, 1}), b = scalar(-1);
  check_values(kernels::where(cond, a, b), {2, 3}, {1, -1, 1, 2, -1, 2});
}

TEST_CASE("elementwise: masked_fill fills where the mask is nonzero, the mask stretching to x") {
  const Tensor x = arange(6).view({2, 3}), mask = tensor({0, 1, 1});
  const float ninf = -std::numeric_limits<float>::infinity();
  check_values(kernels::masked_fill(x, mask, ninf), {2, 3}, {0, ninf, ninf, 3, ninf, ninf});
  REQUIRE_THROWS_WITH(kernels::masked_fill(zeros({3}), zeros({2, 3}), 0),
                      Catch::Contains("masked_fill") && Catch::Contains("[2,3]") && Catch::Contains("[3]"));
}

TEST_CASE("elementwise: scalar ops") {
  const Tensor x = tensor({1, 2, 4});
  check_values(kernels::add_scalar(x, 1), {3}, {2, 3, 5});
  check_values(kernels::mul_scalar(x, -2), {3}, {-2, -4, -8});
  check_values(kernels::pow_scalar(x, 2), {3}, {1, 4, 16});
  check_values(kernels::pow_scalar(x, -0.5f), {3}, {1, 1 / std::sqrt(2.0f), 0.5f});
}

TEST_CASE("elementwise: unary ops by hand") {
  const Tensor x = tensor({-1, 0, 2});
  check_values(kernels::neg(x), {3}, {1, 0, -2});
  check_values(kernels::exp(x), {3}, {std::exp(-1.0f), 1, std::exp(2.0f)}, 1e-5f);
  check_values(kernels::log(tensor({1, std::exp(1.0f)})), {2}, {0, 1});
  check_values(kernels::sqrt(tensor({4, 9})), {2}, {2, 3});
  check_values(kernels::abs(x), {3}, {1, 0, 2});
  check_values(kernels::tanh(x), {3}, {std::tanh(-1.0f), 0, std::tanh(2.0f)});
  check_values(kernels::relu(x), {3}, {0, 0, 2});
}

TEST_CASE("elementwise: sigmoid is exact at 0 and does not overflow at +-100") {
  check_values(kernels::sigmoid(tensor({0, 100, -100, 2})), {4}, {0.5f, 1, 0, 1 / (1 + std::exp(-2.0f))});
  CHECK(kernels::sigmoid(tensor({-100})).item() > 0);  // e^-100 survives: no 0/0 or 1 - 1
}

TEST_CASE("elementwise: gelu is exact (erf), matching values from PyTorch") {
  // torch.nn.functional.gelu(torch.tensor([-1., 0., 1., 3.]))
  check_values(kernels::gelu(tensor({-1, 0, 1, 3})), {4}, {-0.15865526f, 0, 0.84134474f, 2.99595031f}, 1e-6f);
}

TEST_CASE("elementwise: gelu equals x times normal_cdf(x) bit for bit (autograd's gelu composes them)") {
  const Tensor x = kernels::mul_scalar(randn({1000}), 3);
  CHECK(qkv::testing::bitwise_equal(kernels::gelu(x), kernels::mul(x, kernels::normal_cdf(x))));
}

TEST_CASE("elementwise: relu_backward and gelu_backward match central differences") {
  const Tensor x = tensor({-1.5f, -0.3f, 0.4f, 2.0f}), g = tensor({1, 2, 3, 4});
  check_values(kernels::relu_backward(g, x), {4}, {0, 0, 3, 4});
  const Tensor dx = kernels::gelu_backward(g, x, kernels::normal_cdf(x));
  for (int64_t i = 0; i < 4; ++i) {
    const float v = x.data()[i], h = 1e-3f;
    const double slope =
        (kernels::gelu(scalar(v + h)).item() - kernels::gelu(scalar(v - h)).item()) / (2.0 * h);
    CHECK(dx.data()[i] == Catch::Approx(g.data()[i] * slope).epsilon(1e-3));
  }
}

TEST_CASE("elementwise: in-place ops write into dst and bump its version") {
  Tensor dst = tensor({1, 2, 3});
  const uint64_t v0 = dst.version();
  kernels::add_(dst, tensor({1, 1, 1}), 2);
  check_values(dst, {3}, {3, 4, 5});
  kernels::mul_(dst, 2);
  check_values(dst, {3}, {6, 8, 10});
  kernels::copy_(dst, tensor({7, 8, 9}));
  check_values(dst, {3}, {7, 8, 9});
  kernels::fill_(dst, -1);
  check_values(dst, {3}, {-1, -1, -1});
  CHECK(dst.version() > v0);
}

TEST_CASE("elementwise: in-place ops need equal shapes and say so") {
  Tensor dst = zeros({2, 3});
  REQUIRE_THROWS_WITH(kernels::add_(dst, zeros({3})),
                      Catch::Contains("add_") && Catch::Contains("[2,3]") && Catch::Contains("[3]"));
  REQUIRE_THROWS_WITH(kernels::copy_(dst, zeros({3, 2})),
                      Catch::Contains("copy_") && Catch::Contains("[3,2]"));
}

TEST_CASE("elementwise: results are bitwise identical with 1 and 2 threads") {
  qkv::testing::RestoreThreads restore;
  Generator gen(7);
  const Tensor a = randn({200, 500}, gen), b = randn({500}, gen), c = randn({4, 1, 500}, gen);
  set_num_threads(1);
  const Tensor one = kernels::gelu(kernels::add(a, b)), one_b = kernels::mul(c, a);
  set_num_threads(2);
  const Tensor two = kernels::gelu(kernels::add(a, b)), two_b = kernels::mul(c, a);
  CHECK(qkv::testing::bitwise_equal(one, two));
  CHECK(qkv::testing::bitwise_equal(one_b, two_b));
}

TEST_CASE("elementwise: empty tensors give empty results") {
  check_values(kernels::add(zeros({0, 3}), zeros({3})), {0, 3}, {});
  check_values(kernels::exp(zeros({2, 0})), {2, 0}, {});
}
