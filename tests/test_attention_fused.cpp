// The fused multi-head attention (autograd's multi_head_attention, tensor/attention.h) against the
// composed form it replaces: split_heads, scaled_dot_product_attention, merge_heads. Same numbers, bit for
// bit, forward and backward, with every kind of mask and with dropout; then gradcheck and errors.
#include <cmath>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "catch.h"
#include "helpers.h"
#include "nn/multi_head_attention.h"
#include "tensor/attention.h"
#include "tensor/creation.h"
#include "tensor/elementwise.h"
#include "tensor/parallel.h"

using namespace qkv;
using namespace qkv::nn;
using qkv::testing::bitwise_equal;

namespace {

struct Case {
  const char* name;
  int64_t B, T, S, H, Dh, Dv;
  Mask mask;
};

// out and the gradients of q, k, v for one loss, by the fused op or by the composition.
struct Run {
  Tensor out, weights, dq, dk, dv;
};

Run run(const Case& c, bool fused, float dropout_p, uint64_t seed) {
  manual_seed(42);
  Tensor q = randn({c.B, c.T, c.H * c.Dh}).set_requires_grad();
  Tensor k = randn({c.B, c.S, c.H * c.Dh}).set_requires_grad();
  Tensor v = randn({c.B, c.S, c.H * c.Dv}).set_requires_grad();
  const Tensor w = randn({c.B, c.T, c.H * c.Dv});  // the loss sum(out * w) weighs every output
  manual_seed(seed);                               // the dropout draws, the same in both
  Run r;
  if (fused) {
    const Tensor keep = c.mask.empty() ? Tensor() : c.mask.keep(c.B, c.T, c.S);
    r.out = multi_head_attention(q, k, v, c.H, keep, dropout_p, true, &r.weights);
  } else {
    AttentionResult a = scaled_dot_product_attention(split_heads(q, c.H), split_heads(k, c.H),
                                                     split_heads(v, c.H), c.mask, dropout_p, true);
    r.out = merge_heads(a.output);
    r.weights = a.weights;
  }
  sum(r.out * w).backward();
  r.dq = q.grad();
  r.dk = k.grad();
  r.dv = v.grad();
  return r;
}

std::vector<Case> cases() {
  return {
      {"no mask", 2, 5, 5, 4, 8, 8, Mask()},
      {"valid_lens, cross-attention T != S, Dv != Dh", 3, 4, 7, 2, 5, 3,
       Mask::from_valid_lens(tensor({7, 2, 4}))},
      {"per-query valid_lens", 2, 3, 4, 2, 4, 4, Mask::from_valid_lens(tensor({1, 2, 4, 4, 3, 1}, {2, 3}))},
      {"causal", 2, 6, 6, 3, 4, 4, Mask::causal()},
      {"causal and padding, a fully masked row", 2, 5, 5, 2, 4, 4,
       Mask::causal() & Mask::from_valid_lens(tensor({5, 0}))},
      // Past 16 keys the kernel cuts each map into blocks of 16 and stops every product at the last key
      // a row keeps (tensor/attention.cpp, KeyExtents): the composition computes whole maps.
      {"causal and padding over blocks of keys (T = S = 40)", 2, 40, 40, 2, 8, 8,
       Mask::causal() & Mask::from_valid_lens(tensor({40, 29}))},
      {"causal cross-attention over blocks, T < S (bottom-right aligned)", 2, 21, 37, 2, 5, 3,
       Mask::causal()},
  };
}

}  // namespace

TEST_CASE("fused attention: equals split_heads + scaled_dot_product_attention + merge_heads, bit for bit") {
  for (const Case& c : cases())
    for (float p : {0.0f, 0.3f}) {
      INFO(c.name << ", dropout " << p);
      const Run fused = run(c, true, p, 7), composed = run(c, false, p, 7);
      CHECK(bitwise_equal(fused.out, composed.out));
      CHECK(bitwise_equal(fused.weights, composed.weights));
      CHECK(bitwise_equal(fused.dq, composed.dq));
      CHECK(bitwise_equal(fused.dk, composed.dk));
      CHECK(bitwise_equal(fused.dv, composed.dv));
    }
}

TEST_CASE("fused attention: the same bits with 1 and 2 threads") {
  qkv::testing::RestoreThreads restore;
  const Case c{"big enough to split", 4, 16, 16, 4, 8, 8, Mask::causal()};
  set_num_threads(1);
  const Run one = run(c, true, 0.1f, 3);
  set_num_threads(2);
  const Run two = run(c, true, 0.1f, 3);
  CHECK(bitwise_equal(one.out, two.out));
  CHECK(bitwise_equal(one.dq, two.dq));
  CHECK(bitwise_equal(one.dk, two.dk));
  CHECK(bitwise_equal(one.dv, two.dv));
}

TEST_CASE("fused attention: gradcheck with a padding mask, with and without dropout") {
  manual_seed(5);
  const Tensor q = randn({2, 3, 6}), k = randn({2, 4, 6}), v = randn({2, 4, 4});
  const Tensor keep = Mask::from_valid_lens(tensor({4, 2})).keep(2, 3, 4);
  for (float p : {0.0f, 0.25f}) {
    INFO("dropout " << p);
    REQUIRE_NOTHROW(gradcheck(
        [&](const std::vector<Tensor>& x) {
          manual_seed(9);  // the same dropout mask on every evaluation
          return multi_head_attention(x[0], x[1], x[2], 2, keep, p, true);
        },
        {q.clone().set_requires_grad(), k.clone().set_requires_grad(), v.clone().set_requires_grad()}));
  }
}

