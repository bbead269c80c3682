// Ragged batches (nn/ragged.h, kernels::RaggedRows): attention on sequences stored end to end without
// padding gives, for every real row, the numbers the padded batch with valid_lens masks gives, forward
// and backward, with causal masks and dropout; gradcheck; the encoder-decoder on ragged batches against
// the padded one; and the errors.
#include <vector>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "helpers.h"
#include "nn/models.h"
#include "tensor/creation.h"

using namespace qkv;
using namespace qkv::nn;
using Catch::Contains;
using qkv::testing::allclose;
using qkv::testing::bitwise_equal;

namespace {

// Row indices of the real tokens of a padded [B,T] batch: b*T + t for t < lengths[b].
Tensor real_rows(const std::vector<int64_t>& lengths, int64_t T) {
  std::vector<float> rows;
  for (size_t b = 0; b < lengths.size(); ++b)
    for (int64_t t = 0; t < lengths[b]; ++t) rows.push_back(float(int64_t(b) * T + t));
  return tensor(rows);
}

std::vector<int64_t> splits_of(const std::vector<int64_t>& lengths) {
  std::vector<int64_t> s{0};
  for (int64_t n : lengths) s.push_back(s.back() + n);
  return s;
}

// The real rows of x [B,T,W] as [N,W].
Tensor gather(const Tensor& x, const std::vector<int64_t>& lengths) {
  return index_select(reshape(x, {-1, x.size(2)}), 0, real_rows(lengths, x.size(1))).detach();
}

struct Result {
  Tensor out, weights, dq, dk, dv;
};

// q [B,T,H*Dh], k, v [B,S,...] padded; the loss sum(out * w) with w zero on padded query rows, so that
// padded rows contribute nothing (as in a model whose loss ignores them).
Result attend(Tensor q, Tensor k, Tensor v, const Tensor& w, int64_t H, const Tensor& keep, float p,
              const kernels::RaggedRows* ragged) {
  q.set_requires_grad();
  k.set_requires_grad();
  v.set_requires_grad();
  manual_seed(11);  // the same dropout draws for both layouts (the maps are [B,H,T,S] in both)
  Result r;
  r.out = multi_head_attention(q, k, v, H, keep, p, true, &r.weights, default_generator(), ragged);
  sum(r.out * w).backward();
  r.dq = q.grad();
  r.dk = k.grad();
  r.dv = v.grad();
  return r;
}

}  // namespace

TEST_CASE("ragged attention: every real row as in the padded batch with valid_lens, forward and backward") {
  const int64_t B = 3, T = 4, S = 5, H = 2, Dh = 3, Dv = 2;
  struct Case {
    const char* name;
    std::vector<int64_t> q_lens, k_lens;
    bool causal;
  };
  // The longest sequences fill T and S, so both layouts draw the same [B,H,T,S] dropout masks.
  const std::vector<Case> cases = {{"cross-attention", {3, 1, 4}, {2, 5, 3}, false},
                                   {"causal self-attention", {3, 1, 4}, {3, 1, 4}, true},
                                   {"an empty source sequence", {2, 4, 1}, {5, 0, 3}, false}};
  for (const Case& c : cases)
    for (float p : {0.0f, 0.3f}) {
      INFO(c.name << ", dropout " << p);
      const int64_t Sc = c.causal ? T : S;
      manual_seed(3);
      const Tensor q = randn({B, T, H * Dh}), k = randn({B, Sc, H * Dh}), v = randn({B, Sc, H * Dv});
      // w zero on padded query rows
      Tensor w = randn({B, T, H * Dv});
      for (int64_t b = 0; b < B; ++b)
        for (int64_t t = c.q_lens[b]; t < T; ++t)
          for (int64_t j = 0; j < H * Dv; ++j) w.mutable_data()[(b * T + t) * H * Dv + j] = 0;

      Mask padded_mask =
          Mask::from_valid_lens(tensor({float(c.k_lens[0]), float(c.k_lens[1]), float(c.k_lens[2])}));
      if (c.causal) padded_mask = padded_mask & Mask::causal();
      const Result padded = attend(q, k, v, w, H, padded_mask.keep(B, T, Sc), p, nullptr);

      const kernels::RaggedRows rows{splits_of(c.q_lens), splits_of(c.k_lens)};
      const Tensor keep = c.causal ? Mask::causal().keep(1, T, Sc) : Tensor();
      const Result ragged = attend(gather(q, c.q_lens), gather(k, c.k_lens), gather(v, c.k_lens),
                                   gather(w, c.q_lens), H, keep, p, &rows);

      // The forward: the same bits. The weights: the same on real query rows, 0 on padded ones.
      CHECK(bitwise_equal(ragged.out, gather(padded.out, c.q_lens)));
      REQUIRE(ragged.weights.shape() == padded.weights.shape());
      for (int64_t b = 0; b < B; ++b)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t t = 0; t < T; ++t)
            for (int64_t s = 0; s < Sc; ++s) {
              const int64_t i = ((b * H + h) * T + t) * Sc + s;
              const float expected = t < c.q_lens[b] ? padded.weights.data()[i] : 0.0f;
              if (ragged.weights.data()[i] != expected)
                FAIL("weights differ at " << b << "," << h << "," << t << "," << s);
            }
      // The backward: the same up to rounding (a softmax row's dot product runs over S_b keys, not S).
      CHECK(allclose(ragged.dq, gather(padded.dq, c.q_lens), 1e-6f, 1e-5f));
      CHECK(allclose(ragged.dk, gather(padded.dk, c.k_lens), 1e-6f, 1e-5f));
      CHECK(allclose(ragged.dv, gather(padded.dv, c.k_lens), 1e-6f, 1e-5f));
    }
}

