// sampling_step: one step of sampling worked by hand, every number printed (docs/12-generation.md quotes
// them). Six made-up logits of a character model pass through temperature, softmax, top_k and top_p; one
// uniform draw from the seeded generator picks the token. The program checks its hand-worked numbers
// against nn/sampling.h (sampling_probabilities, sample_tokens) and fails if they differ.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <numeric>
#include <vector>

#include "nn/sampling.h"
#include "support/cli.h"
#include "tensor/creation.h"

using namespace qkv;
using namespace qkv::nn;

int main(int argc, char** argv) try {
  cli::Flags flags("sampling_step", "One step of temperature, top-k and top-p sampling, worked by hand.");
  flags.number_option("temperature", "0.8", cli::Range::closed(0.01, 100), "divides the logits")
      .integer_option("top-k", "4", 0, 6, "keep the k likeliest (0: all)")
      .number_option("top-p", "0.9", cli::Range::above(0, 1), "nucleus probability")
      .integer_option("seed", "0", 0, INT64_MAX, "seed of the one generator");
  if (!flags.parse(argc, argv)) return 0;
  const SamplingConfig c{.temperature = flags.number("temperature"),
                         .top_k = flags.integer("top-k"),
                         .top_p = flags.number("top-p")};
  const char names[] = {'a', 'e', 'i', 'o', 'u', 'y'};
  const std::vector<float> logits{2.0f, 1.5f, 0.3f, 1.0f, -0.5f, -2.0f};
  const int64_t V = int64_t(logits.size());

  std::printf("token            ");
  for (char n : names) std::printf("%8c", n);
  std::printf("\nlogit            ");
  for (float x : logits) std::printf("%8.3f", x);
  // 1. temperature: z = logit / T, then softmax with the largest z subtracted first
  std::vector<double> z(V), p(V);
  for (int64_t j = 0; j < V; ++j) z[j] = logits[j] / c.temperature;
  const double top = *std::max_element(z.begin(), z.end());
  double total = 0;
  for (int64_t j = 0; j < V; ++j) total += p[j] = std::exp(z[j] - top);
  std::printf("\nlogit / %-8g ", c.temperature);
  for (double x : z) std::printf("%8.3f", x);
  std::printf("\nexp(z - %.3f)   ", top);
  for (double x : p) std::printf("%8.4f", x);
  for (double& x : p) x /= total;
  std::printf("   sum %.4f\nsoftmax          ", total);
  for (double x : p) std::printf("%8.4f", x);
  // 2. top_k: the k likeliest survive, renormalised
  std::vector<int64_t> order(V);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return p[a] > p[b]; });
  const int64_t k = c.top_k == 0 ? V : c.top_k;
  for (int64_t i = k; i < V; ++i) p[order[i]] = 0;
  double kept = std::accumulate(p.begin(), p.end(), 0.0);
  for (double& x : p) x /= kept;
  std::printf("\ntop_k %-10lld ", (long long)c.top_k);
  for (double x : p) std::printf("%8.4f", x);
  // 3. top_p: the likeliest first, until their sum reaches p; renormalised
  std::printf("\ncumulative       ");
  std::vector<double> cumulative(V, 0);
  double sum_so_far = 0;
  for (int64_t i = 0; i < V; ++i) cumulative[order[i]] = sum_so_far += p[order[i]];
  for (int64_t j = 0; j < V; ++j)  // over the tokens top_k kept, likeliest first
    p[j] > 0 ? std::printf("%8.4f", cumulative[j]) : std::printf("%8s", "-");
  int64_t nucleus = 0;
  while (nucleus < k && (nucleus == 0 || cumulative[order[nucleus - 1]] < c.top_p)) ++nucleus;
  for (int64_t i = nucleus; i < V; ++i) p[order[i]] = 0;
  kept = std::accumulate(p.begin(), p.end(), 0.0);
  for (double& x : p) x /= kept;
  std::printf("\ntop_p %-10g ", c.top_p);
  for (double x : p) std::printf("%8.4f", x);
  // 4. one uniform number u in [0, 1): the first token (in id order) whose running sum passes u
  const std::vector<double> library = sampling_probabilities(logits.data(), V, c);
  for (int64_t j = 0; j < V; ++j)
    if (std::fabs(library[j] - p[j]) > 1e-12)
      throw std::runtime_error("the hand-worked numbers differ from nn/sampling");
  Generator gen(uint64_t(flags.integer("seed"))), twin(uint64_t(flags.integer("seed")));
  const double u = gen.uniform();
  std::printf("\nrunning sum      ");
  double running = 0;
  int64_t token = -1;
  for (int64_t j = 0; j < V; ++j) {
    running += p[j];
    std::printf("%8.4f", running);
    if (token < 0 && p[j] > 0 && running > u) token = j;
  }
  const int64_t drawn = int64_t(sample_tokens(tensor(logits, {1, V}), c, twin).item());
  if (drawn != token) throw std::runtime_error("the hand-worked token differs from sample_tokens'");
  std::printf("\nu = %.4f (seed %lld): token '%c'\n", u, (long long)flags.integer("seed"), names[token]);
  return 0;
} catch (const std::exception& e) {
  return cli::report_error("sampling_step", e);
}