TEST_CASE("fused attention: bad shapes are named") {
  const Tensor q = zeros({2, 3, 8}), k = zeros({2, 4, 8}), v = zeros({2, 4, 8});
  CHECK_THAT(qkv::testing::error_of([&] { multi_head_attention(q, k, v, 3, Tensor(), 0, false); }),
             Catch::Contains("multi_head_attention") && Catch::Contains("H=3"));
  CHECK_THAT(qkv::testing::error_of([&] {
               multi_head_attention(q, zeros({2, 4, 6}), v, 2, Tensor(), 0, false);
             }),
             Catch::Contains("q and k widths differ") && Catch::Contains("[2,4,6]"));
  CHECK_THAT(qkv::testing::error_of([&] {
               multi_head_attention(q, k, zeros({2, 5, 8}), 2, Tensor(), 0, false);
             }),
             Catch::Contains("k and v lengths differ"));
  CHECK_THAT(qkv::testing::error_of([&] {
               multi_head_attention(q, k, v, 2, zeros({2, 3, 5}), 0, false);
             }),
             Catch::Contains("keep must be [B|1,T|1,S]") && Catch::Contains("[2,3,5]"));
  CHECK_THAT(qkv::testing::error_of([&] { multi_head_attention(q, k, v, 2, Tensor(), 1.0f, true); }),
             Catch::Contains("dropout p must be in [0, 1)"));
  // the kernel's backward checks what it is given as the forward's weights [B,H,T,S] = [2,2,3,4]
  CHECK_THAT(qkv::testing::error_of([&] {
               kernels::attention_backward(zeros({2, 3, 8}), q, k, v, zeros({2, 2, 3, 5}), {}, {}, 2, 1.0f);
             }),
             Catch::Contains("attention_backward") && Catch::Contains("weights must be [2,2,3,4]") &&
                 Catch::Contains("[2,2,3,5]"));
}

TEST_CASE("fused attention: self-attention from one packed qkv equals the three-tensor op, bit for bit") {
  // qkv [B,T,3D] holds Q, K, V side by side; the three-tensor op gets the three column blocks as copies.
  const int64_t B = 2, T = 5, H = 2, D = 8;
  for (float p : {0.0f, 0.3f}) {
    for (const Mask& mask : {Mask(), Mask::causal() & Mask::from_valid_lens(tensor({5, 0}))}) {
      INFO("dropout " << p << ", masked " << !mask.empty());
      manual_seed(3);
      Tensor qkv = randn({B, T, 3 * D}).set_requires_grad();
      Tensor q = narrow(qkv, 2, 0, D).detach().set_requires_grad();
      Tensor k = narrow(qkv, 2, D, D).detach().set_requires_grad();
      Tensor v = narrow(qkv, 2, 2 * D, D).detach().set_requires_grad();
      const Tensor w = randn({B, T, D});
      const Tensor keep = mask.empty() ? Tensor() : mask.keep(B, T, T);
      Tensor packed_weights, split_weights;
      manual_seed(8);
      const Tensor packed = multi_head_self_attention(qkv, H, keep, p, true, &packed_weights);
      manual_seed(8);
      const Tensor split = multi_head_attention(q, k, v, H, keep, p, true, &split_weights);
      CHECK(bitwise_equal(packed, split));
      CHECK(bitwise_equal(packed_weights, split_weights));
      sum(packed * w).backward();
      sum(split * w).backward();
      CHECK(bitwise_equal(qkv.grad(), concat({q.grad(), k.grad(), v.grad()}, 2)));
    }
  }
  REQUIRE_NOTHROW(gradcheck(
      [](const std::vector<Tensor>& x) { return multi_head_self_attention(x[0], 2, Tensor(), 0, false); },
      {randn({2, 3, 12}).set_requires_grad()}));
  CHECK_THAT(qkv::testing::error_of([] {
               multi_head_self_attention(zeros({2, 3, 10}), 2, Tensor(), 0, false);
             }),
             Catch::Contains("multi_head_self_attention") && Catch::Contains("[2,3,10]"));
}

TEST_CASE("fused attention: MultiHeadAttention on one x (joint projection) matches three separate inputs") {
  // forward(x, x, x) takes the joint Q/K/V projection; forward(x, copy, copy) the three projections. The
  // outputs are bitwise equal; x's gradient adds the same terms in another grouping, so it is only close.
  manual_seed(1);
  MultiHeadAttention joint(16, 4, 0.0f, /*bias=*/true), separate(16, 4, 0.0f, true);
  const NamedTensors pj = joint.named_parameters(), ps = separate.named_parameters();  // same order
  for (size_t i = 0; i < pj.size(); ++i) {
    Tensor dst = ps[i].second;
    kernels::copy_(dst, pj[i].second);
  }
  const Tensor x = randn({3, 6, 16});
  const Mask mask = Mask::from_valid_lens(tensor({6, 2, 4}));
  Tensor xa = x.clone().set_requires_grad(), xb = x.clone().set_requires_grad();
  const Tensor ya = joint.forward(xa, xa, xa, mask);
  // reshape gives new handles (differentiable views) on xb: not the same tensor, so not the joint path
  const Tensor yb = separate.forward(xb, reshape(xb, xb.shape()), reshape(xb, xb.shape()), mask);
  CHECK(bitwise_equal(ya, yb));
  CHECK(bitwise_equal(joint.attention_weights, separate.attention_weights));
  sum(ya * ya).backward();
  sum(yb * yb).backward();
  CHECK(qkv::testing::allclose(xa.grad(), xb.grad()));
  for (size_t i = 0; i < pj.size(); ++i) {
    INFO(pj[i].first);
    CHECK(qkv::testing::allclose(pj[i].second.grad(), ps[i].second.grad()));
  }
}
