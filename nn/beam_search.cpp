// Beam search for the encoder-decoder (see beam_search.h).
#include "nn/beam_search.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "tensor/checks.h"

namespace qkv::nn {
namespace {

struct Beam {
  std::vector<int64_t> tokens;  // generated after bos
  double score = 0;             // log P(tokens | source), summed in double
  bool ended = false;           // its last token is eos
  bool empty = false;           // a slot with no candidate in it (the first step has only one beam)
};

// One extension: beam `beam` of a source followed by `token`, or carried as it is (token -1, an ended beam).
struct Candidate {
  double score;
  int64_t beam, token;
};

// log_softmax of one row of logits [V], in double: x - max - log(sum exp(x - max)). Distinct logits stay
// distinct, so with beam size 1 the likeliest token is greedy decoding's argmax.
std::vector<double> log_probs(const float* x, int64_t V) {
  const double max = *std::max_element(x, x + V);
  double sum = 0;
  for (int64_t v = 0; v < V; ++v) sum += std::exp(double(x[v]) - max);
  const double log_sum = std::log(sum);
  std::vector<double> lp(V);
  for (int64_t v = 0; v < V; ++v) lp[v] = double(x[v]) - max - log_sum;
  return lp;
}

// The beam_size best candidates of one source's beams: every extension of a live beam by every token,
// and each ended beam as it is; best first, ties to the lower beam then the lower token.
std::vector<Candidate> best_candidates(const Beam* beams, const float* logits, int64_t k, int64_t V) {
  std::vector<Candidate> candidates;
  for (int64_t j = 0; j < k; ++j) {
    if (beams[j].empty) continue;
    if (beams[j].ended) {
      candidates.push_back({beams[j].score, j, -1});
      continue;
    }
    const std::vector<double> lp = log_probs(logits + j * V, V);
    for (int64_t v = 0; v < V; ++v) candidates.push_back({beams[j].score + lp[v], j, v});
  }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
  if (int64_t(candidates.size()) > k) candidates.resize(size_t(k));
  return candidates;
}

}  // namespace

Tensor beam_search(EncoderDecoder& model, const Tensor& src, const Tensor& src_valid_lens, int64_t bos,
                   int64_t eos, int64_t max_steps, const BeamSearchConfig& config, int64_t pad) {
  check::positive("beam_search", "max_steps", max_steps);
  check::positive("beam_search", "beam_size", config.beam_size);
  check::non_negative_number("beam_search", "length_penalty", config.length_penalty);
  if (max_steps > model.config.max_len)
    fail("beam_search", "max_steps=" + std::to_string(max_steps) +
                            " is past max_len=" + std::to_string(model.config.max_len));
  NoGrad no_grad;
  const int64_t B = src.size(0), k = config.beam_size;
  const Mask src_mask = Mask::from_valid_lens(src_valid_lens);
  const Tensor memory = model.encoder->forward(src, src_mask);  // encode once: [B,S,D]
  // Every source k times: beam j of source b is row b*k + j of one batch of B*k.
  std::vector<float> source_of;
  for (int64_t b = 0; b < B; ++b) source_of.insert(source_of.end(), size_t(k), float(b));
  const Tensor rows = tensor(source_of);
  const Tensor beam_memory = index_select(memory, 0, rows);  // [B*k,S,D]
  const Mask beam_mask = Mask::from_valid_lens(index_select(src_valid_lens, 0, rows));
  KVCache cache = model.decoder->make_cache(B * k);

  std::vector<Beam> beams(size_t(B * k));
  for (int64_t i = 0; i < B * k; ++i) beams[i].empty = i % k != 0;  // one beam per source to start
  for (int64_t step = 0; step < max_steps; ++step) {
    // Each beam's newest token through the decoder: [B*k,1] -> logits [B*k,1,V]
    Tensor last = Tensor::empty({B * k, 1});
    for (int64_t i = 0; i < B * k; ++i)
      last.mutable_data()[i] = float(beams[i].tokens.empty() ? bos : beams[i].tokens.back());
    const Tensor logits = model.decoder->forward(last, beam_memory, beam_mask, cache);
    const int64_t V = logits.size(2);
    std::vector<Beam> next(size_t(B * k));
    std::vector<int64_t> parents(size_t(B * k));
    for (int64_t b = 0; b < B; ++b) {
      const std::vector<Candidate> best = best_candidates(&beams[b * k], logits.data() + b * k * V, k, V);
      for (int64_t j = 0; j < k; ++j) {
        Beam& beam = next[b * k + j];
        parents[b * k + j] = b * k + (j < int64_t(best.size()) ? best[j].beam : 0);
        if (j >= int64_t(best.size())) {
          beam.empty = true;
          continue;
        }
        beam = beams[parents[b * k + j]];
        if (best[j].token < 0) continue;  // an ended beam, carried as it is
        beam.tokens.push_back(best[j].token);
        beam.score = best[j].score;
        beam.ended = best[j].token == eos;
      }
    }
    cache.select(parents);  // each new beam continues from its parent's keys and values
    beams = std::move(next);
    if (std::all_of(beams.begin(), beams.end(), [](const Beam& x) { return x.empty || x.ended; })) break;
  }

  // The best of each source's beams by length-normalised score; its tokens, then pad.
  Tensor out = full({B, max_steps}, float(pad));
  for (int64_t b = 0; b < B; ++b) {
    const Beam* best = nullptr;
    double best_score = -std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < k; ++j) {
      const Beam& beam = beams[b * k + j];
      if (beam.empty) continue;
      const double score = beam.score / std::pow(double(beam.tokens.size()), config.length_penalty);
      if (!best || score > best_score) best = &beam, best_score = score;
    }
    for (size_t t = 0; t < best->tokens.size(); ++t)
      out.mutable_data()[b * max_steps + int64_t(t)] = float(best->tokens[t]);
  }
  return out;
}

}  // namespace qkv::nn
