// Generating tokens: greedy decoding for the encoder-decoder, and sampling for GPT (nn/sampling.h) with or
// without a key/value cache (nn/kv_cache.h). Without the cache step t re-runs the model on all t tokens,
// so T steps cost O(T^3) in attention; with it, each step feeds one token per sequence.
// Beam search for the encoder-decoder is in nn/beam_search.h.
#pragma once
#include "nn/models.h"
#include "nn/sampling.h"

namespace qkv::nn {

// src [B,S] with src_valid_lens [B] -> [B, max_steps] token ids following bos. A row stops at its first eos;
// everything after it is pad. Runs under NoGrad; put the model in eval() first. use_cache feeds the decoder
// one token per step through a key/value cache: the same tokens, faster.
Tensor greedy_decode(EncoderDecoder& model, const Tensor& src, const Tensor& src_valid_lens, int64_t bos,
                     int64_t eos, int64_t max_steps, int64_t pad = 0, bool use_cache = false);

// prompt [B,T0] -> [B,T0+n], n <= config.max_new_tokens: each new token drawn as config says (temperature
// 0: the argmax) from gen. A row that has drawn config.stop_token repeats it; generation ends early when
// every row has. With use_cache the prompt goes through the model once and then one token per step, and
// T0 + max_new_tokens - 1 may not pass max_len (a named error); without it each step re-runs the model on
// the last max_len tokens at most (the context is cropped, as nanoGPT does). Both give the same tokens
// while the context fits. Runs under NoGrad; put the model in eval() first.
Tensor generate(GPT& model, const Tensor& prompt, const SamplingConfig& config, bool use_cache = true,
                Generator& gen = default_generator());

// The same as greedy generation without the cache: config {temperature 0, max_new_tokens steps}.
Tensor generate(GPT& model, const Tensor& prompt, int64_t steps);

}  // namespace qkv::nn
