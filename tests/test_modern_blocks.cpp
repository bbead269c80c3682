// The modern block options of issue 15 as ops: RMSNorm, rotary position embeddings and SwiGLU's gate.
// Each against the same formula composed from primitive ops, then gradcheck, then its refusals.
#include <cmath>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "helpers.h"
#include "tensor/rope.h"

using namespace qkv;
using Catch::Contains;
using Inputs = std::vector<Tensor>;

// x / sqrt(mean(x^2) + eps) * gamma from primitives
static Tensor rms_norm_composed(const Tensor& x, const Tensor& gamma, float eps) {
  const Tensor rstd = div(1.0f, sqrt(mean(x * x, -1, true) + eps));
  return x * rstd * gamma;
}

TEST_CASE("rms_norm: equals its composition from primitives, forward and gradients") {
  manual_seed(3);
  const Tensor x = randn({2, 3, 8}).set_requires_grad();
  const Tensor gamma = randn({8}).set_requires_grad();
  const Tensor y = rms_norm(x, gamma, 1e-5f);
  const Tensor ref = rms_norm_composed(x, gamma, 1e-5f);
  CHECK_CLOSE(y.detach(), ref.detach());
  const Tensor w = randn({2, 3, 8});
  sum(y * w).backward();
  const Tensor dx = x.grad().clone(), dgamma = gamma.grad().clone();
  x.zero_grad();
  gamma.zero_grad();
  sum(ref * w).backward();
  CHECK_CLOSE(dx, x.grad());
  CHECK_CLOSE(dgamma, gamma.grad());
  // a hand-worked row: x = (3, 4), mean square 12.5, y = x / sqrt(12.5)
  CHECK_CLOSE(rms_norm(tensor({3, 4}, {1, 2}), Tensor(), 0.0001f).detach(),
              tensor({3 / std::sqrt(12.5001f), 4 / std::sqrt(12.5001f)}, {1, 2}));
}

TEST_CASE("rms_norm: gradcheck with and without gamma") {
  manual_seed(4);
  const Tensor x = randn({3, 5}).set_requires_grad();
  const Tensor gamma = randn({5}).set_requires_grad();
  REQUIRE_NOTHROW(gradcheck([](const Inputs& v) { return rms_norm(v[0], v[1]); }, {x, gamma}));
  REQUIRE_NOTHROW(gradcheck([](const Inputs& v) { return rms_norm(v[0], Tensor()); }, {x}));
}

TEST_CASE("rms_norm: refuses a gamma of the wrong width, an empty last dim and eps <= 0") {
  CHECK_THAT(ERROR_OF(rms_norm(ones({2, 4}), ones({3}))), Contains("rms_norm") && Contains("[3]"));
  CHECK_THAT(ERROR_OF(rms_norm(ones({2, 0}), Tensor())), Contains("rms_norm") && Contains("[2,0]"));
  CHECK_THAT(ERROR_OF(rms_norm(ones({2, 4}), Tensor(), 0.0f)), Contains("rms_norm") && Contains("eps"));
}

// RoPE from primitives: each head's halves (a, b) -> (a cos - b sin, b cos + a sin)
static Tensor rope_composed(const Tensor& x, int64_t H, int64_t offset, float base) {
  const int64_t B = x.size(0), T = x.size(1), D = x.size(2), Dh = D / H, half = Dh / 2;
  Tensor c({T, 1, half}), s({T, 1, half});
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < half; ++i) {
      const double angle = double(offset + t) * std::pow(double(base), -2.0 * double(i) / double(Dh));
      c.set({t, 0, i}, float(std::cos(angle)));
      s.set({t, 0, i}, float(std::sin(angle)));
    }
  const Tensor heads = reshape(x, {B, T, H, Dh});
  const Tensor a = slice(heads, 3, 0, half), b = slice(heads, 3, half, Dh);
  return reshape(concat({a * c - b * s, b * c + a * s}, 3), {B, T, D});
}