TEST_CASE(
    "ragged attention: gradcheck, cross-attention with dropout and causal self-attention from one qkv") {
  manual_seed(5);
  const kernels::RaggedRows cross{{0, 2, 5}, {0, 4, 5}};
  REQUIRE_NOTHROW(gradcheck(
      [&](const std::vector<Tensor>& x) {
        manual_seed(9);  // the same dropout mask on every evaluation
        return multi_head_attention(x[0], x[1], x[2], 2, Tensor(), 0.25f, true, nullptr, default_generator(),
                                    &cross);
      },
      {randn({5, 6}).set_requires_grad(), randn({5, 6}).set_requires_grad(),
       randn({5, 4}).set_requires_grad()}));
  const kernels::RaggedRows self{{0, 3, 4, 6}, {0, 3, 4, 6}};
  const Tensor causal = Mask::causal().keep(1, 3, 3);
  REQUIRE_NOTHROW(gradcheck(
      [&](const std::vector<Tensor>& x) {
        return multi_head_self_attention(x[0], 2, causal, 0, false, nullptr, default_generator(), &self);
      },
      {randn({6, 12}).set_requires_grad()}));
}

TEST_CASE("ragged attention: bad splits, ranks and masks are named") {
  const Tensor q = zeros({5, 4}), kv = zeros({6, 4});
  auto attend_with = [&](const kernels::RaggedRows& rows) {
    return ERROR_OF(
        multi_head_attention(q, kv, kv, 2, Tensor(), 0, false, nullptr, default_generator(), &rows));
  };
  CHECK_THAT(attend_with({{0, 2, 4}, {0, 3, 6}}), Contains("q_splits") && Contains("5 rows"));
  CHECK_THAT(attend_with({{0, 3, 5}, {0, 4, 3, 6}}), Contains("k_splits") && Contains("3 query splits"));
  CHECK_THAT(attend_with({{0, 3, 5}, {0, 7, 6}}), Contains("k_splits") && Contains("rise from 0"));
  CHECK_THAT(attend_with({{1, 3, 5}, {0, 3, 6}}), Contains("q_splits") && Contains("from 1 to 5"));
  const kernels::RaggedRows rows{{0, 2, 5}, {0, 3, 6}};
  CHECK_THAT(ERROR_OF(multi_head_attention(zeros({1, 5, 4}), kv, kv, 2, Tensor(), 0, false, nullptr,
                                           default_generator(), &rows)),
             Contains("multi_head_attention") && Contains("[Nq,H*Dh]") && Contains("[1,5,4]"));
  CHECK_THAT(ERROR_OF((Mask::ragged({0, 2}, {0, 2}) & Mask::from_valid_lens(tensor({2}))).keep(1, 2, 2)),
             Contains("ragged") && Contains("valid_lens"));
  CHECK_THAT(ERROR_OF((Mask::ragged({0, 2}, {0, 3}) & Mask::causal()).keep(1, 2, 3)),
             Contains("causal") && Contains("self-attention"));
  MultiHeadAttention mha(4, 2);
  CHECK_THAT(ERROR_OF(mha.forward(zeros({1, 5, 4}), zeros({1, 5, 4}), zeros({1, 5, 4}),
                                  Mask::ragged({0, 5}, {0, 5}))),
             Contains("MultiHeadAttention") && Contains("ragged queries [Nq,query_size]"));
}

