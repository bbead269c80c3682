// Sampling the next token from a language model's logits, as nanoGPT's sample.py and Hugging Face's
// generate do, in this order on one row of logits [V]:
//   temperature  logits / temperature, then softmax: below 1 sharpens the distribution, above 1 flattens
//                it; 0 means greedy (the argmax, nothing drawn)
//   top_k        keep the k most likely tokens (0: all of them)
//   top_p        nucleus: of those, keep the smallest set of most likely tokens whose probability reaches
//                top_p (1: all of them), and renormalise
// then one uniform number from the one seeded generator (tensor/random.h) picks the token: the same seed
// gives the same tokens on every machine. Ties are broken towards the lower token id.
// Leaves out: repetition penalties, min_p, typical sampling, beam search for GPT (nn/beam_search.h has
// the encoder-decoder's).
#pragma once
#include <optional>
#include <vector>

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace qkv::nn {

struct SamplingConfig {
  double temperature = 1.0;                          // >= 0; 0: greedy
  int64_t top_k = 0;                                 // >= 0; 0: no limit
  double top_p = 1.0;                                // in (0, 1]
  int64_t max_new_tokens = 100;                      // >= 0
  std::optional<int64_t> stop_token = std::nullopt;  // a row ends at its first one (kept)
};

// Throws "SamplingConfig: <field> must be ..., got ..." unless every field is usable.
void validate(const SamplingConfig& config);

// The distribution a row is drawn from: logits [V] -> probabilities [V] in double, 0 outside the kept
// set, summing to 1. Temperature 0: 1 at the argmax. Throws on a NaN logit (naming the op and the index).
std::vector<double> sampling_probabilities(const float* logits, int64_t V, const SamplingConfig& config);

// One token per row: logits [B,V] -> token ids [B,1] (integer-valued floats). One uniform draw per row,
// in row order, unless greedy (then none).
Tensor sample_tokens(const Tensor& logits, const SamplingConfig& config,
                     Generator& gen = default_generator());

}  // namespace qkv::nn
