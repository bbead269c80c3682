// Tests for tensor/softmax.h: values by hand, rows summing to 1 along any dim, stability at +-1e30,
// fully masked rows (zeros, never NaN), and both backward kernels against central differences.
#include <cmath>
#include <limits>

#include "catch.h"
#include "kernel_checks.h"
#include "tensor/creation.h"
#include "tensor/elementwise.h"
#include "tensor/reduce.h"
#include "tensor/softmax.h"

using namespace qkv;
using qkv::testing::check_values;

namespace {
constexpr float kInf = std::numeric_limits<float>::infinity();
}

TEST_CASE("softmax: values by hand") {
  const float e1 = std::exp(1.0f), e2 = std::exp(2.0f), z = 1 + e1 + e2;
  check_values(kernels::softmax(tensor({0, 1, 2}), 0), {3}, {1 / z, e1 / z, e2 / z});
  check_values(kernels::log_softmax(tensor({0, 1, 2}), 0), {3},
               {-std::log(z), 1 - std::log(z), 2 - std::log(z)}, 1e-6f);
}

TEST_CASE("softmax: rows sum to 1 along every dim") {
  Generator gen(1);
  const Tensor x = kernels::mul_scalar(randn({3, 4, 5}, gen), 5);
  for (int64_t d = -3; d < 3; ++d) {
    const Tensor totals = kernels::sum(kernels::softmax(x, d), d);
    for (float t : totals.to_vector()) CHECK(t == Catch::Approx(1).epsilon(1e-6));
    // log_softmax is the log of softmax, along the same dim.
    const Tensor logs = kernels::log(kernels::softmax(x, d)), direct = kernels::log_softmax(x, d);
    for (int64_t i = 0; i < x.numel(); ++i) CHECK(direct.data()[i] == Catch::Approx(logs.data()[i]).margin(1e-5));
  }
}

TEST_CASE("softmax: stable for logits of +-1e30") {
  const Tensor x = tensor({1e30f, 0, -1e30f, 1e30f}, {1, 4});
  check_values(kernels::softmax(x, 1), {1, 4}, {0.5f, 0, 0, 0.5f});
  const Tensor ls = kernels::log_softmax(x, 1);
  CHECK(ls.at({0, 0}) == Catch::Approx(-std::log(2.0f)));
  CHECK(ls.at({0, 1}) == Catch::Approx(-1e30f));
  check_values(kernels::softmax(tensor({-1e30f, -1e30f}), 0), {2}, {0.5f, 0.5f});
}

TEST_CASE("softmax: a row of -inf gives zeros (log_softmax: -inf), never NaN") {
  const Tensor x = tensor({-kInf, -kInf, -kInf, 0, -kInf, 1}, {2, 3});
  const float e = std::exp(1.0f);
  check_values(kernels::softmax(x, 1), {2, 3}, {0, 0, 0, 1 / (1 + e), 0, e / (1 + e)});
  check_values(kernels::log_softmax(x, 1), {2, 3},
               {-kInf, -kInf, -kInf, -std::log(1 + e), -kInf, 1 - std::log(1 + e)}, 1e-6f);
  // and its gradient is zero, too
  const Tensor dx = kernels::softmax_backward(kernels::softmax(x, 1), ones({2, 3}), 1);
  for (float v : dx.to_vector()) CHECK(v == 0);
}

TEST_CASE("softmax: backward matches central differences (dim 0 and dim -1)") {
  Generator gen(5);
  Tensor x = randn({3, 4}, gen);
  const Tensor w = randn({3, 4}, gen);  // loss = sum(w * softmax(x)), so dloss/dy = w
  for (int64_t dim : {0, -1}) {
    for (bool log : {false, true}) {
      auto forward = [&] { return log ? kernels::log_softmax(x, dim) : kernels::softmax(x, dim); };
      auto loss = [&] { return static_cast<double>(kernels::sum_all(kernels::mul(w, forward())).item()); };
      const Tensor y = forward();
      const Tensor dx = log ? kernels::log_softmax_backward(y, w, dim) : kernels::softmax_backward(y, w, dim);
      for (int64_t i : {0, 5, 11}) {
        INFO("dim " << dim << (log ? " log_softmax" : " softmax") << ", element " << i);
        CHECK(dx.data()[i] == Catch::Approx(qkv::testing::central_difference(x, i, loss)).margin(2e-3));
      }
    }
  }
}

TEST_CASE("softmax: bad dims and mismatched gradients throw named errors") {
  REQUIRE_THROWS_WITH(kernels::softmax(zeros({2, 3}), 2),
                      Catch::Contains("softmax") && Catch::Contains("[2,3]"));
  REQUIRE_THROWS_WITH(kernels::softmax_backward(zeros({2, 3}), zeros({3, 2}), 1),
                      Catch::Contains("softmax_backward") && Catch::Contains("[3,2]"));
  REQUIRE_THROWS_WITH(kernels::log_softmax_backward(zeros({2}), zeros({3}), 0),
                      Catch::Contains("log_softmax_backward") && Catch::Contains("[3]"));
}
