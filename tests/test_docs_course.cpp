// The numbers, shapes and messages that the course (docs/*.md) shows, checked so the text cannot go stale.
// Each TEST_CASE names the chapter it backs.
#include <cmath>

#include "autograd/gradcheck.h"
#include "helpers.h"
#include "nn/multi_head_attention.h"
#include "nn/positional_encoding.h"
#include "tensor/matmul.h"

using namespace qkv;
using namespace qkv::nn;
using Catch::Contains;

TEST_CASE("docs/02-tensors: the broadcasting example, views and copies, printing, errors") {
  const Tensor a = tensor({1, 2, 3}, {3, 1}), b = tensor({10, 20});
  CHECK_CLOSE(a + b, tensor({11, 21, 12, 22, 13, 23}, {3, 2}));
  CHECK(contiguous_strides({2, 3, 4}) == std::vector<int64_t>{12, 4, 1});

  // the chapter's block on shares_storage_with:
  const Tensor x = arange(6);
  const bool shared = reshape(x, {2, 3}).shares_storage_with(x);  // true: same numbers, new shape
  const Tensor xt = transpose(reshape(x, {2, 3}), 0, 1);          // a new [3,2] tensor: 0 3 / 1 4 / 2 5
  CHECK(shared);
  CHECK_FALSE(xt.shares_storage_with(x));
  CHECK_CLOSE(xt, tensor({0, 3, 1, 4, 2, 5}, {3, 2}));
  CHECK(x.detach().shares_storage_with(x));
  CHECK_FALSE(slice(x, 0, 1, 4).shares_storage_with(x));

  CHECK(x.view({2, 3}).str() ==
        "tensor([[0.0000, 1.0000, 2.0000],\n        [3.0000, 4.0000, 5.0000]], shape=[2,3])");

  CHECK(ERROR_OF(matmul(zeros({2, 3}), zeros({4, 5}))) == "matmul: inner dimensions differ: [2,3] @ [4,5]");
  CHECK(ERROR_OF(zeros({2, 3}) + zeros({4, 3})) == "add: shapes [2,3] and [4,3] cannot be broadcast");
  CHECK(ERROR_OF(reshape(zeros({2, 3}), {4, 2})) == "reshape: cannot reshape [2,3] (6 elements) into [4,2]");
  CHECK(ERROR_OF(zeros({2, 3}).at({0, 5})) == "at: index 5 out of range for dim 1 of shape [2,3]");
}

TEST_CASE("docs/03-autograd: micrograd's README expression gives micrograd's numbers") {
  Tensor a = scalar(-4).set_requires_grad();
  Tensor b = scalar(2).set_requires_grad();
  Tensor c = a + b;
  Tensor d = a * b + pow(b, 3);
  c = c + (c + 1.0f);
  c = c + (1.0f + c + (-a));
  d = d + (d * 2.0f + relu(b + a));
  d = d + (3.0f * d + relu(b - a));
  Tensor e = c - d;
  Tensor f = pow(e, 2);
  Tensor g = f / 2.0f;
  g = g + scalar(10) / f;
  g.backward();
  CHECK(g.item() == Catch::Approx(24.7041).epsilon(1e-4));
  CHECK(a.grad().item() == Catch::Approx(138.8338).epsilon(1e-4));
  CHECK(b.grad().item() == Catch::Approx(645.5773).epsilon(1e-4));
}

TEST_CASE("docs/03-autograd: accumulation, retain_graph, in-place detection") {
  Tensor x = tensor({1, 2}).set_requires_grad();
  Tensor y = exp(x);  // exp saves its output y for the backward
  Tensor loss = sum(y);
  loss.backward(/*retain_graph=*/true);
  loss.backward();  // a second backward adds to x.grad
  CHECK_CLOSE(x.grad(), mul(exp(tensor({1, 2})), 2.0f));
  CHECK_THAT(ERROR_OF(loss.backward()), Contains("already freed") && Contains("retain_graph"));

  Tensor z = exp(x);  // exp saves its output z
  Tensor total = sum(z);
  z.mutable_data()[0] = 0;  // the version of z's storage goes up
  CHECK_THAT(ERROR_OF(total.backward()),
             Contains("backward: a tensor of shape [2] saved by 'exp' was modified in place"));
}

