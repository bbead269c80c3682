// Greedy decoding (see decode.h).
#include "nn/decode.h"

#include <algorithm>

#include "tensor/checks.h"

namespace qkv::nn {

// The argmax of the last position's logits [B,T,V] -> [B,1]
static Tensor next_tokens(const Tensor& logits) {
  return kernels::argmax(narrow(logits, 1, logits.size(1) - 1, 1), -1);
}

Tensor greedy_decode(EncoderDecoder& model, const Tensor& src, const Tensor& src_valid_lens, int64_t bos,
                     int64_t eos, int64_t max_steps, int64_t pad) {
  check::positive("greedy_decode", "max_steps", max_steps);
  NoGrad no_grad;
  const int64_t B = src.size(0);
  const Mask src_mask = Mask::from_valid_lens(src_valid_lens);
  const Tensor memory = model.encoder->forward(src, src_mask);  // encode once: [B,S,D]
  Tensor tgt = full({B, 1}, float(bos));                        // [B,1], grows by one column per step
  for (int64_t step = 0; step < max_steps; ++step)
    tgt = concat({tgt, next_tokens(model.decoder->forward(tgt, memory, src_mask))}, 1);
  // Drop bos; after a row's first eos, pad.
  Tensor out = narrow(tgt, 1, 1, max_steps).clone();
  float* ids = out.mutable_data();
  for (int64_t b = 0; b < B; ++b) {
    bool ended = false;
    for (int64_t t = 0; t < max_steps; ++t) {
      if (ended) ids[b * max_steps + t] = float(pad);
      ended = ended || ids[b * max_steps + t] == float(eos);
    }
  }
  return out;
}

Tensor generate(GPT& model, const Tensor& prompt, int64_t steps) {
  if (prompt.dim() != 2 || prompt.size(1) < 1)
    fail("generate", "prompt must be [B,T] with T >= 1, got " + to_string(prompt.shape()));
  check::non_negative("generate", "steps", steps);
  NoGrad no_grad;
  Tensor ids = prompt;
  for (int64_t step = 0; step < steps; ++step) {
    const int64_t T = ids.size(1), context = std::min(T, model.config.max_len);
    ids = concat({ids, next_tokens(model.forward(narrow(ids, 1, T - context, context)))}, 1);
  }
  return ids;
}

}  // namespace qkv::nn
