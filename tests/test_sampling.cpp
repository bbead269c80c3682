// Sampling (nn/sampling.h): greedy and top_k 1 are the argmax, top_p keeps the smallest set reaching p,
// seeded draws follow the softmax, the same seed gives the same tokens, and every bad value is named.
#include <cmath>

#include "helpers.h"
#include "nn/decode.h"

using namespace qkv;
using namespace qkv::nn;
using namespace qkv::testing;
using Catch::Contains;

namespace {
// n identical rows of the given logits: [n, V]
Tensor repeated_rows(const std::vector<float>& logits, int64_t n) {
  std::vector<float> all;
  for (int64_t i = 0; i < n; ++i) all.insert(all.end(), logits.begin(), logits.end());
  return tensor(all, {n, int64_t(logits.size())});
}
}  // namespace

TEST_CASE("sampling: bad settings are named errors") {
  auto error = [](SamplingConfig c) { return ERROR_OF(validate(c)); };
  CHECK_THAT(error({.temperature = -1}),
             Contains("SamplingConfig: temperature must be finite and >= 0, got -1"));
  CHECK_THAT(error({.temperature = NAN}),
             Contains("SamplingConfig: temperature must be finite and >= 0, got nan"));
  CHECK_THAT(error({.top_k = -1}), Contains("SamplingConfig: top_k must be >= 0, got -1"));
  CHECK_THAT(error({.top_p = 0}), Contains("SamplingConfig: top_p must be in (0, 1], got 0"));
  CHECK_THAT(error({.top_p = 1.5}), Contains("SamplingConfig: top_p must be in (0, 1], got 1.5"));
  CHECK_THAT(error({.max_new_tokens = -2}), Contains("SamplingConfig: max_new_tokens must be >= 0, got -2"));
  CHECK_THAT(error({.stop_token = -1}), Contains("SamplingConfig: stop_token must be >= 0, got -1"));
  CHECK(error({}) == "(no error)");
  // sample_tokens checks them too, and its logits
  CHECK_THAT(ERROR_OF(sample_tokens(zeros({2, 3}), {.top_k = -3})), Contains("top_k must be >= 0, got -3"));
  CHECK_THAT(ERROR_OF(sample_tokens(zeros({2, 3, 4}), {})), Contains("sample_tokens") && Contains("[2,3,4]"));
  CHECK_THAT(ERROR_OF(sample_tokens(tensor({0, NAN, 1}, {1, 3}), {})), Contains("sampling: logit 1 is NaN"));
}

TEST_CASE("sampling: temperature 0 and top_k 1 are the argmax, and greedy draws nothing") {
  manual_seed(1);
  const Tensor logits = randn({64, 13});
  const Tensor argmax = reshape(kernels::argmax(logits, 1), {64, 1});
  Generator gen(5), untouched(5);
  CHECK(bitwise_equal(sample_tokens(logits, {.temperature = 0}, gen), argmax));
  CHECK(gen.next_u64() == untouched.next_u64());  // no draw was spent
  CHECK(bitwise_equal(sample_tokens(logits, {.temperature = 1.3, .top_k = 1}, gen), argmax));
  // Ties go to the lower id, as argmax does.
  CHECK(sample_tokens(tensor({1, 3, 3, 0}, {1, 4}), {.temperature = 0}).item() == 1);
}