TEST_CASE("docs/05-attention-scoring: the masking numbers of the chapter") {
  const Tensor scores = tensor({1, 2, 3, 4}, {1, 1, 4});
  // valid_len 2: [0.2689, 0.7311, 0, 0]
  CHECK_CLOSE(masked_softmax(scores, Mask::from_valid_lens(tensor({2}))),
              tensor({0.2689f, 0.7311f, 0, 0}, {1, 1, 4}), 1e-4f);
  // 2-D valid_lens: query 0 sees 1 key, query 1 sees 3
  const Tensor two = masked_softmax(tensor({1, 2, 3, 4, 1, 2, 3, 4}, {1, 2, 4}),
                                    Mask::from_valid_lens(tensor({1, 3}, {1, 2})));
  CHECK_CLOSE(two, tensor({1, 0, 0, 0, 0.0900f, 0.2447f, 0.6652f, 0}, {1, 2, 4}), 1e-4f);
  // the -1e-25 bug: the padding keeps [0.0826, 0.0826]
  const Tensor padding = tensor({0, 0, 1, 1}, {1, 1, 4});
  CHECK_CLOSE(softmax(masked_fill(scores, padding, -1e-25f), -1),
              tensor({0.2245f, 0.6103f, 0.0826f, 0.0826f}, {1, 1, 4}), 1e-4f);
  // d2l's -1e6: right for a partly masked row, uniform for a fully masked one; -inf gives zeros
  CHECK_CLOSE(softmax(masked_fill(scores, padding, -1e6f), -1), tensor({0.2689f, 0.7311f, 0, 0}, {1, 1, 4}),
              1e-4f);
  CHECK_CLOSE(softmax(masked_fill(scores, ones({1, 1, 4}), -1e6f), -1), full({1, 1, 4}, 0.25f));
  CHECK_CLOSE(masked_softmax(scores, Mask::from_valid_lens(tensor({0}))), zeros({1, 1, 4}));
  // the query-axis bug: query 0 keeps softmax([1,2,3,4]) and puts 0.88 on the two padding keys
  const Tensor row = softmax(tensor({1, 2, 3, 4}), -1);
  CHECK_CLOSE(row, tensor({0.0321f, 0.0871f, 0.2369f, 0.6439f}), 1e-4f);
  // causal with T = 2 queries and S = 4 keys is bottom-right aligned
  CHECK_CLOSE(Mask::causal().keep(1, 2, 4), tensor({1, 1, 1, 0, 1, 1, 1, 1}, {1, 2, 4}));
}

TEST_CASE("docs/07-positional-encoding: the first rows, and relative positions as a rotation") {
  const Tensor P = sinusoidal_table(60, 32);
  CHECK_CLOSE(
      narrow(narrow(P, 0, 0, 3), 1, 0, 4),
      tensor({0, 1, 0, 1, 0.8415f, 0.5403f, 0.5332f, 0.8460f, 0.9093f, -0.4161f, 0.9021f, 0.4315f}, {3, 4}),
      1e-4f);
  // P[i + delta] = M(delta) P[i]: for each pair (2j, 2j+1), a 2x2 rotation that does not depend on i.
  const int64_t delta = 5;
  for (int64_t i = 0; i + delta < 60; i += 7) {
    for (int64_t j = 0; j < 16; ++j) {
      const double w = std::pow(10000.0, -2.0 * double(j) / 32), c = std::cos(delta * w),
                   s = std::sin(delta * w);
      const double sin_i = P.at({i, 2 * j}), cos_i = P.at({i, 2 * j + 1});
      CHECK(P.at({i + delta, 2 * j}) == Catch::Approx(c * sin_i + s * cos_i).margin(1e-5));
      CHECK(P.at({i + delta, 2 * j + 1}) == Catch::Approx(-s * sin_i + c * cos_i).margin(1e-5));
    }
  }
}