TEST_CASE("rope: equals its composition from primitives, with a position offset") {
  manual_seed(5);
  const Tensor x = randn({2, 5, 12}).set_requires_grad();  // H = 3 heads of Dh = 4
  for (int64_t offset : {0, 7}) {
    const Tensor y = rope(x, 3, offset);
    const Tensor ref = rope_composed(x, 3, offset, 10000.0f);
    CHECK_CLOSE(y.detach(), ref.detach());
    const Tensor w = randn({2, 5, 12});
    x.zero_grad();
    sum(y * w).backward();
    const Tensor dx = x.grad().clone();
    x.zero_grad();
    sum(ref * w).backward();
    CHECK_CLOSE(dx, x.grad());
  }
  // position 0 turns nothing; rows t of a forward at offset 0 are rows t - 2 of a forward at offset 2
  CHECK(testing::bitwise_equal(slice(rope(x, 3), 1, 0, 1).detach(), slice(x, 1, 0, 1).detach()));
  CHECK(
      testing::bitwise_equal(slice(rope(x, 3, 0), 1, 2, 5).detach(), rope(slice(x, 1, 2, 5), 3, 2).detach()));
  REQUIRE_NOTHROW(gradcheck([](const Inputs& v) { return rope(v[0], 3, 4); }, {x}));
}

TEST_CASE("rope: a turned query and key meet by j - i only (the relative-position property)") {
  manual_seed(6);
  const Tensor q = randn({1, 1, 8}), k = randn({1, 1, 8});  // one head of Dh = 8
  auto score = [&](int64_t i, int64_t j) { return sum(rope(q, 1, i) * rope(k, 1, j)).item(); };
  for (int64_t shift : {0, 3, 50, 400}) {
    CHECK(std::fabs(score(2 + shift, 5 + shift) - score(2, 5)) < 1e-4f);
    CHECK(std::fabs(score(9 + shift, 1 + shift) - score(9, 1)) < 1e-4f);
  }
  CHECK(std::fabs(score(2, 5) - score(2, 6)) > 1e-3f);  // and it does depend on j - i
  // the backward is the turn backwards: rope then its inverse gives x back
  const Tensor x = randn({2, 4, 8});
  CHECK_CLOSE(kernels::rope(kernels::rope(x, 2, 3, 10000.0f), 2, 3, 10000.0f, true), x);
}

TEST_CASE("rope: refuses an odd head width, a width not split by H, a negative offset and a bad base") {
  CHECK_THAT(ERROR_OF(rope(ones({1, 2, 6}), 2)), Contains("rope") && Contains("[1,2,6]") && Contains("even"));
  CHECK_THAT(ERROR_OF(rope(ones({1, 2, 8}), 3)), Contains("rope") && Contains("H = 3"));
  CHECK_THAT(ERROR_OF(rope(ones({1, 2, 8}), 2, -1)), Contains("rope") && Contains("pos_offset"));
  CHECK_THAT(ERROR_OF(rope(ones({1, 2, 8}), 2, 0, 1.0f)), Contains("rope") && Contains("base"));
  CHECK_THAT(ERROR_OF(rope(ones({8}), 2)), Contains("rope") && Contains("[8]"));
}

TEST_CASE("swiglu: equals silu(a) times b from primitives, forward and gradients, and gradcheck") {
  manual_seed(7);
  const Tensor a = randn({3, 6}).set_requires_grad(), b = randn({3, 6}).set_requires_grad();
  const Tensor y = swiglu(a, b), ref = a * sigmoid(a) * b;
  CHECK_CLOSE(y.detach(), ref.detach());
  sum(y).backward();
  const Tensor da = a.grad().clone(), db = b.grad().clone();
  a.zero_grad();
  b.zero_grad();
  sum(ref).backward();
  CHECK_CLOSE(da, a.grad());
  CHECK_CLOSE(db, b.grad());
  CHECK_CLOSE(swiglu(tensor({0, 2}, {2}), tensor({5, 1}, {2})).detach(),
              tensor({0, 2 / (1 + std::exp(-2.0f))}, {2}));  // silu(0) = 0, silu(2) = 2 sigmoid(2)
  REQUIRE_NOTHROW(gradcheck([](const Inputs& v) { return swiglu(v[0], v[1]); }, {a, b}));
  CHECK_THAT(ERROR_OF(swiglu(ones({2, 3}), ones({3, 2}))), Contains("swiglu") && Contains("[3,2]"));
}