TEST_CASE("sampling: top_k keeps the k most likely and top_p the smallest set whose probability reaches p") {
  // probabilities 1/2, 1/4, 1/8, 1/16, 1/16 (the softmax of their logs)
  const std::vector<float> logits{std::log(0.5f), std::log(0.25f), std::log(0.125f), std::log(0.0625f),
                                  std::log(0.0625f)};
  auto kept = [&](SamplingConfig c) {
    const std::vector<double> p = sampling_probabilities(logits.data(), 5, c);
    double total = 0;
    for (double x : p) total += x;
    CHECK(std::fabs(total - 1) < 1e-12);
    return p;
  };
  const std::vector<double> all = kept({});
  CHECK(std::fabs(all[0] - 0.5) < 1e-7);
  CHECK(std::fabs(all[4] - 0.0625) < 1e-7);
  // top_p 0.7: {1/2} holds 0.5 < 0.7, {1/2, 1/4} holds 0.75: those two, renormalised to 2/3 and 1/3
  const std::vector<double> p07 = kept({.top_p = 0.7});
  CHECK(std::fabs(p07[0] - 2.0 / 3) < 1e-7);
  CHECK(std::fabs(p07[1] - 1.0 / 3) < 1e-7);
  CHECK((p07[2] == 0 && p07[3] == 0 && p07[4] == 0));
  const std::vector<double> p08 = kept({.top_p = 0.8});  // 0.75 < 0.8: the third token joins
  CHECK((p08[2] > 0 && p08[3] == 0 && p08[4] == 0));
  CHECK(kept({.top_p = 0.4})[0] == 1);  // the most likely alone already reaches 0.4
  const std::vector<double> k2 = kept({.top_k = 2});
  CHECK((k2[1] > 0 && k2[2] == 0));
  CHECK(kept({.top_k = 99})[4] > 0);  // more than V: all of them
  // Both: top_p acts on the top_k tokens renormalised (2/3, 1/3), where 2/3 alone reaches 0.6.
  CHECK(kept({.top_k = 2, .top_p = 0.6})[0] == 1);
  // A temperature of 2 flattens: p ~ sqrt(p) renormalised
  const std::vector<double> hot = kept({.temperature = 2});
  CHECK(std::fabs(hot[0] / hot[1] - std::sqrt(2.0)) < 1e-6);
}

TEST_CASE("sampling: seeded draws follow the filtered softmax within 5 binomial sigmas") {
  // Each token's count over N independent draws is Binomial(N, p): mean N p, sigma sqrt(N p (1 - p)).
  // |count - N p| <= 5 sigma fails by chance with probability below 6e-7 per token (normal tail), and
  // the draws are seeded, so the check is repeatable. N = 20000 resolves p to about 0.004 at p = 0.5.
  const std::vector<float> logits{2.0f, 1.0f, 0.5f, 0.0f, -1.0f, -3.0f};
  const int64_t N = 20000, V = 6;
  const Tensor rows = repeated_rows(logits, N);
  for (const SamplingConfig& c :
       {SamplingConfig{.temperature = 0.8}, SamplingConfig{.temperature = 1.5, .top_k = 4},
        SamplingConfig{.top_p = 0.9}}) {
    INFO("temperature " << c.temperature << ", top_k " << c.top_k << ", top_p " << c.top_p);
    const std::vector<double> p = sampling_probabilities(logits.data(), V, c);
    manual_seed(11);
    const Tensor tokens = sample_tokens(rows, c);
    std::vector<int64_t> count(V, 0);
    for (int64_t i = 0; i < N; ++i) ++count[int64_t(tokens.data()[i])];
    for (int64_t j = 0; j < V; ++j) {
      INFO("token " << j << ": p " << p[j] << ", count " << count[j]);
      if (p[j] == 0)
        CHECK(count[j] == 0);  // filtered out: never drawn
      else
        CHECK(std::fabs(double(count[j]) - N * p[j]) <= 5 * std::sqrt(N * p[j] * (1 - p[j])));
    }
  }
}

TEST_CASE("sampling: the same seed gives the same tokens") {
  manual_seed(2);
  const Tensor logits = randn({200, 9});
  const SamplingConfig c{.temperature = 0.9, .top_k = 5, .top_p = 0.95};
  manual_seed(42);
  const Tensor a = sample_tokens(logits, c);
  manual_seed(42);
  const Tensor b = sample_tokens(logits, c);
  manual_seed(43);
  const Tensor other = sample_tokens(logits, c);
  CHECK(bitwise_equal(a, b));
  CHECK(!bitwise_equal(a, other));
  Generator g1(42), g2(42);  // or a generator of one's own
  CHECK(bitwise_equal(sample_tokens(logits, c, g1), sample_tokens(logits, c, g2)));
}
