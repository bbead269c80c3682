// Beam search (nn/beam_search.h): beam size 1 is greedy decoding; a beam wide enough to keep every
// candidate finds the best-scoring target by brute force, with and without the length penalty; bad
// settings are named errors.
#include <cmath>

#include "helpers.h"
#include "nn/beam_search.h"
#include "nn/decode.h"

using namespace qkv;
using namespace qkv::nn;
using namespace qkv::testing;
using Catch::Contains;

namespace {

constexpr int64_t kPad = 0, kBos = 1, kEos = 2;

Tensor random_ids(int64_t B, int64_t T, int64_t lo, int64_t hi) {
  Tensor ids = Tensor::empty({B, T});
  for (int64_t i = 0; i < ids.numel(); ++i)
    ids.mutable_data()[i] = float(default_generator().randint(lo, hi));
  return ids;
}

// log P(token | source, prefix) for every token, from one full decoder forward: [V], in double
std::vector<double> next_log_probs(EncoderDecoder& model, const Tensor& src, const Tensor& lens,
                                   const std::vector<int64_t>& prefix) {
  std::vector<float> ids{float(kBos)};
  for (int64_t t : prefix) ids.push_back(float(t));
  const Tensor logits = model.forward(src, lens, tensor(ids, {1, int64_t(ids.size())}));  // [1,T,V]
  const int64_t V = logits.size(2), T = logits.size(1);
  const float* row = logits.data() + (T - 1) * V;
  double max = row[0], sum = 0;
  for (int64_t v = 0; v < V; ++v) max = std::max(max, double(row[v]));
  for (int64_t v = 0; v < V; ++v) sum += std::exp(double(row[v]) - max);
  std::vector<double> lp(V);
  for (int64_t v = 0; v < V; ++v) lp[v] = double(row[v]) - max - std::log(sum);
  return lp;
}

}  // namespace

TEST_CASE("beam search: beam size 1 is greedy decoding") {
  manual_seed(12);
  EncoderDecoder model(TransformerConfig{9, BlockConfig{16, 24, 2, 0.0f}, 2, 10});
  model.eval();
  const Tensor src = random_ids(6, 7, 3, 9), lens = tensor({7, 3, 5, 7, 1, 4});
  for (int64_t steps : {1, 4, 10}) {
    INFO("max_steps " << steps);
    const Tensor greedy = greedy_decode(model, src, lens, kBos, kEos, steps, kPad);
    CHECK(bitwise_equal(beam_search(model, src, lens, kBos, kEos, steps, {.beam_size = 1}, kPad), greedy));
    CHECK(
        bitwise_equal(greedy_decode(model, src, lens, kBos, kEos, steps, kPad, /*use_cache=*/true), greedy));
  }
}

TEST_CASE("beam search: a beam that keeps every candidate finds the best target, length penalty or not") {
  // V = 5 and two steps: 5 first tokens, then 4 x 5 extensions and the one that ended at eos, 21 targets
  // in all: a beam of 25 never drops one, so it must return the brute-force best.
  manual_seed(13);
  EncoderDecoder model(TransformerConfig{5, BlockConfig{16, 24, 2, 0.0f}, 1, 6});
  model.eval();
  NoGrad no_grad;
  for (int64_t trial = 0; trial < 4; ++trial) {
    const Tensor src = random_ids(1, 4, 3, 5), lens = tensor({4});
    for (double alpha : {0.0, 0.75}) {
      INFO("trial " << trial << ", length_penalty " << alpha);
      std::vector<int64_t> best;
      double best_score = -INFINITY;
      auto consider = [&](const std::vector<int64_t>& tokens, double log_p) {
        const double score = log_p / std::pow(double(tokens.size()), alpha);
        if (score > best_score) best = tokens, best_score = score;
      };
      const std::vector<double> first = next_log_probs(model, src, lens, {});
      for (int64_t y1 = 0; y1 < 5; ++y1) {
        if (y1 == kEos) {
          consider({y1}, first[y1]);
          continue;
        }
        const std::vector<double> second = next_log_probs(model, src, lens, {y1});
        for (int64_t y2 = 0; y2 < 5; ++y2) consider({y1, y2}, first[y1] + second[y2]);
      }
      const Tensor out =
          beam_search(model, src, lens, kBos, kEos, 2, {.beam_size = 25, .length_penalty = alpha});
      std::vector<float> want(2, float(kPad));
      for (size_t t = 0; t < best.size(); ++t) want[t] = float(best[t]);
      CHECK(out.to_vector() == want);
    }
  }
}

TEST_CASE("beam search: bad settings are named errors") {
  manual_seed(14);
  EncoderDecoder model(TransformerConfig{9, BlockConfig{16, 24, 2, 0.0f}, 1, 6});
  model.eval();
  const Tensor src = random_ids(2, 3, 3, 9), lens = tensor({3, 2});
  CHECK_THAT(ERROR_OF(beam_search(model, src, lens, kBos, kEos, 4, {.beam_size = 0})),
             Contains("beam_search: beam_size must be >= 1, got 0"));
  CHECK_THAT(ERROR_OF(beam_search(model, src, lens, kBos, kEos, 4, {.length_penalty = -1})),
             Contains("beam_search: length_penalty must be finite and >= 0, got -1"));
  CHECK_THAT(ERROR_OF(beam_search(model, src, lens, kBos, kEos, 7, {})),
             Contains("beam_search: max_steps=7 is past max_len=6"));
  CHECK_THAT(ERROR_OF(beam_search(model, src, lens, kBos, kEos, 0, {})),
             Contains("beam_search: max_steps must be >= 1, got 0"));
}
