// Sampling the next token (see sampling.h).
#include "nn/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "autograd/ops.h"
#include "tensor/checks.h"

namespace qkv::nn {

void validate(const SamplingConfig& c) {
  check::non_negative_number("SamplingConfig", "temperature", c.temperature);
  check::non_negative("SamplingConfig", "top_k", c.top_k);
  check::probability_mass("SamplingConfig", "top_p", c.top_p);
  check::non_negative("SamplingConfig", "max_new_tokens", c.max_new_tokens);
  if (c.stop_token) check::non_negative("SamplingConfig", "stop_token", *c.stop_token);
}

std::vector<double> sampling_probabilities(const float* logits, int64_t V, const SamplingConfig& c) {
  validate(c);
  for (int64_t j = 0; j < V; ++j)
    if (std::isnan(logits[j])) fail("sampling", "logit " + std::to_string(j) + " is NaN");
  // Token ids from the most likely down (ties: lower id first).
  std::vector<int64_t> order(V);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return logits[a] > logits[b]; });
  std::vector<double> p(V, 0.0);
  if (c.temperature == 0) {
    p[order[0]] = 1;
    return p;
  }
  // top_k: the first k of the order. softmax(logits / temperature) over them, the max subtracted first.
  const int64_t k = c.top_k == 0 ? V : std::min(c.top_k, V);
  const double top = double(logits[order[0]]) / c.temperature;
  double total = 0;
  for (int64_t i = 0; i < k; ++i)
    total += p[order[i]] = std::exp(double(logits[order[i]]) / c.temperature - top);
  // top_p: the shortest prefix of the order whose share of total reaches top_p; the rest set to 0.
  int64_t kept = 0;
  for (double mass = 0; kept < k && mass < c.top_p * total;) mass += p[order[kept++]];
  for (int64_t i = kept; i < k; ++i) p[order[i]] = 0;
  const double kept_total = std::accumulate(p.begin(), p.end(), 0.0);
  for (double& x : p) x /= kept_total;
  return p;
}

Tensor sample_tokens(const Tensor& logits, const SamplingConfig& c, Generator& gen) {
  if (logits.dim() != 2 || logits.size(1) < 1)
    fail("sample_tokens", "logits must be [B,V] with V >= 1, got " + to_string(logits.shape()));
  validate(c);
  const int64_t B = logits.size(0), V = logits.size(1);
  Tensor tokens = Tensor::empty({B, 1});
  for (int64_t b = 0; b < B; ++b) {
    const std::vector<double> p = sampling_probabilities(logits.data() + b * V, V, c);
    int64_t token = std::max_element(p.begin(), p.end()) - p.begin();  // greedy: the 1
    if (c.temperature > 0) {
      // The first token whose cumulative probability passes u; rounding can leave the sum a hair below
      // u near 1, and then the last kept token is taken.
      const double u = gen.uniform();
      double cumulative = 0;
      for (int64_t j = 0; j < V; ++j) {
        if (p[j] == 0) continue;
        token = j;
        cumulative += p[j];
        if (cumulative > u) break;
      }
    }
    tokens.mutable_data()[b] = float(token);
  }
  return tokens;
}

}  // namespace qkv::nn
