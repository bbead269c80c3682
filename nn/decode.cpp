// Generating tokens (see decode.h).
#include "nn/decode.h"

#include <algorithm>
#include <optional>

#include "tensor/checks.h"

namespace qkv::nn {

// The last position's logits [B,T,V] -> [B,V]
static Tensor last_logits(const Tensor& logits) {
  const int64_t B = logits.size(0), T = logits.size(1), V = logits.size(2);
  return reshape(narrow(logits, 1, T - 1, 1), {B, V});
}

// ids [B,T]: in columns from.., every token after a row's first `stop` becomes `fill`. Returns whether
// every row has a stop token there.
static bool fill_after_stop(Tensor& ids, int64_t from, int64_t stop, float fill) {
  const int64_t B = ids.size(0), T = ids.size(1);
  float* p = ids.mutable_data();
  bool all_stopped = true;
  for (int64_t b = 0; b < B; ++b) {
    bool stopped = false;
    for (int64_t t = from; t < T; ++t) {
      if (stopped) p[b * T + t] = fill;
      stopped = stopped || p[b * T + t] == float(stop);
    }
    all_stopped = all_stopped && stopped;
  }
  return all_stopped;
}

Tensor greedy_decode(EncoderDecoder& model, const Tensor& src, const Tensor& src_valid_lens, int64_t bos,
                     int64_t eos, int64_t max_steps, int64_t pad, bool use_cache) {
  check::positive("greedy_decode", "max_steps", max_steps);
  NoGrad no_grad;
  const int64_t B = src.size(0);
  const Mask src_mask = Mask::from_valid_lens(src_valid_lens);
  const Tensor memory = model.encoder->forward(src, src_mask);  // encode once: [B,S,D]
  const SamplingConfig greedy{.temperature = 0};
  Tensor tgt = full({B, 1}, float(bos));  // [B,1], grows by one column per step
  if (use_cache) {
    KVCache cache = model.decoder->make_cache(B);
    Tensor next = tgt;  // [B,1]: only the newest token goes through the decoder
    for (int64_t step = 0; step < max_steps; ++step) {
      next = sample_tokens(last_logits(model.decoder->forward(next, memory, src_mask, cache)), greedy);
      tgt = concat({tgt, next}, 1);
    }
  } else {
    for (int64_t step = 0; step < max_steps; ++step)
      tgt =
          concat({tgt, sample_tokens(last_logits(model.decoder->forward(tgt, memory, src_mask)), greedy)}, 1);
  }
  Tensor out = narrow(tgt, 1, 1, max_steps).clone();  // drop bos; after a row's first eos, pad
  fill_after_stop(out, 0, eos, float(pad));
  return out;
}

Tensor generate(GPT& model, const Tensor& prompt, const SamplingConfig& config, bool use_cache,
                Generator& gen) {
  if (prompt.dim() != 2 || prompt.size(1) < 1)
    fail("generate", "prompt must be [B,T] with T >= 1, got " + to_string(prompt.shape()));
  validate(config);
  const int64_t B = prompt.size(0), T0 = prompt.size(1), n = config.max_new_tokens,
                max_len = model.config.max_len;
  if (use_cache && n > 0 && T0 + n - 1 > max_len)
    fail("generate", "a prompt of " + std::to_string(T0) + " tokens and max_new_tokens=" + std::to_string(n) +
                         " need " + std::to_string(T0 + n - 1) + " positions, past max_len=" +
                         std::to_string(max_len) + " (without the cache the context is cropped instead)");
  NoGrad no_grad;
  Tensor ids = prompt;
  std::optional<KVCache> cache;
  if (use_cache) cache = model.make_cache(B);
  Tensor fed = prompt;  // with the cache: the tokens not yet through the model
  for (int64_t step = 0; step < n; ++step) {
    Tensor logits;
    if (use_cache) {
      logits = model.forward(fed, *cache);
    } else {
      const int64_t T = ids.size(1), context = std::min(T, max_len);
      logits = model.forward(narrow(ids, 1, T - context, context));
    }
    fed = sample_tokens(last_logits(logits), config, gen);  // [B,1]
    ids = concat({ids, fed}, 1);
    if (config.stop_token && fill_after_stop(ids, T0, *config.stop_token, float(*config.stop_token))) break;
  }
  return ids;
}

Tensor generate(GPT& model, const Tensor& prompt, int64_t steps) {
  check::non_negative("generate", "steps", steps);
  return generate(model, prompt, SamplingConfig{.temperature = 0, .max_new_tokens = steps},
                  /*use_cache=*/false);
}

}  // namespace qkv::nn