TEST_CASE("ragged batch: from_padded keeps the first tokens of each row, with their positions") {
  const RaggedBatch r = RaggedBatch::from_padded(tensor({5, 7, 0, 0, 9, 8, 6, 0}, {2, 4}), tensor({2, 3}));
  CHECK(r.ids.to_vector() == std::vector<float>{5, 7, 9, 8, 6});
  CHECK(r.positions.to_vector() == std::vector<float>{0, 1, 0, 1, 2});
  CHECK(r.splits == std::vector<int64_t>{0, 2, 5});
  CHECK(r.batch_size() == 2);
  CHECK(r.length(1) == 3);
  CHECK_THAT(ERROR_OF(RaggedBatch::from_padded(zeros({2, 4}), tensor({2, 5}))),
             Contains("from_padded") && Contains("0..4") && Contains("sequence 1"));
  CHECK_THAT(ERROR_OF(RaggedBatch::from_padded(zeros({2, 4}), tensor({1.5f, 2}))), Contains("whole numbers"));
  CHECK_THAT(ERROR_OF(RaggedBatch::from_padded(zeros({8}), tensor({2, 2}))),
             Contains("[B,T]") && Contains("[8]"));
}

TEST_CASE("ragged batch: the encoder-decoder gives the padded model's logits and gradients for real tokens") {
  manual_seed(1);
  TransformerConfig c{9, BlockConfig{8, 12, 2, 0.0f, true, false, Activation::relu}, 2, 16};
  EncoderDecoder model(c);
  const Tensor src = tensor({3, 4, 5, 0, 6, 3, 0, 0, 7, 8, 3, 5}, {3, 4}), src_lens = tensor({3, 2, 4});
  const Tensor tgt_in = tensor({1, 5, 4, 3, 0, 1, 3, 6, 0, 0, 1, 5, 3, 8, 7}, {3, 5}),
               tgt_lens = tensor({4, 3, 5});
  const Tensor targets = tensor({5, 4, 3, 2, 0, 3, 6, 2, 0, 0, 5, 3, 8, 7, 2}, {3, 5});
  const std::vector<int64_t> tgt_lengths{4, 3, 5};

  const auto params = model.parameters();
  auto grads = [&] {
    std::vector<Tensor> g;
    for (const Tensor& p : params) g.push_back(p.grad().clone());
    return g;
  };
  const Tensor padded_logits = model.forward(src, src_lens, tgt_in);  // [3,5,9]
  cross_entropy(reshape(padded_logits, {-1, 9}), reshape(targets, {-1}), 0).backward();
  const std::vector<Tensor> padded_grads = grads();
  model.zero_grad();

  const RaggedBatch rs = RaggedBatch::from_padded(src, src_lens),
                    rt = RaggedBatch::from_padded(tgt_in, tgt_lens);
  const Tensor logits = model.forward(rs, rt);  // [12,9]
  CHECK(logits.shape() == Shape{12, 9});
  CHECK(allclose(logits, gather(padded_logits, tgt_lengths), 1e-6f, 1e-5f));
  cross_entropy(logits, RaggedBatch::from_padded(targets, tgt_lens).ids, 0).backward();
  const std::vector<Tensor> ragged_grads = grads();
  for (size_t i = 0; i < params.size(); ++i) {
    INFO("parameter " << i);
    CHECK(allclose(ragged_grads[i], padded_grads[i], 1e-6f, 1e-4f));
  }
  CHECK_THAT(ERROR_OF(model.forward(rs, RaggedBatch::from_padded(narrow(tgt_in, 0, 0, 2), tensor({1, 1})))),
             Contains("EncoderDecoder") && Contains("3 and 2"));
}

TEST_CASE("ragged batch: both positional encodings add each row's own position, as on the padded batch") {
  manual_seed(4);
  const Tensor x = randn({2, 3, 4});  // padded [B,T,D]
  const std::vector<int64_t> lengths{2, 3};
  const Tensor positions = tensor({0, 1, 0, 1, 2});
  PositionalEncoding sinusoid(4, 0.0f, 8);
  CHECK(bitwise_equal(sinusoid.forward(gather(x, lengths), positions), gather(sinusoid.forward(x), lengths)));
  LearnedPositionalEncoding learned(4, 0.0f, 8);
  CHECK(bitwise_equal(learned.forward(gather(x, lengths), positions),
                      gather(learned.forward(x), lengths).detach()));
  CHECK_THAT(ERROR_OF(sinusoid.forward(x, positions)), Contains("PositionalEncoding") && Contains("[2,3,4]"));
  CHECK_THAT(ERROR_OF(learned.forward(gather(x, lengths), tensor({0, 1}))),
             Contains("LearnedPositionalEncoding") && Contains("positions [N]") && Contains("[2]"));
}
